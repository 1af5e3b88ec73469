"""The raw layer of the DuckDB warehouse: tables, quarantine, and atomic partition loads.

Every load runs in one transaction: the partition's old rows and rejects are replaced
together, or, on failure, the warehouse is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

RAW_SCHEMA = "raw"

REJECTED_COLUMNS = {
    "partition_date": "DATE",
    "source": "VARCHAR",
    "line_number": "BIGINT",
    "record_key": "VARCHAR",
    "field": "VARCHAR",
    "rule": "VARCHAR",
    "reason": "VARCHAR",
    "payload": "VARCHAR",
    "rejected_at": "TIMESTAMP",
}

Window = tuple[date, date]


@dataclass(frozen=True)
class TableStats:
    rows: int
    rejected: int
    columns: dict[str, str]
    preview: list[dict]


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    """The single value a query returns (the result is read to the end, as DuckDB 2 requires)."""
    return con.execute(sql).fetchall()[0][0]


def qualified(table: str) -> str:
    return f'{RAW_SCHEMA}."{table}"'


def rejected_table(table: str) -> str:
    return f"{table}_rejected"


def create_table_sql(table: str, columns: dict[str, str]) -> str:
    body = ", ".join(f'"{name}" {sql_type}' for name, sql_type in columns.items())
    return f"CREATE TABLE IF NOT EXISTS {qualified(table)} ({body})"


def ensure_tables(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    """The table and its quarantine sibling, created if missing."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(create_table_sql(table, columns))
    con.execute(create_table_sql(rejected_table(table), REJECTED_COLUMNS))


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def window_filter(column: str, window: Window | None, alias: str | None = None) -> str:
    """A predicate keeping rows whose DATE `column` lies in the half-open window (all rows for None)."""
    if window is None:
        return "true"
    start, end = window
    ref = f'{alias}."{column}"' if alias else f'"{column}"'
    return f"{ref} >= DATE '{start.isoformat()}' AND {ref} < DATE '{end.isoformat()}'"


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pa.Table,
    rejects: pa.Table,
    window: Window | None,
    partition_column: str = "partition_date",
) -> None:
    """Replace the window's rows (or the whole table, for a snapshot) and its rejects."""
    with transaction(con):
        con.execute(f"DELETE FROM {qualified(table)} WHERE {window_filter(partition_column, window)}")
        con.execute(f"DELETE FROM {qualified(rejected_table(table))} WHERE {window_filter('partition_date', window)}")
        insert_arrow(con, table, rows)
        insert_arrow(con, rejected_table(table), rejects)


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Append an Arrow table to a raw table, matching columns by name."""
    if not rows.num_rows:
        return
    con.register("incoming_rows", rows)
    try:
        con.execute(f"INSERT INTO {qualified(table)} BY NAME SELECT * FROM incoming_rows")
    finally:
        con.unregister("incoming_rows")


def rejects_table(rows: Sequence[dict]) -> pa.Table:
    """Rejection dicts as an Arrow table with the `_rejected` schema."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    schema = pa.schema(
        [
            ("partition_date", pa.date32()),
            ("source", pa.string()),
            ("line_number", pa.int64()),
            ("record_key", pa.string()),
            ("field", pa.string()),
            ("rule", pa.string()),
            ("reason", pa.string()),
            ("payload", pa.string()),
            ("rejected_at", pa.timestamp("us")),
        ]
    )
    filled = [{**{name: None for name in schema.names}, "rejected_at": now, **row} for row in rows]
    return pa.Table.from_pylist(filled, schema=schema)


def table_stats(con: duckdb.DuckDBPyConnection, table: str, window: Window | None, partition_column: str, preview_rows: int = 5) -> TableStats:
    """Row counts, column schema and a short preview of what a load left, for metadata."""
    where = window_filter(partition_column, window)
    rows = scalar(con, f"SELECT count(*) FROM {qualified(table)} WHERE {where}")
    rejected = scalar(con, f"SELECT count(*) FROM {qualified(rejected_table(table))} WHERE {window_filter('partition_date', window)}")
    described = con.execute(f"DESCRIBE {qualified(table)}").fetchall()
    columns = {name: sql_type for name, sql_type, *_ in described}
    preview_cursor = con.execute(f"SELECT * FROM {qualified(table)} WHERE {where} LIMIT {preview_rows}")
    names = [d[0] for d in preview_cursor.description]
    preview = [dict(zip(names, values)) for values in preview_cursor.fetchall()]
    return TableStats(rows=rows, rejected=rejected, columns=columns, preview=preview)


def connect(path: Path, memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    con = duckdb.connect(str(path), config=config)
    configure_session(con)
    return con


def configure_session(con: duckdb.DuckDBPyConnection, memory_limit: str | None = None) -> None:
    """Every warehouse session: UTC (naive timestamps in the contracts mean UTC; ICU only
    loads after connecting) and, where given, a memory budget beyond which DuckDB spills."""
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
