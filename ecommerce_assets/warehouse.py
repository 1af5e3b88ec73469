"""The raw layer of the DuckDB warehouse: tables, quarantine, and atomic partition loads.

Every load runs in one transaction: the partition's old rows and rejects are replaced
together, or, on failure, the warehouse is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

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
    """What a table holds after a load: `table_rows` in all and, for a partitioned table,
    the rows of each day of the load's `window` that has any (None for a snapshot)."""

    columns: dict[str, str]
    preview: list[dict]
    table_rows: int
    window: Window | None
    rows_by_day: dict[date, int] | None


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    """The single value a query returns (the result is read to the end, as DuckDB 2 requires)."""
    return con.execute(sql).fetchall()[0][0]


def qualified(table: str) -> str:
    return f'{RAW_SCHEMA}."{table}"'


def rejected_table(table: str) -> str:
    return f"{table}_rejected"


def create_table_sql(table: str, columns: dict[str, str], storage: Mapping[str, str] | None = None) -> str:
    """`storage`: how DuckDB stores some columns (`USING COMPRESSION ...`), by name."""
    storage = storage or {}
    body = ", ".join(f'"{name}" {sql_type}' + (f" {storage[name]}" if name in storage else "") for name, sql_type in columns.items())
    return f"CREATE TABLE IF NOT EXISTS {qualified(table)} ({body})"


class RawTableShapeError(ValueError):
    """A raw table exists with other columns than this version writes."""


def ensure_tables(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
                  storage: Mapping[str, str] | None = None) -> None:
    """The table (with `storage`, see `create_table_sql`) and its quarantine sibling, created
    if missing, and checked if not.

    An existing table keeps the columns it was created with, and rows are appended by
    position: a table from another version of the project is refused before anything is
    written, rather than loaded into the wrong columns or failing half-way.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for name, shape, how in ((table, columns, storage), (rejected_table(table), REJECTED_COLUMNS, None)):
        con.execute(create_table_sql(name, shape, how))
        check_table_shape(con, name, shape)


def check_table_shape(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    """Raise `RawTableShapeError` naming each difference between the table and `columns`."""
    found = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [RAW_SCHEMA, table],
    ).fetchall()
    # DuckDB's own spelling of each declared type (INT is INTEGER, FLOAT8 is DOUBLE).
    spelled = con.execute("SELECT " + ", ".join(f"typeof(NULL::{sql_type})" for sql_type in columns.values())).fetchall()[0]
    expected = list(zip(columns, spelled))
    if found == expected:
        return
    raise RawTableShapeError(
        f"{qualified(table)} does not have the columns this version writes, so nothing was loaded: "
        f"{'; '.join(shape_differences(found, expected))}. The table was created by another version "
        "of ecommerce_assets: rebuild the raw layer (`make clean`, then `make run`) or migrate the table to "
        f"({', '.join(f'{name} {sql_type}' for name, sql_type in expected)})."
    )


def shape_differences(found: Sequence[tuple[str, str]], expected: Sequence[tuple[str, str]]) -> list[str]:
    """What differs between two ordered column lists of (name, type), in words."""
    found_types, expected_types = dict(found), dict(expected)
    differences = [f"missing column {name} {sql_type}" for name, sql_type in expected if name not in found_types]
    differences += [f"unexpected column {name} {sql_type}" for name, sql_type in found if name not in expected_types]
    differences += [
        f"column {name} is {found_types[name]}, expected {sql_type}"
        for name, sql_type in expected if name in found_types and found_types[name] != sql_type
    ]
    shared = [name for name, _ in found if name in expected_types]
    if not differences and shared != [name for name, _ in expected if name in found_types]:
        differences.append(f"columns in another order ({', '.join(shared)})")
    return differences


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


def over_arrow(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table, sql: str) -> duckdb.DuckDBPyRelation:
    """`sql` over an Arrow table it reads as `name`, without copying it; a statement runs at once.

    Not through `register`: a registered table is a view in the catalog, and a transaction
    keeps the catalog entries it dropped, with the tables they hold, until it commits (the
    10M-event load held every batch's columns so, some 450 MB more at its peak).
    """
    return con.from_arrow(rows).query(name, sql)


def query_arrow(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table, sql: str) -> pa.Table:
    """The rows of the query `sql` over an Arrow table it reads as `name`, as Arrow, on a
    connection that holds no transaction open (the load's checks, in a database of their own).

    Registered for the call: the query binds once, where `over_arrow`'s relation binds it
    again to derive its columns (the plain lines' checks, a long expression: 37 -> 27 ms a
    batch). Outside a transaction, unregistering releases the table (`over_arrow`).
    """
    con.register(name, rows)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister(name)


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Append an Arrow table to a raw table, matching columns by name."""
    if rows.num_rows:
        over_arrow(con, "incoming_rows", rows, f"INSERT INTO {qualified(table)} BY NAME SELECT * FROM incoming_rows")


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
    filled = [
        {**{name: None for name in schema.names}, "rejected_at": now, **{k: storable(v) for k, v in row.items()}}
        for row in rows
    ]
    return pa.Table.from_pylist(filled, schema=schema)


def storable(value: Any) -> Any:
    """A value a text column can hold: a lone surrogate (JSON may escape one, UTF-8 cannot
    encode it) is kept as its `\\uXXXX` escape, so a refused record never stops the load."""
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def table_stats(con: duckdb.DuckDBPyConnection, table: str, window: Window | None, partition_column: str, preview_rows: int = 5) -> TableStats:
    """Row counts, column schema and a short preview of what a load left, for metadata."""
    where = window_filter(partition_column, window)
    table_rows = scalar(con, f"SELECT count(*) FROM {qualified(table)}")
    rows_by_day = None
    if window is not None:
        rows_by_day = dict(con.execute(f'SELECT "{partition_column}", count(*) FROM {qualified(table)} WHERE {where} GROUP BY 1').fetchall())
    described = con.execute(f"DESCRIBE {qualified(table)}").fetchall()
    columns = {name: sql_type for name, sql_type, *_ in described}
    preview_cursor = con.execute(f"SELECT * FROM {qualified(table)} WHERE {where} LIMIT {preview_rows}")
    names = [d[0] for d in preview_cursor.description]
    preview = [dict(zip(names, values)) for values in preview_cursor.fetchall()]
    return TableStats(columns=columns, preview=preview, table_rows=table_rows, window=window, rows_by_day=rows_by_day)


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
