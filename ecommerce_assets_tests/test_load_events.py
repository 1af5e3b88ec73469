"""Loading clickstream files into raw.events: contract, quarantine, duplicates, reruns."""

from __future__ import annotations

import gc
import gzip
import json
import re
import weakref
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ecommerce_assets import event_batches, event_loading
from ecommerce_assets.contracts import Event, day_window
from ecommerce_assets.event_loading import load_event_days, load_events
from ecommerce_assets.validation import explain
from ecommerce_assets.warehouse import RawTableShapeError, connect, over_arrow, shape_differences, transaction

DAY = date(2026, 11, 20)
WINDOW = day_window(DAY)


def event(event_id: str, **overrides) -> dict:
    base = {
        "event_id": event_id,
        "event_time": "2026-11-20T10:00:00.000Z",
        "event_type": "page_view",
        "user_id": 1,
        "session_id": "s1",
        "product_id": None,
        "price": None,
        "quantity": None,
        "cart_id": None,
        "page": "/",
        "device": "mobile",
    }
    return {**base, **overrides}


def add_to_cart(event_id: str, **overrides) -> dict:
    cart_fields = {"event_type": "add_to_cart", "page": "/products/3", "product_id": 3, "price": 5, "quantity": 1}
    return event(event_id, **{**cart_fields, **overrides})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def con(tmp_path):
    connection = connect(tmp_path / "ecommerce.duckdb")
    yield connection
    connection.close()


def rejected(con) -> list[tuple]:
    return con.execute(
        "SELECT line_number, record_key, field, rule, reason FROM raw.events_rejected ORDER BY source, line_number NULLS LAST"
    ).fetchall()


def events_table(con) -> list[tuple]:
    return con.execute("SELECT * EXCLUDE (_loaded_at) FROM raw.events ORDER BY event_id").fetchall()


DIRTY_CASES = [
    # (line, field, pydantic error type) — each line breaks exactly one rule
    (json.dumps(event("e-str-id", user_id="7")), "user_id", "int_type"),
    (json.dumps(event("e-float-id", user_id=7.5)), "user_id", "int_type"),
    (json.dumps(event("e-zero-user", user_id=0)), "user_id", "greater_than_equal"),
    (json.dumps(event("e-late", event_time="2026-11-19T23:59:59.999Z")), "event_time", "value_error"),
    (json.dumps(event("e-next-day", event_time="2026-11-21T00:00:00Z")), "event_time", "value_error"),
    (json.dumps(event("e-bad-time", event_time="yesterday")), "event_time", "value_error"),
    (json.dumps(event("e-bad-date", event_time="2026-02-30T10:00:00Z")), "event_time", "datetime_from_date_parsing"),
    (json.dumps(event("e-type", event_type="click")), "event_type", "literal_error"),
    (json.dumps(event("e-device", device="tv")), "device", "literal_error"),
    (json.dumps(event("e-null-user", user_id=None)), "user_id", "int_type"),
    (json.dumps({k: v for k, v in event("e-no-session").items() if k != "session_id"}), "session_id", "missing"),
    (json.dumps(add_to_cart("e-neg-price", price=-1)), "price", "greater_than_equal"),
    (json.dumps(add_to_cart("e-qty-zero", quantity=0)), "quantity", "greater_than_equal"),
    (json.dumps(add_to_cart("e-no-price", price=None)), "price", "value_error"),
    (json.dumps(event("e-product-page", page="/products/9")), "product_id", "value_error"),
    (json.dumps(add_to_cart("e-purchase", event_type="purchase")), "cart_id", "value_error"),
    (json.dumps(event("e-empty-page", page="")), "page", "string_too_short"),
    (json.dumps(event("e-num-session", session_id=12)), "session_id", "string_type"),
    ('{"event_id": "e-truncated", "event_ti', "<record>", "json_invalid"),
    ("[1, 2, 3]", "<record>", "model_type"),
    ("not json at all", "<record>", "json_invalid"),
]


