"""The compiled line reader: what it calls plain it must read exactly; the rest it leaves to SQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from ecommerce_assets import event_batches
from ecommerce_assets.event_batches import reader_schema
from ecommerce_assets.event_contract import EVENT_SPECS
from ecommerce_assets.event_loading import load_events
from ecommerce_assets.event_reading import BatchReader, FilePart, ReadFile, SeenIds, plain_lines
from ecommerce_assets.line_scanner import (
    BLANK,
    COUNT_WINDOW,
    OTHER,
    PLAIN,
    chunk_bounds,
    count_lines,
    hash_text,
    mark_repeats,
    scan_chunk,
)
from ecommerce_assets.warehouse import connect

from .test_load_events import WINDOW, add_to_cart, event, write_lines


def scan(*lines: str, seed: int = 1):
    data = np.frombuffer(("\n".join(lines) + "\n").encode(), dtype=np.uint8)
    return scan_chunk(data, 0, len(data), reader_schema(), seed)


def plain_values(*lines: str) -> list[dict]:
    """Each plain line's fields as the reader typed them (None: missing or null)."""
    data = np.frombuffer(("\n".join(lines) + "\n").encode(), dtype=np.uint8)
    chunk = scan_chunk(data, 0, len(data), reader_schema(), 1)
    file = ReadFile(0, date(2026, 11, 20), Path("x"), data, [chunk])
    return plain_lines([file], EVENT_SPECS, reader_schema()).table.to_pylist()


def test_lines_are_plain_blank_or_other():
    chunk = scan(json.dumps(event("a")), "", " \t", "{broken", json.dumps(event("b")).replace(" ", ""), "{}",
                 " \r\r", json.dumps(event("c")).replace(" ", "\r") + "\r", "\f")
    assert list(chunk.kinds) == [PLAIN, BLANK, BLANK, OTHER, PLAIN, PLAIN, BLANK, PLAIN, OTHER]
    assert list(chunk.plain_lines) == [0, 4, 5, 7]


@pytest.mark.parametrize(
    "line",
    [
        json.dumps(event("extra", note="x")),  # a key beyond the contract
        json.dumps(event("r")).replace('"user_id": 1', '"user_id": 1, "user_id": 2'),  # a key twice
        json.dumps(event("esc\\u0041")),  # an escape in a string
        json.dumps(event("é"), ensure_ascii=False),  # beyond ASCII
        json.dumps(event("t", user_id="7")),  # a value of another type
        json.dumps(event("t", user_id=7.0)),
        json.dumps(event("t", user_id=True)),
        json.dumps(event("t", event_time="2026-11-20T10:00:00Z")),  # another timestamp spelling
        json.dumps(event("t", event_time="2026-02-29T10:00:00.000Z")),  # no such day
        json.dumps(event("t", event_time="2026-11-20T24:00:00.000Z")),
        json.dumps(event("t", event_time="2026-11-20T23:59:60.000Z")),
        json.dumps(add_to_cart("t", quantity=12345678901234567890)),  # longer than int64 reads safely
        json.dumps(add_to_cart("t", price=0.1234567890123456789)),  # more digits than an exact conversion takes
        json.dumps(add_to_cart("t")).replace('"price": 5', '"price": -0'),  # -0 keeps its sign through SQL
        json.dumps(add_to_cart("t")).replace('"price": 5', '"price": 05'),  # not JSON
        json.dumps(add_to_cart("t")).replace('"price": 5', '"price": 1e400'),
        json.dumps(event("t"))[:-1] + ",}",  # a trailing comma
        json.dumps(event("t")) + " x",
        json.dumps(event("t", extra={"a": 1})),
        "[1, 2]",
    ],
)
def test_anything_unusual_is_left_to_the_sql_path(line):
    assert list(scan(line).kinds) == [OTHER]


