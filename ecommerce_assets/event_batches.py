"""Landing files -> checked batches, each read and checked while the ones before are appended.

Files are read in batches of bounded size, across days (many small days make one batch). Per
batch, on a thread and an in-memory DuckDB database of its own (the checks read only the
batch's own columns, so they stay outside the warehouse and its load's transaction):
1. the compiled reader (`line_scanner`, on every core) types the fields of the plain lines,
   JSON objects in the collector's one shape, nearly all of them;
2. every other line (malformed, a key beyond the contract, an escape, a value of another
   type) is kept to meet the whole contract as JSON text in SQL, with the others of the
   load (or of the last 32 MB of them): its id, read by Python's parser, counts at once;
3. a line whose id's hash repeats in its batch or was seen in an earlier one (`SeenIds`)
   is a suspect: it waits, to be settled on its real id at the end of the load;
4. the plain lines meet the SQL compiled from the pydantic `Event` contract, over their
   typed values, with the line's file's day as the window; the few that break a rule or
   wait are checked again to name their first broken rule.
The load appends the rest straight into raw.events meanwhile. Only the batch's refused
lines reach pydantic, which explains them. A line ends at a newline, as NDJSON says: a
carriage return (CR) just before it belongs to the ending, and any other is JSON's
whitespace (or, raw inside a string, a control character JSON forbids).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ecommerce_assets.contracts import EVENT_REQUIREMENTS, Event, day_window
from ecommerce_assets.event_contract import EVENT_SPECS, WINDOW_FIELD, event_rules, typed_columns_sql
from ecommerce_assets.event_reading import (
    BatchReader,
    FilePart,
    OtherLine,
    PlainLines,
    ReadFile,
    SeenIds,
    blank_lines,
    hash_ids,
    other_lines,
    plain_lines,
)
from ecommerce_assets.event_reading import reader_schema as schema_of
from ecommerce_assets.landing_bytes import is_gzip
from ecommerce_assets.line_scanner import Schema
from ecommerce_assets.plain_rules import PlainRules, compile_rules, obeying
from ecommerce_assets.validation import (
    Rejection,
    all_rules_sql,
    explain,
    first_failure_sql,
    found_keys_sql,
    json_paths_sql,
    raw_column,
    raw_sql,
    sql_literal,
    strict_json_end_sql,
    value_column,
    value_sql,
)
from ecommerce_assets.warehouse import configure_session, query_arrow, rejects_table

# Text read per batch: the batch's bytes and typed columns are held in memory at once
# (`AHEAD` + 1 times: batches are read while one is appended). A file larger than a part
# is read in parts. Since the reader got fast, the append sets the pace, and fewer, larger
# batches cost it less: on the 10M-event day, 64 MB two ahead (scanned in 32 MB pieces)
# against 32 MB four ahead, alternating four times, 12.8 against 13.9 s (median), 19.3
# against 20.9 CPU-s, for a peak of 1,473 against 1,443 MB.
BATCH_BYTES = 64 * 1024 * 1024
PART_BYTES = 64 * 1024 * 1024
GZIP_RATIO = 5
AHEAD = 2  # batches read and checked ahead of the one appended
# Text of the lines left to the SQL path, checked together once this much has gathered:
# planning that query costs some 20-50 ms, whether it reads ten lines or ten thousand.
DEFERRED_BYTES = 32 * 1024 * 1024

DayFile = tuple[date, Path]


@cache
def reader_schema() -> Schema:
    """The events' fields as the compiled reader types them."""
    return schema_of(EVENT_SPECS, "event_id")


@cache
def plain_rules() -> PlainRules:
    """The contract's rules compiled for the reader's plain lines, standing in for the typed SQL."""
    return compile_rules(EVENT_SPECS, EVENT_REQUIREMENTS, WINDOW_FIELD, reader_schema(), event_rules(typed=True))


def _text_bytes(path: Path) -> int:
    """About how much text the file holds."""
    return path.stat().st_size * (GZIP_RATIO if is_gzip(path) else 1)


def expected_lines(files: Sequence[DayFile]) -> dict[date, int]:
    """About how many lines each day's files hold (the collector's lines are some 250 bytes)."""
    lines: Counter[date] = Counter()
    for day, path in files:
        lines[day] += _text_bytes(path) // 200 + 1
    return dict(lines)


def batches(files: Sequence[DayFile]) -> Iterator[list[FilePart]]:
    """Consecutive groups of file parts whose text stays under `BATCH_BYTES`: small files
    together, a large one in parts (a gzip file whole)."""
    batch, size = [], 0
    for day, path in files:
        weight = _text_bytes(path)
        if is_gzip(path) or weight <= PART_BYTES:
            parts = [(FilePart(day, path), weight)]
        else:
            parts = [(FilePart(day, path, start, start + PART_BYTES), min(PART_BYTES, weight - start))
                     for start in range(0, weight, PART_BYTES)]
        for part, part_weight in parts:
            if batch and size + part_weight > BATCH_BYTES:
                yield batch
                batch, size = [], 0
            batch.append(part)
            size += part_weight
    if batch:
        yield batch