def test_every_broken_rule_is_quarantined_with_its_field_and_reason(con, tmp_path):
    clean = [json.dumps(event("ok-1")), json.dumps(add_to_cart("ok-2")), json.dumps(add_to_cart("ok-3", event_type="purchase", cart_id=4))]
    lines = clean + [line for line, _, _ in DIRTY_CASES]
    path = write_lines(tmp_path / "landing" / "part-00.jsonl", lines)

    result = load_events(con, [path], WINDOW)

    assert result.loaded == 3 and result.rejected == len(DIRTY_CASES) and result.duplicates == 0
    assert sorted(r[0] for r in events_table(con)) == ["ok-1", "ok-2", "ok-3"]
    rows = rejected(con)
    assert [(field, rule) for _, _, field, rule, _ in rows] == [(f, r) for _, f, r in DIRTY_CASES]
    # Each reject is named by its line (and id where it has one) and keeps its original payload.
    assert [r[0] for r in rows] == list(range(len(clean) + 1, len(lines) + 1))
    payloads = [p for (p,) in con.execute("SELECT payload FROM raw.events_rejected ORDER BY line_number").fetchall()]
    assert payloads == [line for line, _, _ in DIRTY_CASES]
    assert rows[0][1] == "e-str-id" and "user_id" in rows[0][4]


def test_sql_and_pydantic_agree_on_every_line(con, tmp_path):
    """The columnar path must never accept what the contract refuses, nor the reverse.

    The contract is the pydantic model read as `explain` reads it: a record whose key
    repeats is refused before the model sees it (json.loads would keep the last value,
    DuckDB the first)."""
    tricky = [line for line, _, _ in DIRTY_CASES] + [
        json.dumps(event("t1", event_time="2026-11-20 10:00:00")),
        json.dumps(event("t2", event_time="2026-11-20T10:00:00+02:00")),
        json.dumps(event("t3", event_time="2026-11-20")),
        json.dumps(event("t4", event_time="2026-11-20T01:00:00+02:00")),
        json.dumps(event("t5", user_id=True)),
        json.dumps(event("t6", user_id=1e3)),
        json.dumps(add_to_cart("t7", price="5")),
        json.dumps(add_to_cart("t8", price=5.25, quantity=2)),
        json.dumps(event("t9", page="/products/")),
        json.dumps({**event("t10"), "event_id": ""}),
        json.dumps(event("t11", extra_field={"nested": [1]})),
        json.dumps(event("t12", cart_id=-3)),
        json.dumps(event("t13", event_time=1763632800)),
        json.dumps(event("t14", device=None)),
        '{"event_id": "t15", "event_id": "t15b"}',
        json.dumps(event("t16", event_time="2026-11-20T10:00:00.123456789Z")),
        # Integers as JSON may spell them: the columnar check compares the value with its text.
        *(json.dumps(add_to_cart(f"t17-{n}", quantity=7777)).replace("7777", n)
          for n in ("-0", "2.0", "2e0", "2E+0", "-2", "9223372036854775807", "9223372036854775808",
                    "99999999999999999999")),
        # Spellings pydantic alone would parse and DuckDB would not: outside the contract.
        *(json.dumps(event(f"t18-{i}", event_time=t)) for i, t in enumerate((
            "2026-11-20T10:00:00z", "2026-11-20t10:00:00Z", "2026-11-20_10:00:00Z", "2026-11-20T10:00:00+0200",
            "2026-11-20T10:00:00,5Z", "2026-11-20T10:00:00.1234567891Z", "2026-11-20T10:00Z", "2026-11-20 10:00:00.5+01:00"))),
        # Repeated keys, whichever value comes first.
        json.dumps(add_to_cart("t19")).replace('"product_id": 3', '"product_id": 3, "product_id": null'),
        json.dumps(event("t20")).replace('"event_id": "t20"', '"event_id": "t20", "event_id": "t20b"'),
        json.dumps(event("t21")).replace('"user_id": 1', '"user_id": 0, "user_id": 1'),
        json.dumps(event("t22", note="a")).replace('"note": "a"', '"note": "a", "note": "b"'),
        json.dumps(event("t23", extra={"user_id": 2, "nested": {"user_id": 3}})),
        # DuckDB's parser takes trailing commas and NaN/Infinity; JSON does not.
        json.dumps(event("t24"))[:-1] + ",}",
        json.dumps(event("t25"))[:-1] + " ,\t } ",
        json.dumps(event("t26", extra=[1])).replace("[1]", "[1,]"),
        json.dumps(event("t27", extra={"a": 1})).replace('"a": 1}', '"a": 1,}'),
        json.dumps(event("t28", page="/a,}", note="NaN, inf, ,]")),  # inside strings: fine
        *(json.dumps(event(f"t29-{i}", extra=0)).replace('"extra": 0', f'"extra": {v}')
          for i, v in enumerate(("NaN", "-nan", "Infinity", "-Infinity", "inf", "[1, NaN]"))),
        *(json.dumps(add_to_cart(f"t30-{i}", price=7777)).replace("7777", v)
          for i, v in enumerate(("NaN", "-nan", "Infinity", "-inf", "1e400", "-1e400", "1e308"))),
        # Offsets and times DuckDB would normalise (+00:60 read as an hour).
        *(json.dumps(event(f"t31-{i}", event_time=t)) for i, t in enumerate((
            "2026-11-20T12:00:00+00:60", "2026-11-20T12:00:00+01:75", "2026-11-20T12:00:00-00:90", "2026-11-20T12:00:00+24:00",
            "2026-11-20T12:00:00+23:59", "2026-11-20T12:00:00-23:59", "2026-11-20T24:00:00Z", "2026-11-20T12:60:00Z",
            "2026-11-20T12:00:60Z", "2026-11-20T12:00:59.999Z", "2026-11-31T12:00:00Z",
            "2026-11-19T24:00:00.000Z", "2026-11-19T23:60:00.000Z", "2026-11-19T23:59:60.000Z", "2026-11-31T12:00:00.000Z",
            "2026-11-19T24:00:00Z", "2026-11-19T23:59:60Z"))),
        # Instants beyond the calendar once in UTC, and lone halves of UTF-16 pairs, which
        # JSON may escape and UTF-8 cannot hold: refused, never a crash of the load.
        json.dumps(event("t32-0", event_time="9999-12-31T23:30:00-01:00")),
        json.dumps(event("t32-1", event_time="0001-01-01T00:30:00+01:00")),
        json.dumps(event("t33-0\ud800")),
        json.dumps(event("t33-1", page="/\udc80", note="\ud83d")),
    ]
    path = write_lines(tmp_path / "landing" / "part-00.jsonl", tricky)
    load_events(con, [path], WINDOW)
    refused_by_sql = {p for (p,) in con.execute("SELECT payload FROM raw.events_rejected").fetchall()}
    for line in tricky:
        contract_accepts = explain(Event, line, {"window": WINDOW}) is None
        assert contract_accepts == (line not in refused_by_sql), line