def test_plain_values_are_typed_as_json_gives_them():
    lines = [
        json.dumps(add_to_cart("p1", price=5.25, quantity=2, event_time="2024-02-29T23:59:59.999Z")),
        json.dumps(event("p2", user_id=9223372036854775807 // 10**1)),
        json.dumps(add_to_cart("p3", price=1e-7)),
        json.dumps(add_to_cart("p4", price=123456789012345)),
        json.dumps(add_to_cart("p5", price=2.5e10)),
        '{ "event_id" : "p6" , "device":null,"page" :"/"}',
    ]
    values = plain_values(*lines)
    for row, line in zip(values, lines):
        expected = json.loads(line)
        for spec in EVENT_SPECS:
            value = row[f"val__{spec.name}"]
            want = expected.get(spec.name)
            if spec.base is float and want is not None:
                want = float(want)
            if spec.name == "event_time" and want is not None:
                want = datetime.fromisoformat(want.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)
            assert value == want and type(value) is type(want), (spec.name, line)


# Every byte the reader reads strings eight at a time must stop at: the quote, a backslash,
# a control, DEL and a byte beyond ASCII (as Latin-1 text: any byte value, UTF-8 or not).
STOPPERS = ['"', "\\", "\x00", "\x1f", "\x7f", "\xe9"]


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 33])
def test_strings_of_any_length_read_whole_and_stop_at_any_byte_not_plain(length):
    text = "".join(chr(97 + k % 26) for k in range(length))
    values = plain_values(json.dumps(event("i", page="/" + text)), json.dumps(event("j", session_id=text)))
    assert values[0]["val__page"] == "/" + text and values[1]["val__session_id"] == text
    for at in range(length):
        for stopper in STOPPERS:
            page = "/" + text[:at] + stopper + text[at + 1:]
            line = ('{"event_id": "s", "page": "' + page + '"}').encode("latin-1")
            data = np.frombuffer(line + b"\n", dtype=np.uint8)
            kinds = scan_chunk(data, 0, len(data), reader_schema(), 1).kinds
            assert list(kinds) == [OTHER], (length, at, stopper)  # never read as plain text


@pytest.mark.parametrize("line", ['{"page":"/"}', '{"device":"tablet"}', '{"event_id":"a"}', '{"quantity":3}', "{}"])
def test_a_last_line_without_its_newline_reads_to_the_last_byte(line):
    """Keys and strings near the end are read byte by byte where eight at a time would overrun."""
    for prefix in ["", "\n", "\n" * 7]:
        data = np.frombuffer((prefix + line).encode(), dtype=np.uint8)
        chunk = scan_chunk(data, 0, len(data), reader_schema(), 1)
        assert list(chunk.kinds) == [BLANK] * len(prefix) + [PLAIN], (prefix, line)
        shorter = np.frombuffer((prefix + line[:-2] + "}").encode(), dtype=np.uint8)  # a broken value
        assert scan_chunk(shorter, 0, len(shorter), reader_schema(), 1).kinds[-1] == OTHER


def test_a_key_of_a_field_name_s_length_but_another_spelling_is_no_field():
    """The reader first tries the field found at the same place in the line before: a key as long
    as that field's name, differing in its first, last or a middle byte, is no field."""
    plain = '{"page":"/","session_id":"s"}'
    for other in ['{"pagf":"/","session_id":"s"}', '{"xage":"/","session_id":"s"}', '{"page":"/","session_ix":"s"}',
                  '{"page":"/","sessionXid":"s"}', '{"page":"/","Session_id":"s"}']:
        assert list(scan(plain, other, plain).kinds) == [PLAIN, OTHER, PLAIN], other


def test_decimals_convert_exactly_as_a_correctly_rounded_parse():
    rng = np.random.default_rng(7)
    texts = [f"{m}e{e}" for m, e in zip(rng.integers(-10**15, 10**15, 300), rng.integers(-22, 8, 300))]
    texts += [f"{rng.integers(0, 10**9)}.{rng.integers(0, 10**6):06d}" for _ in range(300)]
    lines = [json.dumps(add_to_cart(f"d{i}", price=777)).replace("777", t) for i, t in enumerate(texts)]
    values = plain_values(*lines)
    assert len(values) == len(lines)
    assert [row["val__price"] for row in values] == [float(t) for t in texts]


