"""Clickstream files -> raw.events, at compiled speed and in bounded memory.

The days of a run (one, or a whole range) are loaded in one transaction:
1. their old rows and rejects are deleted;
2. files are read in batches of bounded size, across days (many small days make one
   batch). A compiled reader (`line_scanner`, on every core) types the fields of the plain
   lines, JSON objects in the collector's one shape, nearly all of them; DuckDB checks
   those values against the SQL compiled from the pydantic `Event` contract, with the
   line's file's day as the window, and appends the valid ones, with their file and line,
   straight into raw.events (compressed; large appends go to disk before commit). Every
   other line (malformed, a key beyond the contract, an escape, a value of another type)
   meets the whole contract as JSON text in SQL. pydantic explains the few rejected lines
   (a file holding a carriage return is read through a copy that ends its lines as NDJSON
   does: `line_endings`);
3. a later delivery of an event_id already seen that day (file name, then line order)
   is never appended: it goes to quarantine, so nothing is deleted from freshly written
   data. A line whose id's hash repeats in its batch or was seen in an earlier one waits,
   and all of those are settled on their real ids together at the end.
A failure anywhere rolls every day of the load back to what it was.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from ecommerce_assets.contracts import EVENT_REQUIREMENTS, Event, day_window
from ecommerce_assets.line_endings import ReaderFile, is_gzip, open_bytes, reader_files
from ecommerce_assets.loading import DUPLICATE_RULE, LoadResult
from ecommerce_assets.locking import holds
from ecommerce_assets.validation import (
    Rejection,
    Rule,
    all_rules_sql,
    duplicate_key_rule,
    explain,
    field_rules,
    field_specs,
    first_failure_sql,
    found_keys_sql,
    json_paths_sql,
    raw_column,
    raw_sql,
    requirement_rule,
    sql_literal,
    strict_json_end_sql,
    strict_json_rule,
    value_column,
    value_sql,
    window_rule,
)
from ecommerce_assets.warehouse import (
    Window,
    ensure_tables,
    insert_arrow,
    qualified,
    rejected_table,
    rejects_table,
    scalar,
    transaction,
    window_filter,
)

if TYPE_CHECKING:
    from ecommerce_assets.event_reading import FilePart, OtherLine, PlainLines, ReadFile, SeenIds
    from ecommerce_assets.line_scanner import Schema

EVENTS_TABLE = "events"
EVENT_SPECS = field_specs(Event)
EVENT_COLUMNS = {
    **{spec.name: spec.sql_type for spec in EVENT_SPECS},
    "event_date": "DATE",
    "_source_file": "VARCHAR",
    "_source_line": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}
# Text read per batch: the batch's bytes and typed columns are held in memory at once
# (twice: the next batch is read meanwhile). A file larger than a part is read in parts.
BATCH_BYTES = 64 * 1024 * 1024
PART_BYTES = 64 * 1024 * 1024
GZIP_RATIO = 5


DayFile = tuple[date, Path]


@cache
def event_rules(typed: bool = False) -> tuple[Rule, ...]:
    """Every rule of the Event contract, as SQL over a line's JSON text (`file_day` the line's day).

    `typed`: over the values `line_scanner` typed from a plain line instead, a JSON object
    of the contract's keys only, each once, each holding JSON of its field's type or null:
    the record rules and the type rules hold by construction, and every other rule is the
    same SQL.
    """
    by_name = {spec.name: spec for spec in EVENT_SPECS}
    rules = [] if typed else [Rule("<record>", "json_invalid", "parsed"), duplicate_key_rule("key_count", "found_keys", "line"),
                              strict_json_rule("key_count", "found_keys", "line")]
    rules += [rule for spec in EVENT_SPECS for rule in field_rules(spec, typed)]
    rules += [requirement_rule(requirement, by_name, typed) for requirement in EVENT_REQUIREMENTS]
    rules.append(window_rule(by_name["event_time"], "file_day"))
    return tuple(rules)


@cache
def reader_schema() -> Schema:
    """The events' fields as the compiled reader types them.

    The reader (numba) is imported only by a load that has files to read: a run without
    event files does not pay for it.
    """
    from ecommerce_assets.event_reading import reader_schema as schema_of

    return schema_of(EVENT_SPECS, "event_id")


def _text_bytes(path: Path) -> int:
    """About how much text the file holds."""
    return path.stat().st_size * (GZIP_RATIO if is_gzip(path) else 1)


def _expected_lines(files: Sequence[DayFile]) -> dict[date, int]:
    """About how many lines each day's files hold (the collector's lines are some 250 bytes)."""
    lines: Counter[date] = Counter()
    for day, path in files:
        lines[day] += _text_bytes(path) // 200 + 1
    return dict(lines)


def batches(files: Sequence[DayFile]) -> Iterator[list[FilePart]]:
    """Consecutive groups of file parts whose text stays under `BATCH_BYTES`: small files
    together, a large one in parts (a gzip file whole)."""
    from ecommerce_assets.event_reading import FilePart

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


def _register_batch_files(con: duckdb.DuckDBPyConnection, files: Sequence[ReadFile]) -> tuple[str, str]:
    """The batch's files as a temp table, and SQL giving a row's day and file name from its `file_index`."""
    rows = ", ".join(
        f"({file.index}::INTEGER, {sql_literal(str(file.source))}, {sql_literal(file.source.name)}, {sql_literal(file.day)}::DATE)"
        for file in files
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events_batch_files AS
        SELECT * FROM (VALUES {rows}) AS f(file_index, source_file, file_name, file_day)
        """
    )
    days = ", ".join(f"{sql_literal(file.day)}::DATE" for file in files)
    names = ", ".join(sql_literal(file.source.name) for file in files)
    return f"[{days}][file_index + 1]", f"[{names}][file_index + 1]"