def test_a_repeated_key_is_refused_naming_the_key(con, tmp_path):
    lines = [
        json.dumps(add_to_cart("r1")).replace('"product_id": 3', '"product_id": 3, "product_id": null'),
        json.dumps(event("r2")).replace('"event_id": "r2"', '"event_id": "r2", "event_id": "a"'),
        json.dumps(event("r3", note="x")).replace('"note": "x"', '"note": "x", "note": "y"'),
        json.dumps(event("ok-extra", extra={"event_id": "inner"})),
        json.dumps({k: v for k, v in event("ok-missing-optional").items() if k != "cart_id"}),
    ]
    path = write_lines(tmp_path / "landing" / "part-00.jsonl", lines)

    result = load_events(con, [path], WINDOW)

    assert (result.loaded, result.rejected) == (2, 3)
    assert sorted(r[0] for r in events_table(con)) == ["ok-extra", "ok-missing-optional"]
    assert [(line, field, rule) for line, _, field, rule, _ in rejected(con)] == [
        (1, "product_id", "duplicate_key"), (2, "event_id", "duplicate_key"), (3, "note", "duplicate_key")]
    assert "product_id: the key appears 2 times" in rejected(con)[0][4]


def test_a_timestamp_outside_the_iso_spelling_is_refused_with_the_spelling_expected(con, tmp_path):
    path = write_lines(tmp_path / "landing" / "part-00.jsonl",
                       [json.dumps(event("lower-z", event_time="2026-11-20T10:00:00z")),
                        json.dumps(event("unix", event_time=1795000000)),
                        json.dumps(add_to_cart("huge-qty")).replace('"quantity": 1', '"quantity": 99999999999999999999')])

    load_events(con, [path], WINDOW)

    rows = rejected(con)
    assert [(key, field, rule) for _, key, field, rule, _ in rows] == [
        ("lower-z", "event_time", "value_error"), ("unix", "event_time", "value_error"), ("huge-qty", "quantity", "less_than_equal")]
    assert "ISO 8601" in rows[0][4] and "JSON int" in rows[1][4]


