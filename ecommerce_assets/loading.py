"""From source records to raw tables: validate, quarantine, deduplicate, load.

Plain Python over DuckDB; the Dagster assets call these and report what they return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ValidationError

from ecommerce_assets.contracts import EVENT_REQUIREMENTS, Event
from ecommerce_assets.validation import (
    Rule,
    explain,
    field_rules,
    field_specs,
    first_failure_sql,
    json_struct_sql,
    raw_column,
    raw_sql,
    record_key,
    rejection_from_error,
    requirement_rule,
    sql_literal,
    value_column,
    value_sql,
    window_rule,
)
from ecommerce_assets.warehouse import (
    Window,
    ensure_tables,
    qualified,
    rejected_table,
    rejects_table,
    replace_rows,
    transaction,
    window_filter,
)

EVENTS_TABLE = "events"
EVENT_SPECS = field_specs(Event)
EVENT_COLUMNS = {
    **{spec.name: spec.sql_type for spec in EVENT_SPECS},
    "event_date": "DATE",
    "_source_file": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}


@dataclass(frozen=True)
class LoadResult:
    loaded: int
    rejected: int
    duplicates: int = 0
    lines: int = 0

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(*(a + b for a, b in zip(astuple(self), astuple(other))))


# --- events: columnar ----------------------------------------------------------------


def event_rules(window: Window) -> list[Rule]:
    """Every rule of the Event contract, as SQL over the parsed struct `j`."""
    by_name = {spec.name: spec for spec in EVENT_SPECS}
    rules = [Rule("<record>", "json_invalid", "parsed")]
    rules += [rule for spec in EVENT_SPECS for rule in field_rules(spec)]
    rules += [requirement_rule(requirement, by_name) for requirement in EVENT_REQUIREMENTS]
    rules.append(window_rule(by_name["event_time"], window))
    return rules


def _read_lines_sql(files: Sequence[Path]) -> str:
    paths = ", ".join(sql_literal(str(p)) for p in files)
    # One VARCHAR column per line: a control byte no valid JSON line contains is the delimiter.
    return (
        f"read_csv([{paths}], columns={{'line': 'VARCHAR'}}, delim='\\x1f', quote='', escape='', "
        "header=false, auto_detect=false, strict_mode=false, filename=true, ignore_errors=true, "
        "store_rejects=true, rejects_table='events_unreadable', rejects_scan='events_unreadable_scan')"
    )


def stage_events(con: duckdb.DuckDBPyConnection, files: Sequence[Path], window: Window) -> None:
    """One pass over the files into a typed temp table, with each line's first broken rule.

    Each field's JSON text and typed value are computed once, in the innermost query,
    because DuckDB does not share repeated expressions between the rules.
    """
    raws = ", ".join(f"{raw_sql(spec)}::VARCHAR AS {raw_column(spec)}" for spec in EVENT_SPECS)
    values = ", ".join(f"{value_sql(spec)} AS {value_column(spec)}" for spec in EVENT_SPECS)
    typed = ", ".join(f'{value_column(spec)} AS "{spec.name}"' for spec in EVENT_SPECS)
    con.execute("DROP TABLE IF EXISTS events_unreadable")
    con.execute("DROP TABLE IF EXISTS events_unreadable_scan")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE events_checked AS
        SELECT filename AS source_file, failed_rule,
               CASE WHEN failed_rule IS NOT NULL THEN line END AS payload, {typed}
        FROM (
            SELECT *, {first_failure_sql(event_rules(window))} AS failed_rule
            FROM (
                SELECT *, {values}
                FROM (
                    SELECT filename, line, j IS NOT NULL AS parsed, {raws}
                    FROM (
                        SELECT filename, line, TRY(from_json(line, {json_struct_sql(EVENT_SPECS)})) AS j
                        FROM {_read_lines_sql(files)}
                    )
                )
            )
        )
        """
    )