def test_timestamps_read_as_python_reads_them():
    rng = np.random.default_rng(3)
    stamps = [datetime(1970, 1, 1) + (datetime(2100, 1, 1) - datetime(1970, 1, 1)) * float(f) for f in rng.random(500)]
    texts = [s.strftime("%Y-%m-%dT%H:%M:%S.") + f"{s.microsecond // 1000:03d}Z" for s in stamps]
    values = plain_values(*(json.dumps(event(f"s{i}", event_time=t)) for i, t in enumerate(texts)))
    assert [row["val__event_time"] for row in values] == [datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ") for t in texts]


def test_an_id_hashes_alike_in_a_plain_line_and_from_text():
    chunk = scan(json.dumps(event("same-id")), json.dumps(event("other")), seed=738000)
    assert int(chunk.id_hash[0]) == hash_text("same-id", 738000) != int(chunk.id_hash[1])
    assert hash_text("same-id", 738000) != hash_text("same-id", 738001)  # a day of its own


def test_repeats_mark_every_delivery_of_the_batch_and_later_ones():
    bits = np.zeros(1024, dtype=np.uint64)
    first = np.array([5, 6, 5, 7], dtype=np.uint64)
    marked = np.zeros(4, dtype=bool)
    mark_repeats(first, bits, marked)
    assert list(marked) == [True, False, True, False]
    later = np.zeros(2, dtype=bool)
    mark_repeats(np.array([6, 8], dtype=np.uint64), bits, later)
    assert list(later) == [True, False]


def test_a_hash_sharing_only_its_low_bits_with_a_repeat_is_no_repeat():
    marked = np.zeros(3, dtype=bool)
    mark_repeats(np.array([5, 5 + (1 << 16), 5], dtype=np.uint64), np.zeros(1024, dtype=np.uint64), marked)
    assert list(marked) == [True, False, True]


@pytest.mark.parametrize("size", [0, 1, COUNT_WINDOW - 1, COUNT_WINDOW, 3 * COUNT_WINDOW + 17])
def test_lines_are_counted_across_the_comparison_windows(size):
    text = np.random.default_rng(size).choice(np.array([10, 32, 97], dtype=np.uint8), size)
    for start, end in [(0, size), (size // 3, size), (size // 3, 2 * size // 3 + 1)]:
        assert count_lines(text, start, end) == int(np.count_nonzero(text[start:end] == 10)) + 1


def test_seen_ids_are_per_day_and_forgotten_once_the_day_is_done():
    seen = SeenIds({})
    day1, day2 = date(2026, 11, 20).toordinal(), date(2026, 11, 21).toordinal()
    assert list(seen.suspects(np.array([1, 2], dtype=np.uint64), np.array([day1, day2]))) == [False, False]
    assert list(seen.suspects(np.array([1, 2], dtype=np.uint64), np.array([day1, day2]))) == [True, True]
    seen.forget_before(date(2026, 11, 21))
    assert list(seen.suspects(np.array([1, 2], dtype=np.uint64), np.array([day1, day2]))) == [False, True]


def test_chunks_end_at_newlines_and_cover_the_text():
    data = np.frombuffer(b"aaaa\nbb\ncccccc\nd", dtype=np.uint8)
    bounds = chunk_bounds(data, 3)
    assert bounds == [(0, 5), (5, 15), (15, 16)]  # each cut after the first newline past the target
    assert chunk_bounds(np.zeros(0, dtype=np.uint8), 3) == [(0, 0)]


@pytest.mark.parametrize("part_bytes", [37, 200, 1000, 10**6])
def test_a_file_read_in_parts_loads_as_it_does_whole(tmp_path, monkeypatch, part_bytes):
    """Each part owns the lines that start in it: numbers, rejects and duplicates as for the whole file."""
    lines = [json.dumps(event(f"e{i % 7}", page="/" + "x" * (i % 5))) for i in range(40)]
    lines[3], lines[11], lines[12] = "{broken", "", json.dumps(event("bad", user_id=0))
    path = write_lines(tmp_path / "landing" / "part-00.jsonl", lines)

    def load(folder: str) -> tuple:
        con = connect(tmp_path / folder / "ecommerce.duckdb")
        result = load_events(con, [path], WINDOW)
        rows = con.execute("SELECT event_id, _source_line FROM raw.events ORDER BY 2").fetchall()
        rejects = con.execute("SELECT line_number, rule, payload FROM raw.events_rejected ORDER BY 1").fetchall()
        con.close()
        return result, rows, rejects

    whole = load("whole")
    monkeypatch.setattr(event_batches, "PART_BYTES", part_bytes)
    monkeypatch.setattr(event_batches, "BATCH_BYTES", part_bytes)
    assert load("parts") == whole
    assert whole[0].loaded == 7 and whole[0].blank == 1


def test_the_reader_reads_each_part_from_the_line_after_its_start(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"{}\n{}\n{}\n")
    reader = BatchReader(reader_schema())
    day = date(2026, 11, 20)
    parts = [FilePart(day, path, start, start + 2) for start in range(0, 9, 2)]
    counts = [reader.read([part])[0].line_count for part in parts]
    assert counts == [1, 1, 0, 1, 0]  # lines start at bytes 0, 3 and 6


def test_a_decimal_the_reader_cannot_convert_exactly_is_left_to_sql_never_rounded_wrong():
    rng = np.random.default_rng(11)
    texts = [f"{rng.integers(10**15, 10**18)}e{rng.integers(-22, 5)}" for _ in range(2000)]
    lines = [json.dumps(add_to_cart(f"x{i}", price=777)).replace("777", t) for i, t in enumerate(texts)]
    values = {row["val__event_id"]: row["val__price"] for row in plain_values(*lines)}
    assert all(value == float(texts[int(key[1:])]) for key, value in values.items())