def test_blank_lines_are_counted_not_refused_and_keep_the_line_numbers(con, tmp_path):
    path = write_lines(tmp_path / "landing" / "part-00.jsonl",
                       [json.dumps(event("b1")), "", "   ", "\t", json.dumps(event("b5")), "{oops", "\f", " \v"])

    result = load_events(con, [path], WINDOW)

    assert (result.loaded, result.rejected, result.blank, result.lines) == (2, 3, 3, 8)
    assert con.execute("SELECT event_id, _source_line FROM raw.events ORDER BY 2").fetchall() == [("b1", 1), ("b5", 5)]
    # A form feed or vertical tab is not JSON's whitespace: such a line is no blank.
    assert [(line, rule) for line, _, _, rule, _ in rejected(con)] == [(6, "json_invalid"), (7, "json_invalid"), (8, "json_invalid")]


@pytest.mark.parametrize("name", ["part-00.jsonl", "part-00.jsonl.gz"])
def test_a_line_ends_at_a_newline_whatever_carriage_returns_the_file_holds(con, tmp_path, name):
    """Lines are what a newline ends (a CR before it is part of the ending), as NDJSON says;
    DuckDB's CSV reader, which once read them, also broke lines at a lone CR."""
    spaced_by_cr = json.dumps(event("c3")).replace(', "user_id"', ',\r"user_id"')  # CR as JSON whitespace
    cr_in_a_string = json.dumps(event("c7")).replace('"c7"', '"c\r7"')  # a raw control character: not JSON
    lines = [json.dumps(event("c1")) + "\n", "\r\n", spaced_by_cr + "\r\n", "{broken\r\n",
             json.dumps(event("c5")) + "\r\r\n", json.dumps(event("c6", user_id=0)) + "\r\n", cr_in_a_string + "\n"]
    data = "".join(lines).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    result = load_events(con, [path], WINDOW)

    assert (result.loaded, result.rejected, result.blank, result.lines) == (3, 3, 1, 7)
    assert con.execute("SELECT event_id, _source_line FROM raw.events ORDER BY 2").fetchall() == [("c1", 1), ("c3", 3), ("c5", 5)]
    assert [(line, field, rule) for line, _, field, rule, _ in rejected(con)] == [
        (4, "<record>", "json_invalid"), (6, "user_id", "greater_than_equal"), (7, "<record>", "json_invalid")]
    payloads = [payload for (payload,) in con.execute("SELECT payload FROM raw.events_rejected ORDER BY line_number").fetchall()]
    assert payloads == ["{broken", json.dumps(event("c6", user_id=0)), cr_in_a_string]


def test_each_file_is_read_as_itself_whatever_its_name(con, tmp_path):
    """DuckDB's reader, which once read the files, took a name as a glob: `part-[1].jsonl`
    read `part-1.jsonl`, and `part-?.jsonl` its siblings; a backslash cut the stored file name."""
    folder = tmp_path / "date=2026-11-20"
    files = {
        "part-1.jsonl": [json.dumps(event("one"))],
        "part-[1].jsonl": [json.dumps(event("bracket-a")), json.dumps(event("bracket-b"))],
        "part-?.jsonl": [json.dumps(event("question")), "{broken"],
        "back\\slash.jsonl": [json.dumps(event("backslash"))],
    }
    paths = [write_lines(folder / name, lines) for name, lines in sorted(files.items())]
    paths.append(folder / "part-*.jsonl.GZ")  # gzip, whatever the case of its name
    paths[-1].write_bytes(gzip.compress((json.dumps(event("star")) + "\n").encode()))

    result = load_events(con, paths, WINDOW)

    assert (result.loaded, result.rejected, result.duplicates, result.lines) == (6, 1, 0, 7)
    assert sorted(con.execute("SELECT _source_file, _source_line, event_id FROM raw.events").fetchall()) == sorted([
        ("part-1.jsonl", 1, "one"), ("part-[1].jsonl", 1, "bracket-a"), ("part-[1].jsonl", 2, "bracket-b"),
        ("part-?.jsonl", 1, "question"), ("part-*.jsonl.GZ", 1, "star"), ("back\\slash.jsonl", 1, "backslash")])
    assert con.execute("SELECT source, line_number, rule FROM raw.events_rejected").fetchall() == [
        (str(folder / "part-?.jsonl"), 2, "json_invalid")]