def load_events(con: duckdb.DuckDBPyConnection, files: Sequence[Path], window: Window) -> LoadResult:
    """Replace the window's events with the valid, deduplicated lines of `files`."""
    ensure_tables(con, EVENTS_TABLE, EVENT_COLUMNS)
    if files:
        stage_events(con, files, window)
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE events_checked AS SELECT NULL::VARCHAR AS source_file, NULL::VARCHAR AS failed_rule, NULL::VARCHAR AS payload, * FROM {qualified(EVENTS_TABLE)} LIMIT 0")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE events_duplicated AS
        SELECT event_id, min(rowid) AS first_rowid FROM events_checked
        WHERE failed_rule IS NULL GROUP BY event_id HAVING count(*) > 1
        """
    )
    rejects = _event_rejects(con, window, files)
    with transaction(con):
        con.execute(f"DELETE FROM {qualified(EVENTS_TABLE)} WHERE {window_filter('event_date', window)}")
        con.execute(f"DELETE FROM {qualified(rejected_table(EVENTS_TABLE))} WHERE {window_filter('partition_date', window)}")
        _insert_event_rows(con)
        _insert_duplicates(con, window)
        if rejects.num_rows:
            con.register("incoming_rejects", rejects)
            con.execute(f"INSERT INTO {qualified(rejected_table(EVENTS_TABLE))} BY NAME SELECT * FROM incoming_rejects")
            con.unregister("incoming_rejects")
    counts = con.execute(
        """
        SELECT count(*) FILTER (WHERE failed_rule IS NULL), count(*) FILTER (WHERE payload IS NOT NULL), count(*)
        FROM events_checked
        """
    ).fetchone()
    duplicates = con.execute("SELECT count(*) FROM events_checked JOIN events_duplicated USING (event_id) WHERE failed_rule IS NULL AND events_checked.rowid <> first_rowid").fetchone()[0]
    con.execute("DROP TABLE IF EXISTS events_checked")
    con.execute("DROP TABLE IF EXISTS events_duplicated")
    return LoadResult(
        loaded=counts[0] - duplicates,
        rejected=rejects.num_rows,
        duplicates=duplicates,
        lines=counts[2] + _unreadable_count(con),
    )


def _insert_event_rows(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f'c."{spec.name}"' for spec in EVENT_SPECS)
    con.execute(
        f"""
        INSERT INTO {qualified(EVENTS_TABLE)}
        SELECT {columns}, CAST(c.event_time AS DATE), c.source_file, now()::TIMESTAMP
        FROM events_checked c LEFT JOIN events_duplicated d USING (event_id)
        WHERE c.failed_rule IS NULL AND (d.first_rowid IS NULL OR c.rowid = d.first_rowid)
        """
    )


def _insert_duplicates(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    record = ", ".join(f"\"{spec.name}\" := c.\"{spec.name}\"" for spec in EVENT_SPECS)
    con.execute(
        f"""
        INSERT INTO {qualified(rejected_table(EVENTS_TABLE))} BY NAME
        SELECT {sql_literal(window[0])} AS partition_date, c.source_file AS source,
               NULL::BIGINT AS line_number, c.event_id AS record_key, 'event_id' AS field,
               'duplicate' AS rule,
               'event_id: duplicate delivery of ' || c.event_id || ', kept once' AS reason,
               to_json(struct_pack({record}))::VARCHAR AS payload, now()::TIMESTAMP AS rejected_at
        FROM events_checked c JOIN events_duplicated d USING (event_id)
        WHERE c.failed_rule IS NULL AND c.rowid <> d.first_rowid
        """
    )


def _event_rejects(con: duckdb.DuckDBPyConnection, window: Window, files: Sequence[Path]) -> pa.Table:
    """Lines that broke the contract, each explained by pydantic, plus unreadable lines."""
    rows = con.execute(
        """
        SELECT c.source_file, c.rowid - f.first_rowid + 1 AS ordinal, c.failed_rule, c.payload
        FROM events_checked c
        JOIN (SELECT source_file, min(rowid) AS first_rowid FROM events_checked GROUP BY source_file) f USING (source_file)
        WHERE c.payload IS NOT NULL
        """
    ).fetchall()
    unreadable = _unreadable_lines(con) if files else []
    context = {"window": window}
    rejections = []
    for source_file, ordinal, failed_rule, payload in rows:
        why = explain(Event, payload, context, sql_label=failed_rule)
        line_number = _line_number(ordinal, unreadable, source_file)
        rejections.append(_rejection_row(window, source_file, line_number, payload, why))
    for source_file, line_number, payload, message in unreadable:
        rejections.append(
            {"partition_date": window[0], "source": source_file, "line_number": line_number,
             "field": "<record>", "rule": "unreadable", "reason": message, "payload": payload}
        )
    return rejects_table(rejections)


def _rejection_row(window: Window, source: str, line_number: int | None, payload: str, why: Any) -> dict:
    return {
        "partition_date": window[0], "source": source, "line_number": line_number,
        "record_key": why.record_key, "field": why.field, "rule": why.rule,
        "reason": why.reason, "payload": payload,
    }


def _unreadable_lines(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, str, str]]:
    """Lines the CSV reader itself refused (bad encoding), from DuckDB's rejects tables."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events_unreadable'").fetchone()[0]
    if not exists:
        return []
    return con.execute(
        """
        SELECT DISTINCT s.file_path, e.line, e.csv_line, e.error_message
        FROM events_unreadable e JOIN events_unreadable_scan s USING (scan_id, file_id)
        ORDER BY 1, 2
        """
    ).fetchall()