@dataclass
class CheckedBatch:
    """A batch read and checked: what the load appends, keeps waiting and has explained.

    `plain` holds the plain lines' typed columns and `keep`, which of them obey the contract
    and are no suspects (valid until the reader after next reads); `file_name` is SQL giving
    a row's file name from its `file_index`.
    """

    plain: pa.Table | None
    file_name: str
    waiting: list[pa.Table]  # valid lines that wait as suspects, with their file and day
    refused: list[tuple]  # (day, source file, line, the SQL's first broken rule, text), for pydantic
    unreadable: list[dict]  # lines that are not UTF-8, as quarantined
    blank: dict[date, int]


def checked_batches(con: duckdb.DuckDBPyConnection, files: Sequence[DayFile]) -> Iterator[CheckedBatch]:
    """The files' batches in order, each read and checked while the caller appends the ones before.

    Up to `AHEAD` batches are read ahead, each by its own reader (they take turns), so a
    batch's arrays stay valid while the caller appends it. On the 10M-event day, one batch
    ahead left the append waiting 11.8 s for the reader and the reader 6.4 s for the
    append; two, 6.1 and 1.7 s (29.8 s against 33.4 s in all). Reading and checking on
    threads of their own (three stages) kept both cores no busier.
    """
    batch_list = list(batches(files))
    readers = [BatchReader(reader_schema()) for _ in range(AHEAD + 1)]
    with closing(duckdb.connect()) as checks:  # in memory, on every core (module docstring)
        configure_session(checks)
        checker = BatchChecker(checks, files)

        def read_and_check(n: int) -> CheckedBatch:
            return checker.check(batch_list[n], readers[n % len(readers)].read(batch_list[n]))

        with ThreadPoolExecutor(max_workers=1) as ahead:
            pending = [ahead.submit(read_and_check, n) for n in range(min(AHEAD, len(batch_list)))]
            for n in range(len(batch_list)):
                checked = pending.pop(0).result()
                if n + AHEAD < len(batch_list):
                    pending.append(ahead.submit(read_and_check, n + AHEAD))
                yield checked
        yield checker.finish()