def test_duplicate_deliveries_are_kept_once_across_files(con, tmp_path):
    first = write_lines(tmp_path / "a" / "part-00.jsonl", [json.dumps(event("dup")), json.dumps(event("solo"))])
    again = write_lines(tmp_path / "a" / "part-01.jsonl", [json.dumps(event("dup", page="/cart")), json.dumps(event("dup"))])

    result = load_events(con, [first, again], WINDOW)

    assert (result.loaded, result.duplicates, result.rejected) == (2, 2, 0)
    kept = con.execute("SELECT page, _source_file, _source_line FROM raw.events WHERE event_id = 'dup'").fetchall()
    assert kept == [("/", "part-00.jsonl", 1)]  # the first delivery wins
    dup_rows = con.execute("SELECT rule, field, source, line_number FROM raw.events_rejected ORDER BY line_number").fetchall()
    assert dup_rows == [("duplicate", "event_id", str(again), 1), ("duplicate", "event_id", str(again), 2)]


def test_duplicates_across_batches_settle_as_in_one_batch(con, tmp_path, monkeypatch):
    files = [
        write_lines(tmp_path / "b" / "part-00.jsonl", [json.dumps(event("dup")), json.dumps(event("solo"))]),
        write_lines(tmp_path / "b" / "part-01.jsonl", [json.dumps(event("dup", page="/cart")), json.dumps(event("x")), json.dumps(event("dup"))]),
        write_lines(tmp_path / "b" / "part-02.jsonl", [json.dumps(event("x", page="/late")), json.dumps(event("y")), json.dumps(event("y"))]),
    ]
    loaded_as = {}
    for batch_bytes in (event_batches.BATCH_BYTES, 1):  # one batch, then one batch per file
        monkeypatch.setattr(event_batches, "BATCH_BYTES", batch_bytes)
        result = load_events(con, files, WINDOW)
        events = con.execute("SELECT event_id, page, _source_file, _source_line FROM raw.events ORDER BY ALL").fetchall()
        dups = con.execute("SELECT source, line_number, record_key FROM raw.events_rejected WHERE rule = 'duplicate' ORDER BY ALL").fetchall()
        loaded_as[batch_bytes] = (result.loaded, result.duplicates, events, dups)

    assert len(set(map(repr, loaded_as.values()))) == 1
    loaded, duplicates, events, dups = loaded_as[1]
    assert (loaded, duplicates) == (4, 4)
    assert events == [("dup", "/", "part-00.jsonl", 1), ("solo", "/", "part-00.jsonl", 2),
                      ("x", "/", "part-01.jsonl", 2), ("y", "/", "part-02.jsonl", 2)]
    assert [(Path(source).name, line, key) for source, line, key in dups] == [
        ("part-01.jsonl", 1, "dup"), ("part-01.jsonl", 3, "dup"), ("part-02.jsonl", 1, "x"), ("part-02.jsonl", 3, "y")]


@pytest.mark.parametrize("deferred_bytes", [event_batches.DEFERRED_BYTES, 1])
def test_a_line_the_sql_path_reads_wins_over_a_later_plain_repeat(con, tmp_path, monkeypatch, deferred_bytes):
    """Lines outside the reader's one shape are checked later, in SQL; their ids still count from their batch on."""
    other_spelling = {"event_time": "2026-11-20T10:00:00Z"}  # valid, but not the reader's plain spelling
    files = [
        write_lines(tmp_path / "o" / "part-00.jsonl", [json.dumps(event("o1", **other_spelling)), json.dumps(event("p1"))]),
        write_lines(tmp_path / "o" / "part-01.jsonl", [json.dumps(event("o1", page="/again")),
                                                        json.dumps(event("p1", page="/again", **other_spelling))]),
    ]
    monkeypatch.setattr(event_batches, "DEFERRED_BYTES", deferred_bytes)
    for batch_bytes in (event_batches.BATCH_BYTES, 1):  # one batch, then one batch per file
        monkeypatch.setattr(event_batches, "BATCH_BYTES", batch_bytes)
        result = load_events(con, files, WINDOW)

        assert (result.loaded, result.duplicates, result.rejected) == (2, 2, 0)
        assert con.execute("SELECT event_id, page, _source_file, _source_line FROM raw.events ORDER BY ALL").fetchall() == [
            ("o1", "/", "part-00.jsonl", 1), ("p1", "/", "part-00.jsonl", 2)]
        dups = con.execute("SELECT line_number, record_key FROM raw.events_rejected WHERE rule = 'duplicate' ORDER BY ALL").fetchall()
        assert dups == [(1, "o1"), (2, "p1")]


