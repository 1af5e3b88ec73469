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
    (["fakestore-server", "--trickle", "-1"], "argument --trickle: must be 0 or more seconds"),
    (["partition-range", "--days", "two"], "'two' is not a whole number"),
])
def test_bad_arguments_are_named_without_a_traceback(argv, named, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and named in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "named"), [
    (["generate", "--start", "20261101", "--end", "2026-11-02"], "argument --start: '20261101' is not a YYYY-MM-DD date"),
    (["generate", "--start", "2026-11-05", "--end", "2026-11-02"], "--end 2026-11-02 is before --start 2026-11-05"),
    (["generate", "--start", "2026-11-05"], "give both --start and --end, or --days"),
    (["generate", "--days", "1000000000"], "--days 1000000000 reaches back before the year 1"),
    (["partition-range", "--days", "1000000000"], "--days 1000000000 reaches back before the year 1"),
    (["summary", "--duckdb-path", "{tmp}/missing.duckdb"], "no warehouse at {tmp}/missing.duckdb"),
    (["summary", "--duckdb-path", "{tmp}/not_duckdb.duckdb"], "{tmp}/not_duckdb.duckdb cannot be read as a DuckDB warehouse"),
])
def test_bad_input_ends_with_one_line_naming_it_and_exit_2(argv, named, tmp_path, capsys):
    (tmp_path / "not_duckdb.duckdb").write_text("not a database\n")
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2
    assert named.format(tmp=tmp_path) in err.strip().splitlines()[-1] and "Traceback" not in err


@pytest.mark.parametrize("start", ["20260101", "2026-W01-1", "not-a-date"])
def test_a_start_date_in_another_spelling_is_refused_naming_the_setting(start, monkeypatch, capsys):
    monkeypatch.setenv("ECOMMERCE_START_DATE", start)
    assert main(["selection", "daily"]) == 2
    assert capsys.readouterr().err.strip() == f"ecommerce-assets: error: ECOMMERCE_START_DATE={start!r} is not a YYYY-MM-DD date"


@pytest.mark.parametrize("home", ["", "missing"])
def test_checks_exits_2_when_the_report_cannot_be_made(home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / home) if home else "")
    assert main(["checks"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ecommerce-assets checks: the report could not be made: DAGSTER_HOME=")
    assert "is not a directory" in err and len(err.splitlines()) == 1


def test_recent_days_end_yesterday():
    assert recent_days(3, today=date(2026, 11, 10)) == (date(2026, 11, 7), date(2026, 11, 9))