def stage_other_lines(con: duckdb.DuckDBPyConnection, lines: Sequence[OtherLine], file_day: str) -> None:
    """The lines the scanner left (anything but plain) checked against the whole contract as JSON text,
    into `events_checked`: typed values and each line's first broken rule.

    Each field's JSON text and typed value are computed once, innermost, because DuckDB
    does not share repeated expressions between the rules. JSON is parsed only when valid:
    TRY() falls back to row-by-row evaluation for every vector holding a bad line. The
    fields' text comes from one `json_extract`, which tells a null-valued key from a
    missing one, as the repeated-key rule needs.
    """
    readable = [line for line in lines if line.text is not None]
    table = pa.table({
        "file_index": pa.array([line.file_index for line in readable], pa.int32()),
        "line_number": pa.array([line.line_number for line in readable], pa.int64()),
        "line": pa.array([line.text for line in readable], pa.string()),
    })
    raws = ", ".join(f"{raw_sql(i)}::VARCHAR AS {raw_column(spec)}" for i, spec in enumerate(EVENT_SPECS))
    values = ", ".join(f"{value_sql(spec)} AS {value_column(spec)}" for spec in EVENT_SPECS)
    con.register("events_other_lines", table)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE events_checked AS
            SELECT file_index, line_number, {first_failure_sql(event_rules())} AS failed_rule, line AS payload, {_typed_columns()}
            FROM (
                SELECT *, {values}
                FROM (
                    SELECT file_index, line_number, file_day, line, parsed, key_count, {found_keys_sql(EVENT_SPECS)} AS found_keys, {raws}
                    FROM (
                        SELECT *, json_extract(CASE WHEN parsed THEN line END, {json_paths_sql(EVENT_SPECS)}) AS j,
                               CASE WHEN parsed THEN len(json_keys(line)) END AS key_count
                        FROM (
                            SELECT file_index, line_number, {file_day} AS file_day, line,
                                   json_valid(line) AND {strict_json_end_sql('line')} AS parsed
                            FROM events_other_lines
                        )
                    )
                )
            )
            """
        )
    finally:
        con.unregister("events_other_lines")


def _typed_columns() -> str:
    return ", ".join(f'{value_column(spec)} AS "{spec.name}"' for spec in EVENT_SPECS)


def _plain_sql(file_day: str) -> str:
    return f"(SELECT *, {file_day} AS file_day FROM events_plain)"


def _plain_leftovers(con: duckdb.DuckDBPyConnection, plain: PlainLines, suspect: np.ndarray, file_day: str) -> np.ndarray:
    """The positions of the plain lines that break a rule or wait as suspects.

    The rules run once, over the few columns they read; only the lines found are then
    copied (from Arrow) and checked again, to name their broken rule.
    """
    table = plain.table.append_column("suspect", pa.array(suspect))
    con.register("events_plain", table.append_column("position", pa.array(np.arange(table.num_rows))))
    try:
        return con.execute(
            f"SELECT position FROM {_plain_sql(file_day)} WHERE suspect OR NOT coalesce({all_rules_sql(event_rules(typed=True))}, false)"
        ).fetchnumpy()["position"]
    finally:
        con.unregister("events_plain")


def _stage_plain_leftovers(con: duckdb.DuckDBPyConnection, plain: PlainLines, leftovers: np.ndarray, file_day: str) -> None:
    """Add to `events_checked` the plain lines that break a rule or wait as suspects, with the first rule broken."""
    con.register("events_plain", plain.table.take(leftovers))
    try:
        con.execute(
            f"""
            INSERT INTO events_checked
            SELECT file_index, line_number, {first_failure_sql(event_rules(typed=True))} AS failed_rule, NULL AS payload, {_typed_columns()}
            FROM {_plain_sql(file_day)}
            """
        )
    finally:
        con.unregister("events_plain")


def _append_plain(con: duckdb.DuckDBPyConnection, plain: PlainLines, leftovers: np.ndarray, file_name: str) -> None:
    """Append the other plain lines, which obey the contract and are no suspects, straight to raw.events."""
    keep = np.ones(plain.table.num_rows, dtype=bool)
    keep[leftovers] = False
    values = ", ".join(value_column(spec) for spec in EVENT_SPECS)
    event_time = value_column(next(spec for spec in EVENT_SPECS if spec.name == "event_time"))
    con.register("events_plain", plain.table.append_column("keep", pa.array(keep)))
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(
            f"""
            INSERT INTO {qualified(EVENTS_TABLE)}
            SELECT {values}, CAST({event_time} AS DATE), {file_name}, line_number, now()::TIMESTAMP
            FROM events_plain WHERE keep
            """
        )
    finally:
        con.execute("RESET preserve_insertion_order")
        con.unregister("events_plain")


def _keep_suspects(con: duckdb.DuckDBPyConnection) -> None:
    """Valid checked lines (suspects, and every valid line the SQL path read) wait for `_settle_suspects`."""
    suspects = """
        SELECT c.* EXCLUDE (failed_rule, payload), f.source_file, f.file_name, f.file_day
        FROM events_checked c JOIN events_batch_files f USING (file_index)
        WHERE c.failed_rule IS NULL
    """
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS events_suspects AS {suspects} WITH NO DATA")
    con.execute(f"INSERT INTO events_suspects {suspects}")


def _suspects(con: duckdb.DuckDBPyConnection, files: Sequence[ReadFile], plain: PlainLines, seen: SeenIds) -> np.ndarray:
    """Which plain lines are suspects, from the ids seen so far; the batch's ids are then seen.

    The ids of valid lines the SQL path read (all of them suspects) count as seen too, so
    a plain line repeating one of them waits with it.
    """
    from ecommerce_assets.event_reading import hash_ids

    other = con.execute("SELECT file_index, event_id FROM events_checked WHERE failed_rule IS NULL").fetchall()
    other_days = [files[index].day for index, _ in other]
    hashes = np.concatenate([plain.id_hash[plain.has_id], hash_ids([i for _, i in other], other_days)])
    ordinals = np.concatenate([plain.day_ordinal[plain.has_id], np.array([d.toordinal() for d in other_days], dtype=np.int64)])
    suspect = np.zeros(len(plain.id_hash), dtype=bool)
    suspect[plain.has_id] = seen.suspects(hashes, ordinals)[: int(plain.has_id.sum())]
    return suspect


def _append_rows(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    """Append staged rows (with `file_name` and `line_number`) to raw.events."""
    columns = ", ".join(f'"{spec.name}"' for spec in EVENT_SPECS)
    con.execute(
        f"""
        INSERT INTO {qualified(EVENTS_TABLE)}
        SELECT {columns}, CAST(event_time AS DATE), file_name, line_number, now()::TIMESTAMP
        FROM ({rows})
        """
    )


def _settle_suspects(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    """Suspects whose id is already loaded that day, or repeated among them, are duplicates; the rest load."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events_duplicates AS
        WITH loaded_before AS (
            SELECT DISTINCT event_id, event_date AS file_day FROM {qualified(EVENTS_TABLE)}
            WHERE {window_filter('event_date', window)} AND event_id IN (SELECT event_id FROM events_suspects)
        ),
        ranked AS (
            SELECT *, rowid AS suspect_rowid,
                   row_number() OVER (PARTITION BY event_id, file_day ORDER BY source_file, line_number) AS delivery
            FROM events_suspects
        )
        SELECT * FROM ranked WHERE delivery > 1 OR (event_id, file_day) IN (SELECT (event_id, file_day) FROM loaded_before)
        """
    )
    _append_rows(con, "SELECT * FROM events_suspects WHERE rowid NOT IN (SELECT suspect_rowid FROM events_duplicates)")


def _quarantine_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Record the duplicate deliveries found (`events_duplicates`) in quarantine, each under its day."""
    record = ", ".join(f'"{spec.name}" := "{spec.name}"' for spec in EVENT_SPECS)
    con.execute(
        f"""
        INSERT INTO {qualified(rejected_table(EVENTS_TABLE))} BY NAME
        SELECT file_day AS partition_date, source_file AS source,
               line_number, event_id AS record_key, 'event_id' AS field, '{DUPLICATE_RULE}' AS rule,
               'event_id: duplicate delivery of ' || event_id || ', kept once (first delivery wins)' AS reason,
               to_json(struct_pack({record}))::VARCHAR AS payload, now()::TIMESTAMP AS rejected_at
        FROM events_duplicates
        """
    )