def test_an_id_on_two_days_of_one_batch_still_catches_a_repeat_in_the_next_batch(con, tmp_path, monkeypatch):
    """An id is repeated within its day only; the seen ids of a day stay until its last batch."""
    next_day = date(2026, 11, 21)
    on_next_day = {"event_time": "2026-11-21T09:00:00Z"}
    day1 = write_lines(tmp_path / "d1" / "part-00.jsonl", [json.dumps(event("same"))])
    day2_first = write_lines(tmp_path / "d2" / "part-00.jsonl", [json.dumps(event("same", **on_next_day))])
    day2_again = write_lines(tmp_path / "d2" / "part-01.jsonl", [json.dumps(event("same", **on_next_day, page="/again"))])
    # The two first files in one batch, the repeat in the next.
    monkeypatch.setattr(event_batches, "BATCH_BYTES", day1.stat().st_size + day2_first.stat().st_size)

    results = load_event_days(con, {DAY: [day1], next_day: [day2_first, day2_again]})

    assert [(r.loaded, r.duplicates) for r in results.values()] == [(1, 0), (1, 1)]
    assert con.execute("SELECT event_date, page FROM raw.events ORDER BY 1").fetchall() == [(DAY, "/"), (next_day, "/")]


def test_a_line_breaking_two_rules_is_named_by_the_first_and_its_reason_holds_both(con, tmp_path):
    path = write_lines(tmp_path / "part-00.jsonl", [json.dumps(event("two", user_id="7", device="tv"))])

    load_events(con, [path], WINDOW)

    [(line, key, field, rule, reason)] = rejected(con)
    assert (line, key, field, rule) == (1, "two", "user_id", "int_type")
    assert reason.startswith("user_id: ") and "device: " in reason


def test_malformed_and_undecodable_lines_in_a_gzip_file(con, tmp_path):
    path = tmp_path / "part-00.jsonl.gz"
    raw = b"\n".join([json.dumps(event("g1")).encode(), b"\xff\xfe not utf-8", b"", json.dumps(event("g2")).encode(), b"{broken"]) + b"\n"
    path.write_bytes(gzip.compress(raw))

    result = load_events(con, [path], WINDOW)

    assert (result.loaded, result.rejected, result.blank, result.lines) == (2, 2, 1, 5)
    assert [(line, rule) for line, _, _, rule, _ in rejected(con)] == [(2, "unreadable"), (5, "json_invalid")]
    # The undecodable line is kept as it was, its bad bytes escaped (the reader shows them as '?').
    payloads = con.execute("SELECT payload FROM raw.events_rejected ORDER BY line_number").fetchall()
    assert payloads == [("\\xff\\xfe not utf-8",), ("{broken",)]


def test_rerun_changes_nothing_and_replaces_only_its_partition(con, tmp_path):
    day1 = write_lines(tmp_path / "d1.jsonl", [json.dumps(event("a")), json.dumps(event("a")), "oops"])
    next_day = date(2026, 11, 21)
    day2 = write_lines(tmp_path / "d2.jsonl", [json.dumps(event("b", event_time="2026-11-21T08:00:00Z"))])
    load_events(con, [day1], WINDOW)
    load_events(con, [day2], day_window(next_day))
    before_events, before_rejects = events_table(con), rejected(con)

    load_events(con, [day1], WINDOW)
    assert events_table(con) == before_events and rejected(con) == before_rejects

    # A changed file for day 2 replaces day 2 and leaves day 1 alone.
    write_lines(day2, [json.dumps(event("c", event_time="2026-11-21T09:00:00Z"))])
    load_events(con, [day2], day_window(next_day))
    assert [r[0] for r in events_table(con)] == ["a", "c"]
    assert rejected(con) == before_rejects


