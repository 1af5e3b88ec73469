"""The `ecommerce-assets` command: its answers and its errors, without a traceback."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ecommerce_assets.cli import main, recent_days


def test_partition_range_is_the_last_complete_days_from_the_first_partition_on(monkeypatch, capsys):
    first, last = recent_days(7)
    monkeypatch.setenv("ECOMMERCE_START_DATE", "2026-01-01")
    assert main(["partition-range", "--days", "7"]) == 0
    assert capsys.readouterr().out.strip() == f"{first}...{last}"

    start = last - timedelta(days=2)
    monkeypatch.setenv("ECOMMERCE_START_DATE", start.isoformat())
    assert main(["partition-range", "--days", "7"]) == 0
    assert capsys.readouterr().out.strip() == f"{start}...{last}"

    monkeypatch.setenv("ECOMMERCE_START_DATE", (last + timedelta(days=1)).isoformat())
    assert main(["partition-range"]) == 2
    assert "no complete day since ECOMMERCE_START_DATE" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "named"), [
    (["generate", "--days", "0"], "argument --days: must be at least 1, got 0"),
    (["generate", "--users", "0"], "argument --users: must be at least 1"),
    (["generate", "--events-per-day", "-5"], "argument --events-per-day: must be at least 0"),
    (["generate", "--seed", "-1"], "argument --seed: must be at least 0"),
    (["fakestore-server", "--port", "99999"], "a port is 0 to 65535"),
    (["fakestore-server", "--delay", "-1"], "argument --delay: must be 0 or more seconds"),
    (["partition-range", "--days", "two"], "'two' is not a whole number"),
])
def test_bad_arguments_are_named_without_a_traceback(argv, named, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and named in capsys.readouterr().err


@pytest.mark.parametrize("start", ["20260101", "2026-W01-1", "not-a-date"])
def test_a_start_date_in_another_spelling_is_refused_naming_the_setting(start, monkeypatch, capsys):
    monkeypatch.setenv("ECOMMERCE_START_DATE", start)
    assert main(["selection", "daily"]) == 2
    assert capsys.readouterr().err.strip() == f"ecommerce-assets: error: ECOMMERCE_START_DATE={start!r} is not a YYYY-MM-DD date"


def test_checks_exits_2_when_the_report_cannot_be_made(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "missing"))
    assert main(["checks"]) == 2
    assert "the report could not be made" in capsys.readouterr().err


def test_recent_days_end_yesterday():
    assert recent_days(3, today=date(2026, 11, 10)) == (date(2026, 11, 7), date(2026, 11, 9))