def _refused_lines(con: duckdb.DuckDBPyConnection, files: Sequence[ReadFile], unreadable: Sequence[OtherLine]) -> tuple[list[tuple], list[dict]]:
    """The batch's lines to explain (day, file, line, SQL verdict, text), and its unreadable lines as quarantined.

    A plain line's text is cut from its file's bytes; a line read from a newline copy is
    explained and kept as its file has it.
    """
    refused = con.execute(
        "SELECT file_index, line_number, failed_rule, payload FROM events_checked WHERE failed_rule IS NOT NULL ORDER BY file_index, line_number"
    ).fetchall()
    wanted = {(index, line) for index, line, _, _ in refused} | {(line.file_index, line.line_number) for line in unreadable}
    originals = _original_lines({(str(files[index].source), line) for index, line in wanted if files[index].read_as.copied})
    explain = []
    for index, line, rule, payload in refused:
        file = files[index]
        text = payload if payload is not None else file.line_bytes(line).decode("utf-8")
        explain.append((file.day, str(file.source), line, rule, originals.get((str(file.source), line), text)))
    quarantined = []
    for line in unreadable:
        file = files[line.file_index]
        payload = file.line_bytes(line.line_number).decode("utf-8", "backslashreplace")
        quarantined.append(_quarantine_row(file.day, str(file.source), line.line_number,
                                           originals.get((str(file.source), line.line_number), payload),
                                           Rejection(None, "<record>", "unreadable", f"<record>: {line.error}")))
    return explain, quarantined