def test_a_failure_half_way_leaves_the_warehouse_as_it_was(con, tmp_path, monkeypatch):
    path = write_lines(tmp_path / "d1.jsonl", [json.dumps(event("a")), json.dumps(event("a"))])
    load_events(con, [path], WINDOW)
    before = (events_table(con), rejected(con))
    write_lines(path, [json.dumps(event("b")), json.dumps(event("b"))])

    def explode(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(event_loading, "_quarantine_duplicates", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        load_events(con, [path], WINDOW)
    assert (events_table(con), rejected(con)) == before


def test_a_corrupt_gzip_file_stops_the_load_naming_it_and_changes_nothing(con, tmp_path):
    good = write_lines(tmp_path / "part-00.jsonl", [json.dumps(event("a"))])
    load_events(con, [good], WINDOW)
    before = (events_table(con), rejected(con))
    corrupt = tmp_path / "part-01.jsonl.gz"
    data = gzip.compress((json.dumps(event("b")) + "\n").encode())
    corrupt.write_bytes(data[:-8] + bytes(8))  # DuckDB's reader would load it: it checks no CRC

    with pytest.raises(ValueError, match="part-01.jsonl.gz: not a readable gzip file"):
        load_events(con, [good, corrupt], WINDOW)
    assert (events_table(con), rejected(con)) == before


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ('ALTER TABLE raw.events DROP COLUMN "device"', "missing column device VARCHAR"),
        ('ALTER TABLE raw.events ADD COLUMN "referrer" VARCHAR', "unexpected column referrer VARCHAR"),
        ('ALTER TABLE raw.events ALTER COLUMN "quantity" TYPE VARCHAR', "column quantity is VARCHAR, expected BIGINT"),
        ('ALTER TABLE raw.events_rejected DROP COLUMN "line_number"', 'raw."events_rejected" .*missing column line_number BIGINT'),
    ],
)
def test_a_raw_table_from_another_version_is_refused_naming_the_difference(con, tmp_path, change, named):
    path = write_lines(tmp_path / "d1.jsonl", [json.dumps(event("a")), "oops"])
    load_events(con, [path], WINDOW)
    con.execute(change)
    before = (con.execute("SELECT * FROM raw.events").fetchall(), con.execute("SELECT * FROM raw.events_rejected").fetchall())

    with pytest.raises(RawTableShapeError, match="nothing was loaded") as refused:
        load_events(con, [write_lines(tmp_path / "d1.jsonl", [json.dumps(event("b"))])], WINDOW)
    assert re.search(named, str(refused.value))
    assert (con.execute("SELECT * FROM raw.events").fetchall(), con.execute("SELECT * FROM raw.events_rejected").fetchall()) == before


def test_columns_in_another_order_are_a_difference():
    # Rows are appended by position: the same columns in another order would land crossed.
    expected = [("a", "BIGINT"), ("b", "BIGINT")]
    assert shape_differences(list(reversed(expected)), expected) == ["columns in another order (b, a)"]
    assert shape_differences(expected, expected) == []
    assert shape_differences([("a", "INTEGER")], expected) == ["missing column b BIGINT", "column a is INTEGER, expected BIGINT"]


def test_a_gzip_file_padded_with_zeros_loads(con, tmp_path):
    path = tmp_path / "part-00.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(event("a")) + "\n{broken\n").encode()) + bytes(512))

    result = load_events(con, [path], WINDOW)

    assert (result.loaded, result.rejected, result.lines) == (1, 1, 2)
    assert con.execute("SELECT source, line_number, payload FROM raw.events_rejected").fetchall() == [(str(path), 2, "{broken")]


def test_no_files_empties_the_partition(con, tmp_path):
    path = write_lines(tmp_path / "d1.jsonl", [json.dumps(event("a"))])
    load_events(con, [path], WINDOW)
    result = load_events(con, [], WINDOW)
    assert result.loaded == 0 and events_table(con) == []


def test_timestamps_land_as_utc_microseconds(con, tmp_path):
    path = write_lines(tmp_path / "d1.jsonl", [json.dumps(event("a", event_time="2026-11-20T12:30:00.123456+02:00"))])
    load_events(con, [path], WINDOW)
    column_type = con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'event_time'").fetchone()[0]
    value = con.execute("SELECT strftime(event_time, '%Y-%m-%d %H:%M:%S.%f') FROM raw.events").fetchone()[0]
    assert column_type == "TIMESTAMP" and value == "2026-11-20 10:30:00.123456"


def test_event_ids_are_stored_as_they_are_and_the_rest_compressed(con, tmp_path):
    lines = [json.dumps(event(f"{n:032x}", session_id=f"s{n % 7}")) for n in range(3000)]
    load_events(con, [write_lines(tmp_path / "d1.jsonl", lines)], WINDOW)
    con.execute("CHECKPOINT")
    stored = dict(con.execute(
        "SELECT column_name, string_agg(DISTINCT compression, ',') FROM pragma_storage_info('raw.events') "
        "WHERE segment_type = 'VARCHAR' GROUP BY 1"
    ).fetchall())
    assert stored["event_id"] == "Uncompressed" and stored["session_id"] != "Uncompressed"


def test_a_batch_appended_in_a_load_is_not_held_until_the_load_commits(con):
    values = np.arange(1000, dtype=np.int64)
    held = weakref.ref(values)
    rows = pa.table({"x": pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])})
    con.execute("CREATE TABLE appended (x BIGINT)")
    with transaction(con):
        over_arrow(con, "rows", rows, "INSERT INTO appended SELECT x FROM rows")
        del rows, values
        gc.collect()
        assert held() is None  # a registered view would keep the batch's memory to the commit
    assert con.execute("SELECT count(*), sum(x) FROM appended").fetchone() == (1000, 499500)