class BatchChecker:
    """Checks a load's batches in order: the ids seen so far and each file's lines so far carry over.

    The lines left to the SQL path are checked when enough have gathered, and at the end
    (`finish`): all of them wait as suspects when valid, so the batch they came from needs
    only their ids, which Python's JSON parser reads.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, files: Sequence[DayFile]) -> None:
        self.cursor = cursor
        self.seen = SeenIds(expected_lines(files))
        self.lines_before: Counter[Path] = Counter()
        self.deferred: list[DeferredLine] = []
        self.deferred_bytes = 0

    def check(self, parts: Sequence[FilePart], read: list[ReadFile]) -> CheckedBatch:
        # Files come in day order: the days before this batch's first are complete.
        self.seen.forget_before(parts[0].day)
        for file in read:
            file.first_line = self.lines_before[file.source] + 1
            self.lines_before[file.source] += file.line_count
        file_day = _by_file_sql([f"{sql_literal(file.day)}::DATE" for file in read])
        file_name = _by_file_sql([sql_literal(file.source.name) for file in read])
        source_file = _by_file_sql([sql_literal(str(file.source)) for file in read])
        others = other_lines(read)
        other_ids = self._defer(read, [line for line in others if line.readable])
        plain = plain_lines(read, EVENT_SPECS, reader_schema())
        table, checked = None, None
        if plain.table is not None:
            checked = self._check_plain_lines(plain, self._suspects(plain, other_ids), _cleared(read), file_day,
                                              file_name, source_file)
            keep = np.ones(plain.table.num_rows, dtype=bool)
            keep[checked["position"].to_numpy()] = False
            table = plain.table.append_column("keep", pa.array(keep))
            checked = checked.drop_columns(["position"])
        waiting, refused = _split_checked(checked, read)
        unreadable = _unreadable_lines(read, [line for line in others if not line.readable])
        batch = CheckedBatch(table, file_name, [waiting] if waiting is not None else [], refused, unreadable, blank_lines(read))
        if self.deferred_bytes >= DEFERRED_BYTES:
            batch = _merged(batch, self.finish())
        return batch

    def finish(self) -> CheckedBatch:
        """The deferred lines checked: the valid ones wait, the others are to be explained."""
        lines, self.deferred, self.deferred_bytes = self.deferred, [], 0
        if not lines:
            return CheckedBatch(None, "", [], [], [], {})
        waiting, refused = _split(self._check_other_lines(lines))
        rows = sorted(zip(refused["source_file"].to_pylist(), refused["line_number"].to_pylist(),
                          refused["file_day"].to_pylist(), refused["failed_rule"].to_pylist(), refused["payload"].to_pylist()))
        explain = [(day, source, line, rule, text) for source, line, day, rule, text in rows]
        return CheckedBatch(None, "", [waiting], explain, [], {})

    def _defer(self, read: Sequence[ReadFile], lines: Sequence[OtherLine]) -> tuple[np.ndarray, np.ndarray]:
        """Keep the lines for the SQL path; the hashes and day ordinals of every id they may hold.

        A line whose id Python's parser cannot read is no valid record (it takes all JSON and
        more), save nesting deeper than it recurses and a byte-order mark; those few, and ids
        holding a lone surrogate escape (which SQL may decode otherwise), are checked in SQL
        at once. A plain line's id is ASCII, so only an ASCII id can repeat one.
        """
        ids, days, unsure = [], [], []
        for line in lines:
            file = read[line.file_index]
            self.deferred.append(DeferredLine(file.day, file.source, line.line_number, line.text))
            self.deferred_bytes += len(line.text)
            try:
                record = json.loads(line.text)
            except json.JSONDecodeError:
                if "\ufeff" in line.text:
                    unsure.append(self.deferred[-1])
                continue
            except RecursionError:
                unsure.append(self.deferred[-1])
                continue
            event_id = record.get("event_id") if isinstance(record, dict) else None
            if isinstance(event_id, str) and event_id.isascii():
                ids.append(event_id)
                days.append(file.day)
            elif isinstance(event_id, str) and any("\ud800" <= c <= "\udfff" for c in event_id):
                unsure.append(self.deferred[-1])  # a lone surrogate escape: SQL's decoding decides
        if unsure:
            valid, _ = _split(self._check_other_lines(unsure))
            ids += valid["event_id"].to_pylist()
            days += valid["file_day"].to_pylist()
        return hash_ids(ids, days), np.array([day.toordinal() for day in days], dtype=np.int64)

    def _check_other_lines(self, lines: Sequence[DeferredLine]) -> pa.Table:
        """The lines the scanner left (anything but plain) checked against the whole contract as JSON
        text: typed values and each line's first broken rule, with its file and day.

        Each field's JSON text and typed value are computed once, innermost, because DuckDB
        does not share repeated expressions between the rules. JSON is parsed only when valid:
        TRY() falls back to row-by-row evaluation for every vector holding a bad line. The
        fields' text comes from one `json_extract`, which tells a null-valued key from a
        missing one, as the repeated-key rule needs.
        """
        table = pa.table({
            "file_day": pa.array([line.day for line in lines], pa.date32()),
            "source_file": pa.array([str(line.source) for line in lines], pa.string()),
            "file_name": pa.array([line.source.name for line in lines], pa.string()),
            "line_number": pa.array([line.line_number for line in lines], pa.int64()),
            "line": pa.array([line.text for line in lines], pa.string()),
        })
        raws = ", ".join(f"{raw_sql(i)}::VARCHAR AS {raw_column(spec)}" for i, spec in enumerate(EVENT_SPECS))
        values = ", ".join(f"{value_sql(spec)} AS {value_column(spec)}" for spec in EVENT_SPECS)
        return query_arrow(self.cursor, "batch_lines", table, f"""
            SELECT line_number, {first_failure_sql(event_rules())} AS failed_rule, line AS payload, {typed_columns_sql()},
                   source_file, file_name, file_day
            FROM (
                SELECT *, {values}
                FROM (
                    SELECT *, {found_keys_sql(EVENT_SPECS)} AS found_keys, {raws}
                    FROM (
                        SELECT *, json_extract(CASE WHEN parsed THEN line END, {json_paths_sql(EVENT_SPECS)}) AS j,
                               CASE WHEN parsed THEN len(json_keys(line)) END AS key_count
                        FROM (SELECT *, json_valid(line) AND {strict_json_end_sql('line')} AS parsed FROM batch_lines)
                    )
                )
            )
        """)

    def _suspects(self, plain: PlainLines, other_ids: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Which plain lines are suspects, from the ids seen so far; the batch's ids are then seen.

        The ids the batch's other lines may hold (all of them suspects when valid) count as
        seen too, so a plain line repeating one of them waits with it.
        """
        hashes = np.concatenate([plain.id_hash[plain.has_id], other_ids[0]])
        ordinals = np.concatenate([plain.day_ordinal[plain.has_id], other_ids[1]])
        suspect = np.zeros(len(plain.id_hash), dtype=bool)
        suspect[plain.has_id] = self.seen.suspects(hashes, ordinals)[: int(plain.has_id.sum())]
        return suspect

    def _check_plain_lines(self, plain: PlainLines, suspect: np.ndarray, cleared: np.ndarray, file_day: str,
                           file_name: str, source_file: str) -> pa.Table:
        """The plain lines that break a rule or wait as suspects: their position in the batch,
        first broken rule, typed values, file and day.

        The compiled rules (`plain_rules`) cleared nearly every line: the SQL reads only the
        suspects and the lines they left, one conjunction, then rule by rule for the few it leaves.
        """
        table = plain.table.append_column("suspect", pa.array(suspect))
        table = table.append_column("position", pa.array(np.arange(table.num_rows)))
        table = table.filter(pa.array(suspect | ~cleared))
        rules = event_rules(typed=True)
        return query_arrow(self.cursor, "batch_lines", table, f"""
            SELECT position, file_index, line_number, {first_failure_sql(rules)} AS failed_rule,
                   NULL::VARCHAR AS payload, {typed_columns_sql()}, {source_file} AS source_file, {file_name} AS file_name, file_day
            FROM (SELECT *, {file_day} AS file_day FROM batch_lines)
            WHERE suspect OR NOT coalesce({all_rules_sql(rules)}, false)
        """)