def _unreadable_count(con: duckdb.DuckDBPyConnection) -> int:
    return len(_unreadable_lines(con))


def _line_number(ordinal: int, unreadable: list[tuple[str, int, str, str]], source_file: str) -> int:
    """The line number of the `ordinal`-th line read from a file, counting lines the reader skipped."""
    line = ordinal
    for file_path, skipped_line, _, _ in unreadable:
        if file_path == source_file and skipped_line <= line:
            line += 1
    return line


# --- API records: one pydantic validation per record ----------------------------------


def split_records(
    model: type[BaseModel],
    records: Sequence[Any],
    source: str,
    to_row: Callable[[BaseModel], dict],
    context: dict | None = None,
    partition_date: Any = None,
) -> tuple[list[dict], list[dict]]:
    """Valid rows (shaped by `to_row`) and rejections (with payload and reason)."""
    rows, rejections = [], []
    for record in records:
        try:
            rows.append(to_row(model.model_validate(record, context=context)))
        except ValidationError as error:
            why = rejection_from_error(error, record_key(record) if isinstance(record, dict) else None)
            rejections.append(
                {"partition_date": partition_date, "source": source, "record_key": why.record_key,
                 "field": why.field, "rule": why.rule, "reason": why.reason, "payload": _json(record)}
            )
    return rows, rejections


def load_records(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: dict[str, str],
    rows: list[dict],
    rejections: list[dict],
    window: Window | None,
    partition_column: str = "partition_date",
) -> LoadResult:
    """Replace the window (or the whole snapshot) with validated rows and their rejects."""
    ensure_tables(con, table, columns)
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    arrow_rows = _arrow_rows(con, table, [{**row, "_loaded_at": loaded_at} for row in rows])
    replace_rows(con, table, arrow_rows, rejects_table(rejections), window, partition_column)
    return LoadResult(loaded=len(rows), rejected=len(rejections), lines=len(rows) + len(rejections))


def _arrow_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> pa.Table:
    """Rows typed by the table's own schema, so nested and timestamp columns land exactly."""
    schema = con.execute(f"SELECT * FROM {qualified(table)} LIMIT 0").to_arrow_table().schema
    return pa.Table.from_pylist(rows, schema=schema)


def _json(record: Any) -> str:
    import json

    return json.dumps(record, default=str, ensure_ascii=False)