def _original_lines(wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The text of each (file, line) as the file has it, undecodable bytes as \\xNN escapes.

    For refused lines read from a newline copy, whose text in memory is the copy's: only
    files holding a carriage return, rarely any.
    """
    found: dict[tuple[str, int], str] = {}
    for source_file in sorted({source_file for source_file, _ in wanted}):
        numbers = {line for name, line in wanted if name == source_file}
        with open_bytes(Path(source_file)) as lines:
            for number, raw in enumerate(lines, 1):
                if number in numbers:
                    found[(source_file, number)] = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
                    numbers.discard(number)
                    if not numbers:
                        break
    return found


def explain_refused(refused: Sequence[tuple]) -> list[dict]:
    """Each refused line explained by pydantic (field, rule, reason) against its file's day, as quarantined."""
    return [
        _quarantine_row(day, source_file, line_number, payload,
                        explain(Event, payload, {"window": day_window(day)}, sql_label=failed_rule))
        for day, source_file, line_number, failed_rule, payload in refused
    ]


def _quarantine_row(day: date, source: str, line_number: int, payload: str, why: Rejection) -> dict:
    """One refused line in the shape of raw.events_rejected."""
    return {"partition_date": day, "source": source, "line_number": line_number, "payload": payload, **asdict(why)}


def load_events(con: duckdb.DuckDBPyConnection, files: Sequence[Path], window: Window) -> LoadResult:
    """Replace one day's events (`window`, one day) with the valid, deduplicated lines of `files`."""
    day, end = window
    if end != day + timedelta(days=1):
        raise ValueError(f"load_events takes one day's window, got [{day}, {end}): use load_event_days")
    return load_event_days(con, {day: files})[day]


def load_event_days(con: duckdb.DuckDBPyConnection, files_by_day: Mapping[date, Sequence[Path]]) -> dict[date, LoadResult]:
    """Replace each day's events with the valid, deduplicated lines of its files, all days in one transaction.

    The days must follow one another (a partition range); what each day got is returned by day.
    """
    if not files_by_day:
        return {}
    days = sorted(files_by_day)
    window = (days[0], days[-1] + timedelta(days=1))
    if len(days) != (window[1] - window[0]).days:
        raise ValueError(f"the days to load must follow one another, got {[d.isoformat() for d in days]}")
    files = [(day, path) for day in days for path in files_by_day[day]]
    ensure_tables(con, EVENTS_TABLE, EVENT_COLUMNS)
    rejections: list[dict] = []
    blank: Counter[date] = Counter()
    con.execute("DROP TABLE IF EXISTS events_suspects")
    explained: list[Future] = []
    with scratch_folder(con) as scratch, \
            transaction(con), ThreadPoolExecutor(max_workers=1) as explainer:
        read_as = reader_files([path for _, path in files], Path(scratch))
        con.execute(f"DELETE FROM {qualified(EVENTS_TABLE)} WHERE {window_filter('event_date', window)}")
        con.execute(f"DELETE FROM {qualified(rejected_table(EVENTS_TABLE))} WHERE {window_filter('partition_date', window)}")
        if files:
            for read_blank, unreadable, explaining in _load_batches(con, files, read_as, explainer):
                blank.update(read_blank)
                rejections += unreadable
                explained.append(explaining)
            _settle_suspects(con, window)
            _quarantine_duplicates(con)
        rejections += [rejection for future in explained for rejection in future.result()]
        insert_arrow(con, rejected_table(EVENTS_TABLE), rejects_table(rejections))
    for table in ("events_checked", "events_batch_files", "events_duplicates", "events_suspects"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return _results_by_day(con, days, window, blank)


def _load_batches(con: duckdb.DuckDBPyConnection, files: Sequence[DayFile], read_as: Mapping[Path, ReaderFile],
                  explainer: ThreadPoolExecutor) -> Iterator[tuple[dict[date, int], list[dict], Future]]:
    """Load the files batch by batch: per batch, its blank lines by day, its unreadable lines as
    quarantined, and the explanation of its refused lines under way."""
    from ecommerce_assets.event_reading import SeenIds, blank_lines, other_lines, plain_lines

    seen = SeenIds(_expected_lines(files))
    lines_before: Counter[Path] = Counter()
    for batch, read in _read_ahead(list(batches(files)), read_as):
        # Files come in day order: the days before this batch's first are complete.
        seen.forget_before(batch[0].day)
        for file in read:
            file.first_line = lines_before[file.source] + 1
            lines_before[file.source] += file.line_count
        file_day, file_name = _register_batch_files(con, read)
        others = other_lines(read)
        stage_other_lines(con, others, file_day)
        plain = plain_lines(read, EVENT_SPECS, reader_schema())
        suspect = _suspects(con, read, plain, seen)
        if plain.table is not None:
            leftovers = _plain_leftovers(con, plain, suspect, file_day)
            _append_plain(con, plain, leftovers, file_name)
            _stage_plain_leftovers(con, plain, leftovers, file_day)
        _keep_suspects(con)
        refused, unreadable = _refused_lines(con, read, [line for line in others if line.text is None])
        # pydantic holds the GIL and DuckDB does not: explanations overlap the next batch.
        yield blank_lines(read), unreadable, explainer.submit(explain_refused, refused)


def _read_ahead(batch_list: list[list[FilePart]], read_as: Mapping[Path, ReaderFile]) -> Iterator[tuple[list[FilePart], list[ReadFile]]]:
    """Each batch with its files read, the next one read meanwhile.

    DuckDB's append of a batch keeps about one and a half cores busy; the next batch's
    read fills the rest. Two readers take turns, so a batch's arrays stay valid while the
    next is read into the other's memory.
    """
    from ecommerce_assets.event_reading import BatchReader

    readers = (BatchReader(reader_schema()), BatchReader(reader_schema()))
    with ThreadPoolExecutor(max_workers=1) as ahead:
        pending = ahead.submit(readers[0].read, batch_list[0], read_as) if batch_list else None
        for n, batch in enumerate(batch_list):
            read = pending.result()
            if n + 1 < len(batch_list):
                pending = ahead.submit(readers[(n + 1) % 2].read, batch_list[n + 1], read_as)
            yield batch, read


def scratch_folder(con: duckdb.DuckDBPyConnection) -> tempfile.TemporaryDirectory:
    """The load's scratch folder, removed when the load ends.

    Beside the warehouse it is named after the warehouse file, and the folders of loads that
    were killed (a SIGKILL skips every clean-up) go first: only the holder of the write lock
    loads, so no other load is using them.
    """
    parent = scratch_parent(con)
    database = scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    if parent is None or not database:
        return tempfile.TemporaryDirectory(prefix="ecommerce-events-")
    prefix = f"{Path(database).name}.events-"
    if holds(database):
        for left in parent.iterdir():
            if left.name.startswith(prefix) and left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=parent)


def scratch_parent(con: duckdb.DuckDBPyConnection) -> Path | None:
    """Where newline copies go: beside the warehouse file, where DuckDB spills (None: the system's temp dir).

    A copy is as large as its file, and the system's temp dir is often in memory (tmpfs).
    """
    spill = Path(scalar(con, "SELECT current_setting('temp_directory')"))
    return spill.parent if spill.is_absolute() and spill.parent.is_dir() else None


def _results_by_day(con: duckdb.DuckDBPyConnection, days: Sequence[date], window: Window,
                    blank_lines: Mapping[date, int]) -> dict[date, LoadResult]:
    """What each day (of `window`) holds now: every line read was loaded, rejected, a duplicate or blank."""
    loaded = dict(con.execute(
        f"SELECT event_date, count(*) FROM {qualified(EVENTS_TABLE)} WHERE {window_filter('event_date', window)} GROUP BY 1"
    ).fetchall())
    refused = {day: (rejected, duplicates) for day, rejected, duplicates in con.execute(
        f"""
        SELECT partition_date, count(*) FILTER (rule <> '{DUPLICATE_RULE}'), count(*) FILTER (rule = '{DUPLICATE_RULE}')
        FROM {qualified(rejected_table(EVENTS_TABLE))} WHERE {window_filter('partition_date', window)} GROUP BY 1
        """
    ).fetchall()}
    results = {}
    for day in days:
        rejected, duplicates = refused.get(day, (0, 0))
        blank = blank_lines.get(day, 0)
        results[day] = LoadResult(loaded=loaded.get(day, 0), rejected=rejected, duplicates=duplicates,
                                  lines=loaded.get(day, 0) + rejected + duplicates + blank, blank=blank)
    return results