@dataclass(frozen=True)
class DeferredLine:
    """A line left to the SQL path, kept with its file until it is checked."""

    day: date
    source: Path
    line_number: int
    text: str


def _cleared(read: Sequence[ReadFile]) -> np.ndarray:
    """Which of the batch's plain lines (in `plain_lines`' order) surely obey the contract."""
    cleared = [obeying(chunk, plain_rules(), file.day) for file in read for chunk in file.chunks]
    return np.concatenate(cleared) if cleared else np.zeros(0, dtype=bool)


def _by_file_sql(values: Sequence[str]) -> str:
    """SQL giving a row's value from its `file_index`, one value per file of the batch."""
    return f"[{', '.join(values)}][file_index + 1]"


def _split_checked(checked: pa.Table | None, read: Sequence[ReadFile]) -> tuple[pa.Table | None, list[tuple]]:
    """A batch's plain lines checked in SQL: the valid ones (to wait), and the refused ones to
    explain (day, file, line, SQL verdict, text cut from their file's bytes)."""
    if checked is None:
        return None, []
    waiting, refused = _split(checked)
    explain = [(read[index].day, str(read[index].source), line, rule, read[index].line_bytes(line).decode("utf-8"))
               for index, line, rule in sorted(zip(refused["file_index"].to_pylist(), refused["line_number"].to_pylist(),
                                                   refused["failed_rule"].to_pylist()))]
    return waiting.drop_columns(["file_index"]), explain


def _split(checked: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Lines checked in SQL: the valid ones, to wait (without their verdict and text), and the refused."""
    valid = pc.is_null(checked["failed_rule"])
    return checked.filter(valid).drop_columns(["failed_rule", "payload"]), checked.filter(pc.invert(valid))


def _unreadable_lines(read: Sequence[ReadFile], unreadable: Sequence[OtherLine]) -> list[dict]:
    """The lines that are not UTF-8, as quarantined, undecodable bytes as \\xNN escapes."""
    return [quarantine_row(read[line.file_index].day, str(read[line.file_index].source), line.line_number, line.text,
                           Rejection(None, "<record>", "unreadable", f"<record>: {line.error}"))
            for line in unreadable]


def _merged(batch: CheckedBatch, deferred: CheckedBatch) -> CheckedBatch:
    """A batch with the deferred lines checked along with it."""
    return CheckedBatch(batch.plain, batch.file_name, batch.waiting + deferred.waiting, batch.refused + deferred.refused,
                        batch.unreadable, batch.blank)


def explain_refused(refused: Sequence[tuple]) -> pa.Table:
    """Each refused line explained by pydantic (field, rule, reason) against its file's day: the
    quarantine's rows, as Arrow (built here, on the explainer's thread, not at the load's end)."""
    return rejects_table([
        quarantine_row(day, source_file, line_number, payload,
                       explain(Event, payload, {"window": day_window(day)}, sql_label=failed_rule))
        for day, source_file, line_number, failed_rule, payload in refused
    ])


def quarantine_row(day: date, source: str, line_number: int, payload: str, why: Rejection) -> dict:
    """One refused line in the shape of raw.events_rejected."""
    # vars, not dataclasses.asdict: its deep copy of four strings costs more than the row itself.
    return {"partition_date": day, "source": source, "line_number": line_number, "payload": payload, **vars(why)}
