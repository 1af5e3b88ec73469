"""API records to raw tables: validate each record, quarantine the bad, load atomically.

Plain Python over DuckDB; the Dagster assets call these and report what they return.
Clickstream events, too many for a Python object per row, have `event_loading`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ValidationError

from ecommerce_assets.contracts import without_secrets
from ecommerce_assets.json_text import repeated_key
from ecommerce_assets.validation import record_key, rejection_from_error
from ecommerce_assets.warehouse import Window, ensure_tables, qualified, rejects_table, replace_rows

@dataclass(frozen=True)
class LoadResult:
    loaded: int
    rejected: int
    duplicates: int = 0
    lines: int = 0
    blank: int = 0  # blank lines of a file: no record, neither loaded nor refused

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(*(a + b for a, b in zip(astuple(self), astuple(other))))


# The rule of a quarantined repeated delivery: a duplicate, not a refusal (events use it too).
DUPLICATE_RULE = "duplicate"


class EmptySnapshotError(RuntimeError):
    """A snapshot load would replace the rows held with none."""


# --- API records: one pydantic validation per record ----------------------------------


def split_records(
    model: type[BaseModel],
    records: Sequence[Any],
    source: str,
    to_row: Callable[[BaseModel], dict],
    context: dict | None = None,
    partition_date: Any = None,
) -> tuple[list[dict], list[dict]]:
    """Valid rows (shaped by `to_row`) and rejections (with payload and reason).

    An id already delivered in the same response is quarantined as a duplicate: the
    first delivery is kept, as for events.
    """
    rows, rejections, seen = [], [], set()
    for record in records:
        if repeated := repeated_key(record):
            path, key, times = repeated
            rejections.append(_rejection(record_key(record), path, "duplicate_key",
                                         f"{path}: the key {key!r} appears {times} times in one object, so its value is ambiguous",
                                         record, source, partition_date))
            continue
        try:
            valid = model.model_validate(record, context=context)
        except ValidationError as error:
            why = rejection_from_error(error, record_key(record))
            rejections.append(_rejection(why.record_key, why.field, why.rule, why.reason, record, source, partition_date))
            continue
        record_id = getattr(valid, "id", None)
        if record_id is not None and record_id in seen:
            rejections.append(_rejection(str(record_id), "id", DUPLICATE_RULE,
                                         f"id: {record_id} was already delivered in this response, kept once (first delivery wins)",
                                         record, source, partition_date))
            continue
        seen.add(record_id)
        rows.append(to_row(valid))
    return rows, rejections


def _rejection(key: str | None, field: str, rule: str, reason: str, record: Any, source: str, partition_date: Any) -> dict:
    return {"partition_date": partition_date, "source": source, "record_key": key,
            "field": field, "rule": rule, "reason": reason, "payload": _json(without_secrets(record))}


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
    if window is None and not rows:
        _refuse_empty_snapshot(con, table, rejections)
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    arrow_rows = _arrow_rows(con, table, [{**row, "_loaded_at": loaded_at} for row in rows])
    replace_rows(con, table, arrow_rows, rejects_table(rejections), window, partition_column)
    # As for events, a repeated delivery is counted as a duplicate, not as a refusal.
    duplicates = sum(r["rule"] == DUPLICATE_RULE for r in rejections)
    return LoadResult(loaded=len(rows), rejected=len(rejections) - duplicates, duplicates=duplicates,
                      lines=len(rows) + len(rejections))


def _refuse_empty_snapshot(con: duckdb.DuckDBPyConnection, table: str, rejections: list[dict]) -> None:
    """A snapshot with no valid record would delete the catalogue (and close every version in
    the dbt snapshots): far more likely a source failure than a shop without products."""
    held = con.execute(f"SELECT count(*) FROM {qualified(table)}").fetchone()[0]
    if not held:
        return
    why = f"{len(rejections)} record(s), all refused, first: {rejections[0]['reason']}" if rejections else "no records"
    raise EmptySnapshotError(
        f"{qualified(table)}: the source delivered {why}; the {held} rows held are kept "
        "and nothing was written (to empty the table on purpose, delete its rows first)"
    )


def _arrow_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> pa.Table:
    """Rows typed by the table's own schema, so nested and timestamp columns land exactly."""
    schema = con.sql(f"SELECT * FROM {qualified(table)} LIMIT 0").to_arrow_table().schema
    return pa.Table.from_pylist(rows, schema=schema)


def _json(record: Any) -> str:
    return json.dumps(record, default=str, ensure_ascii=False)
