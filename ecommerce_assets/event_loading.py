"""Clickstream files -> raw.events, at columnar speed and in bounded memory.

The days of a run (one, or a whole range) are loaded in one transaction:
1. their old rows and rejects are deleted;
2. files are read in batches of bounded size, across days (many small days make one
   batch); DuckDB checks every line against the SQL compiled from the pydantic `Event`
   contract, with its file's day as the window, and appends the valid ones, with their
   file and line, straight into raw.events (compressed; large appends go to disk before
   commit), while pydantic explains the few rejected lines (a file holding a carriage
   return is read through a copy that ends its lines as NDJSON does: `line_endings`);
3. a later delivery of an event_id already seen that day (file name, then line order)
   is never appended: it goes to quarantine, so nothing is deleted from freshly written
   data. Repeats inside a batch are settled with the batch; a row whose id an earlier
   batch may have loaded waits, and all of those are settled together at the end.
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
from pathlib import Path

import duckdb

from ecommerce_assets.contracts import EVENT_REQUIREMENTS, Event, day_window
from ecommerce_assets.line_endings import ReaderFile, is_gzip, open_bytes, reader_files
from ecommerce_assets.loading import DUPLICATE_RULE, LoadResult
from ecommerce_assets.locking import holds
from ecommerce_assets.validation import (
    Rejection,
    Rule,
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

EVENTS_TABLE = "events"
EVENT_SPECS = field_specs(Event)
EVENT_COLUMNS = {
    **{spec.name: spec.sql_type for spec in EVENT_SPECS},
    "event_date": "DATE",
    "_source_file": "VARCHAR",
    "_source_line": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}
# Text read per batch: bounds the staging table's memory whatever the day's volume
# (DuckDB spills beyond its limit). Each batch probes every id loaded before it, so
# fewer, larger batches cost less: 512 MB ran faster than 128 MB at 10M events, at
# the same peak memory (measured).
BATCH_BYTES = 512 * 1024 * 1024
GZIP_RATIO = 5
BLANK = "blank"


DayFile = tuple[date, Path]


def event_rules() -> list[Rule]:
    """Every rule of the Event contract, as SQL over the staged columns (`file_day` the line's day)."""
    by_name = {spec.name: spec for spec in EVENT_SPECS}
    rules = [Rule("<record>", "json_invalid", "parsed"), duplicate_key_rule("key_count", "found_keys", "line"),
             strict_json_rule("key_count", "found_keys", "line")]
    rules += [rule for spec in EVENT_SPECS for rule in field_rules(spec)]
    rules += [requirement_rule(requirement, by_name) for requirement in EVENT_REQUIREMENTS]
    rules.append(window_rule(by_name["event_time"], "file_day"))
    return rules


def batches(files: Sequence[DayFile]) -> Iterator[list[DayFile]]:
    """Consecutive groups of (day, file) whose text stays under `BATCH_BYTES` (a big file alone)."""
    batch, size = [], 0
    for day, path in files:
        weight = path.stat().st_size * (GZIP_RATIO if is_gzip(path) else 1)
        if batch and size + weight > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append((day, path))
        size += weight
    if batch:
        yield batch


def _read_lines_sql(paths: str) -> str:
    """The batch's lines, read from `paths` (the items of a SQL list of file names)."""
    # One VARCHAR column per line: a control byte no valid JSON line contains is the
    # delimiter. Undecodable lines go to DuckDB's rejects tables instead of failing.
    return (
        f"read_csv([{paths}], columns={{'line': 'VARCHAR'}}, delim='\\x1f', quote='', escape='', "
        "header=false, auto_detect=false, strict_mode=false, ignore_errors=true, "
        "store_rejects=true, rejects_table='events_unreadable', rejects_scan='events_unreadable_scan')"
    )


def stage_batch(con: duckdb.DuckDBPyConnection, files: Sequence[DayFile], read_as: Mapping[Path, ReaderFile]) -> None:
    """One pass over a batch into a temp table: typed values and each line's first broken rule.

    Each file is read as `read_as` says: a link or a newline copy (`line_endings`).

    Each field's JSON text and typed value are computed once, innermost, because DuckDB
    does not share repeated expressions between the rules. JSON is parsed only when valid:
    TRY() falls back to row-by-row evaluation for every vector holding a bad line, and even
    without one costs more than json_valid() (measured). The guard picks the line, not the
    parsed struct: a CASE over an 11-field struct copies it (the parse alone over 2M lines,
    1.31 against 0.73 s). The fields' text comes from one `json_extract`, which tells a
    null-valued key from a missing one, as the repeated-key rule needs; with `json_keys`
    it costs about 0.4 s per million lines more than a `from_json` into a struct did.
    """
    raws = ", ".join(f"{raw_sql(i)}::VARCHAR AS {raw_column(spec)}" for i, spec in enumerate(EVENT_SPECS))
    values = ", ".join(f"{value_sql(spec)} AS {value_column(spec)}" for spec in EVENT_SPECS)
    typed = ", ".join(f'{value_column(spec)} AS "{spec.name}"' for spec in EVENT_SPECS)
    con.execute("DROP TABLE IF EXISTS events_unreadable")
    con.execute("DROP TABLE IF EXISTS events_unreadable_scan")
    paths = ", ".join(sql_literal(str(read_as[p].path)) for _, p in files)
    days = ", ".join(f"{sql_literal(day)}::DATE" for day, _ in files)
    rows = ", ".join(
        f"({index}::BIGINT, {sql_literal(str(p))}, {sql_literal(p.name)}, {sql_literal(str(read_as[p].path))}, {read_as[p].copied}, {sql_literal(day)}::DATE)"
        for index, (day, p) in enumerate(files)
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events_batch_files AS
        SELECT * FROM (VALUES {rows}) AS f(file_index, source_file, file_name, read_file, copied, file_day)
        """
    )
    # The reader's file_index (the file's position in the list) per row, not its path;
    # valid rows are hashed with their day, as duplicates are settled within a day.
    # A blank line (nothing but JSON's whitespace; a CR is read as a tab) is no record:
    # it is counted ('blank'), neither loaded nor refused.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events_checked AS
        SELECT file_index, failed_rule,
               CASE WHEN failed_rule <> '{BLANK}' THEN line END AS payload,
               CASE WHEN failed_rule IS NULL THEN hash("val__event_id", file_day) END AS id_hash, {typed}
        FROM (
            SELECT *, CASE WHEN line IS NULL OR (NOT parsed AND regexp_full_match(line, '[ \t]*')) THEN '{BLANK}'
                           ELSE {first_failure_sql(event_rules())} END AS failed_rule
            FROM (
                SELECT *, {values}
                FROM (
                    SELECT file_index, file_day, line, parsed, key_count, {found_keys_sql(EVENT_SPECS)} AS found_keys, {raws}
                    FROM (
                        SELECT *, json_extract(CASE WHEN parsed THEN line END, {json_paths_sql(EVENT_SPECS)}) AS j,
                               CASE WHEN parsed THEN len(json_keys(line)) END AS key_count
                        FROM (
                            SELECT file_index, [{days}][file_index::BIGINT + 1] AS file_day, line, json_valid(line) AND {strict_json_end_sql('line')} AS parsed
                            FROM {_read_lines_sql(paths)}
                        )
                    )
                )
            )
        )
        """
    )


def _number_lines(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for a staged row's line number in its file (`c` the staged row, `f` its file).

    Staged rows keep file order (insertion order is preserved), so a row's ordinal in its
    file is its rowid offset; lines the reader refused (bad encoding) are counted back in.
    The same pass counts each file's blank lines.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events_files AS
        SELECT f.file_index, f.source_file, f.read_file, f.copied, f.file_day, f.file_name, min(c.rowid) AS first_rowid,
               count(*) FILTER (c.failed_rule = '{BLANK}') AS blank_lines
        FROM events_batch_files f JOIN events_checked c USING (file_index) GROUP BY ALL
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE events_skipped AS
        SELECT s.file_path AS read_file,
               e.line - row_number() OVER (PARTITION BY s.file_path ORDER BY e.line) AS readable_before
        FROM (SELECT DISTINCT scan_id, file_id, line FROM events_unreadable) e
        JOIN events_unreadable_scan s USING (scan_id, file_id)
        """
    )
    ordinal = "(c.rowid - f.first_rowid + 1)"
    if not scalar(con, "SELECT count(*) FROM events_skipped"):
        return ordinal
    skipped_before = f"(SELECT count(*) FROM events_skipped s WHERE s.read_file = f.read_file AND s.readable_before < {ordinal})"
    return f"{ordinal} + {skipped_before}"


def _staged_rows(line_number: str) -> str:
    """The batch's staged rows with their file, day and line (`c`, `f`, `line_number`)."""
    return f"""
        SELECT c.rowid AS staged_rowid, c.*, f.source_file, f.file_day, f.file_name, {line_number} AS line_number
        FROM events_checked c JOIN events_files f USING (file_index)
    """


def _find_repeats(con: duckdb.DuckDBPyConnection, line_number: str) -> None:
    """Split off the batch's rows whose event_id may have been delivered before.

    8-byte hashes of every (id, day) loaded so far (`events_seen`, the days still open)
    keep this cheap:
    - `events_duplicates`: later deliveries of an id repeated that day inside this batch;
    - `events_suspects`: rows whose hash an earlier batch already loaded. They wait for
      `_settle_suspects`, which compares real ids once for the whole load, so a hash
      collision never drops an event and the loaded days are scanned once, not per batch.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE events_batch_hashes AS
        SELECT id_hash AS h, any_value(f.file_day) AS d, count(*) AS n
        FROM events_checked c JOIN events_batch_files f USING (file_index)
        WHERE id_hash IS NOT NULL GROUP BY 1
        """
    )
    # The batch's hashes are the join's build side: the day's seen hashes are only scanned.
    con.execute("CREATE OR REPLACE TEMP TABLE events_batch_seen AS SELECT h FROM events_seen SEMI JOIN events_batch_hashes USING (h)")
    suspects = f"SELECT * FROM ({_staged_rows(line_number)}) WHERE id_hash IN (SELECT h FROM events_batch_seen)"
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS events_suspects AS {suspects} WITH NO DATA")
    con.execute(f"INSERT INTO events_suspects {suspects}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events_duplicates AS
        WITH repeated_here AS (
            SELECT h FROM events_batch_hashes WHERE n > 1 AND h NOT IN (SELECT h FROM events_batch_seen)
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY event_id, file_day ORDER BY source_file, line_number) AS delivery
            FROM ({_staged_rows(line_number)}) WHERE id_hash IN (SELECT h FROM repeated_here)
        )
        SELECT * FROM ranked WHERE delivery > 1
        """
    )
    con.execute("INSERT INTO events_seen SELECT h, d FROM events_batch_hashes WHERE h NOT IN (SELECT h FROM events_batch_seen)")


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


def _append_valid(con: duckdb.DuckDBPyConnection, line_number: str) -> None:
    _append_rows(
        con,
        f"""
        SELECT * FROM ({_staged_rows(line_number)})
        WHERE id_hash IS NOT NULL
          AND staged_rowid NOT IN (SELECT staged_rowid FROM events_duplicates)
          AND id_hash NOT IN (SELECT h FROM events_batch_seen)
        """,
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


def _refused_lines(con: duckdb.DuckDBPyConnection, line_number: str) -> tuple[list[tuple], list[dict]]:
    """The batch's lines to explain (day, file, line, SQL verdict, text), and its unreadable lines as quarantined.

    A line read from a newline copy is explained and kept as its file has it.
    """
    refused = con.execute(
        f"""
        SELECT f.file_day, f.source_file, {line_number}, c.failed_rule, c.payload, f.copied
        FROM events_checked c JOIN events_files f USING (file_index)
        WHERE c.payload IS NOT NULL
        """
    ).fetchall()
    unreadable = con.execute(
        """
        SELECT DISTINCT f.file_day, f.source_file, e.line, e.csv_line, e.error_message
        FROM events_unreadable e JOIN events_unreadable_scan s USING (scan_id, file_id)
        JOIN events_batch_files f ON f.read_file = s.file_path
        ORDER BY 2, 3
        """
    ).fetchall()
    originals = _original_lines({(source_file, line) for _, source_file, line, _, _ in unreadable} |
                                {(source_file, line) for _, source_file, line, _, _, copied in refused if copied})
    refused = [(day, source_file, line, rule, originals.get((source_file, line), payload))
               for day, source_file, line, rule, payload, _ in refused]
    return refused, [
        _quarantine_row(day, source_file, line_number, originals.get((source_file, line_number), payload),
                        Rejection(None, "<record>", "unreadable", f"<record>: {message}"))
        for day, source_file, line_number, payload, message in unreadable
    ]


def _original_lines(wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The text of each (file, line) as the file has it, undecodable bytes as \\xNN escapes.

    For lines the reader could not decode (DuckDB's rejects table shows such bytes as '?')
    or read from a newline copy: only files that have such lines, rarely any.
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
    blank_lines: Counter[date] = Counter()
    con.execute("CREATE OR REPLACE TEMP TABLE events_seen (h UBIGINT, d DATE)")
    con.execute("DROP TABLE IF EXISTS events_suspects")
    explained: list[Future] = []
    with scratch_folder(con) as scratch, \
            transaction(con), ThreadPoolExecutor(max_workers=1) as explainer:
        read_as = reader_files([path for _, path in files], Path(scratch))
        con.execute(f"DELETE FROM {qualified(EVENTS_TABLE)} WHERE {window_filter('event_date', window)}")
        con.execute(f"DELETE FROM {qualified(rejected_table(EVENTS_TABLE))} WHERE {window_filter('partition_date', window)}")
        for batch in batches(files):
            # Files come in day order: the days before this batch's first are complete.
            con.execute(f"DELETE FROM events_seen WHERE d < {sql_literal(batch[0][0])}::DATE")
            stage_batch(con, batch, read_as)
            line_number = _number_lines(con)
            blank_lines.update(_blank_lines(con))
            _find_repeats(con, line_number)
            _append_valid(con, line_number)
            _quarantine_duplicates(con)
            refused, unreadable = _refused_lines(con, line_number)
            # pydantic holds the GIL and DuckDB does not: explanations overlap the next batch.
            explained.append(explainer.submit(explain_refused, refused))
            rejections += unreadable
        if files:
            _settle_suspects(con, window)
            _quarantine_duplicates(con)
        rejections += [rejection for future in explained for rejection in future.result()]
        insert_arrow(con, rejected_table(EVENTS_TABLE), rejects_table(rejections))
    for table in ("events_checked", "events_batch_files", "events_files", "events_skipped", "events_seen", "events_batch_hashes", "events_batch_seen", "events_duplicates", "events_suspects"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return _results_by_day(con, days, window, blank_lines)


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


def _blank_lines(con: duckdb.DuckDBPyConnection) -> dict[date, int]:
    """The staged batch's blank lines, per day (counted by `_number_lines`)."""
    return dict(con.execute("SELECT file_day, sum(blank_lines)::BIGINT FROM events_files GROUP BY 1").fetchall())


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