def two_days_of_files(root: Path) -> dict[date, list[Path]]:
    """Day 1 and day 2, each with two files: per-day duplicates, an id shared by both days
    (a different event each day), and a day-1 event delivered in a day-2 file."""
    day2 = DAY + timedelta(days=1)
    on_day2 = {"event_time": "2026-11-21T09:00:00Z"}
    return {
        DAY: [
            write_lines(root / "d1" / "part-00.jsonl", [json.dumps(event("a")), json.dumps(event("both")), "oops"]),
            write_lines(root / "d1" / "part-01.jsonl", [json.dumps(event("a")), json.dumps(event("b"))]),
        ],
        day2: [
            write_lines(root / "d2" / "part-00.jsonl", [json.dumps(event("both", **on_day2)), json.dumps(event("late"))]),
            write_lines(root / "d2" / "part-01.jsonl", [json.dumps(event("c", **on_day2)), json.dumps(event("c", **on_day2))]),
        ],
    }


def test_a_range_loads_as_its_days_would_one_by_one(con, tmp_path, monkeypatch):
    files_by_day = two_days_of_files(tmp_path)
    day2 = DAY + timedelta(days=1)
    loaded_as = {}
    for how in ("day by day", "one load", "one load, a batch per file"):
        monkeypatch.setattr(event_batches, "BATCH_BYTES", 1 if how.endswith("per file") else 512 * 1024**2)
        if how == "day by day":
            results = {day: load_events(con, files, day_window(day)) for day, files in files_by_day.items()}
        else:
            results = load_event_days(con, files_by_day)
        events = con.execute("SELECT event_id, event_date, _source_file, _source_line FROM raw.events ORDER BY ALL").fetchall()
        loaded_as[how] = (results, events, rejected_by_day(con))

    assert len({repr(outcome) for outcome in loaded_as.values()}) == 1
    results, events, rejects = loaded_as["one load"]
    assert {day: (r.loaded, r.rejected, r.duplicates, r.lines) for day, r in results.items()} == {
        DAY: (3, 1, 1, 5), day2: (2, 1, 1, 4)}
    assert events == [("a", DAY, "part-00.jsonl", 1), ("b", DAY, "part-01.jsonl", 2), ("both", DAY, "part-00.jsonl", 2),
                      ("both", day2, "part-00.jsonl", 1), ("c", day2, "part-01.jsonl", 1)]
    assert rejects == [
        (DAY, "part-00.jsonl", 3, "<record>", "json_invalid"), (DAY, "part-01.jsonl", 1, "event_id", "duplicate"),
        (day2, "part-00.jsonl", 2, "event_time", "value_error"), (day2, "part-01.jsonl", 2, "event_id", "duplicate")]


def rejected_by_day(con) -> list[tuple]:
    rows = con.execute(
        "SELECT partition_date, source, line_number, field, rule FROM raw.events_rejected ORDER BY ALL"
    ).fetchall()
    return [(day, Path(source).name, line, field, rule) for day, source, line, field, rule in rows]


def test_a_range_must_be_consecutive_days_and_load_events_takes_one_day(con, tmp_path):
    with pytest.raises(ValueError, match="follow one another"):
        load_event_days(con, {DAY: [], DAY + timedelta(days=2): []})
    with pytest.raises(ValueError, match="one day's window"):
        load_events(con, [], (DAY, DAY + timedelta(days=2)))
