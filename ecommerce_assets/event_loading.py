"""Clickstream files -> raw.events, at compiled speed and in bounded memory.

The days of a run (one, or a whole range) are loaded in one transaction:
1. their old rows and rejects are deleted;
2. their files are read and checked batch by batch (`event_batches`), each batch while the
   one before is appended: the plain lines that obey the contract go straight into
   raw.events, with their file and line (compressed; large appends go to disk before
   commit); pydantic explains the few refused lines, into quarantine;
3. a later delivery of an event_id already seen that day (file name, then line order)
   is never appended: it goes to quarantine, so nothing is deleted from freshly written
   data. A line whose id's hash repeats in its batch or was seen in an earlier one waits,
   and all of those are settled on their real ids together at the end.
A failure anywhere rolls every day of the load back to what it was.

The reader (numba) is imported only by a load that has files to read: a run without event
files does not pay for it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from ecommerce_assets.event_contract import EVENT_COLUMNS, EVENT_SPECS, EVENT_STORAGE, EVENTS_TABLE, typed_columns_sql
from ecommerce_assets.loading import DUPLICATE_RULE, LoadResult
from ecommerce_assets.warehouse import (
    Window,
    ensure_tables,
    insert_arrow,
    qualified,
    over_arrow,
    rejected_table,
    rejects_table,
    scalar,
    transaction,
    window_filter,
)

if TYPE_CHECKING:
    from ecommerce_assets.event_batches import CheckedBatch

DayFile = tuple[date, Path]


def _append_plain(con: duckdb.DuckDBPyConnection, batch: CheckedBatch) -> None:
    """Append the batch's plain lines to keep, which obey the contract and are no suspects, straight to raw.events."""
    rows = f"SELECT {typed_columns_sql()}, {batch.file_name} AS file_name, line_number FROM events_plain WHERE keep"
    over_arrow(con, "events_plain", batch.plain, _append_sql(rows))


def _keep_waiting(con: duckdb.DuckDBPyConnection, waiting: pa.Table) -> None:
    """Valid lines that wait as suspects (every valid line the SQL path read among them) wait for `_settle_suspects`."""
    over_arrow(con, "events_waiting", waiting, "INSERT INTO events_suspects BY NAME SELECT * FROM events_waiting")


def _append_sql(rows: str) -> str:
    """The statement appending staged rows (with `file_name` and `line_number`) to raw.events."""
    columns = ", ".join(f'"{spec.name}"' for spec in EVENT_SPECS)
    return f"""
        INSERT INTO {qualified(EVENTS_TABLE)}
        SELECT {columns}, CAST(event_time AS DATE), file_name, line_number, now()::TIMESTAMP
        FROM ({rows})
    """


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
    con.execute(_append_sql("SELECT * FROM events_suspects WHERE rowid NOT IN (SELECT suspect_rowid FROM events_duplicates)"))


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
    ensure_tables(con, EVENTS_TABLE, EVENT_COLUMNS, EVENT_STORAGE)
    rejections: list[dict] = []
    blank: Counter[date] = Counter()
    fields = ", ".join(f'"{spec.name}" {spec.sql_type}' for spec in EVENT_SPECS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE events_suspects "
                f"(line_number BIGINT, {fields}, source_file VARCHAR, file_name VARCHAR, file_day DATE)")
    explained: list[Future] = []
    with transaction(con), ThreadPoolExecutor(max_workers=1) as explainer:
        con.execute(f"DELETE FROM {qualified(EVENTS_TABLE)} WHERE {window_filter('event_date', window)}")
        con.execute(f"DELETE FROM {qualified(rejected_table(EVENTS_TABLE))} WHERE {window_filter('partition_date', window)}")
        if files:
            for read_blank, unreadable, explaining in _load_batches(con, files, explainer):
                blank.update(read_blank)
                rejections += unreadable
                explained.append(explaining)
            _settle_suspects(con, window)
            _quarantine_duplicates(con)
        refused = [future.result() for future in explained]
        insert_arrow(con, rejected_table(EVENTS_TABLE), pa.concat_tables([rejects_table(rejections), *refused]))
    for table in ("events_duplicates", "events_suspects"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return _results_by_day(con, days, window, blank)


def _load_batches(con: duckdb.DuckDBPyConnection, files: Sequence[DayFile],
                  explainer: ThreadPoolExecutor) -> Iterator[tuple[dict[date, int], list[dict], Future]]:
    """Load the files batch by batch: per batch, its blank lines by day, its unreadable lines as
    quarantined, and its refused lines' quarantine rows (explained) under way."""
    from ecommerce_assets.event_batches import checked_batches, explain_refused

    with _threads(con, _append_threads()):
        for batch in checked_batches(con, files):
            if batch.plain is not None:
                _append_plain(con, batch)
            for waiting in batch.waiting:
                _keep_waiting(con, waiting)
            # pydantic holds the GIL and DuckDB does not: explanations overlap the next batch.
            yield batch.blank, batch.unreadable, explainer.submit(explain_refused, batch.refused)


def _append_threads() -> int:
    """DuckDB's threads while batches load: half the cores, the reader and the checks take the rest.

    Measured on 2 cores: one thread appends 250k-row batches in 3.8 CPU-s per 3M rows against
    6.4 for two (whose row groups also come out smaller, a third more file).
    """
    return max(1, (os.cpu_count() or 1) // 2)


@contextmanager
def _threads(con: duckdb.DuckDBPyConnection, threads: int) -> Iterator[None]:
    """DuckDB's thread count (a setting of the database, not the session) set for a while, then restored."""
    before = scalar(con, "SELECT current_setting('threads')")
    con.execute(f"SET threads = {int(threads)}")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(before)}")


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
