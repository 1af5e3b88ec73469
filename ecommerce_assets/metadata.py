"""Metadata that helps a person reading an asset in the UI: counts, schema, preview."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import dagster as dg

from ecommerce_assets.loading import LoadResult
from ecommerce_assets.partitions import days_in
from ecommerce_assets.warehouse import RAW_SCHEMA, TableStats, Window

OWNER = "team:analytics-engineering"
PREVIEW_COLUMNS = 8


def table_name(table: str, schema: str = RAW_SCHEMA) -> str:
    return f"{schema}.{table}"


def column_schema(columns: dict[str, str], descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    described = descriptions or {}
    return dg.TableSchema(columns=[dg.TableColumn(name, sql_type, description=described.get(name) or None)
                                   for name, sql_type in columns.items()])


def markdown_preview(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_no rows_"
    names = list(rows[0])[:PREVIEW_COLUMNS]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        cells = (_cell(row[name]) for name in names)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 40 else text[:37] + "..."


def load_metadata(result: LoadResult, stats: TableStats, source: str) -> dict[str, Any]:
    """What one load did and what the table holds now, for the materialization."""
    # As the contract_reject_rate check measures it: a repeated delivery is no refusal.
    received = result.loaded + result.rejected
    return {
        "dagster/row_count": dg.MetadataValue.int(stats.table_rows),
        **partition_counts(stats.rows_by_day, stats.window),
        "dagster/column_schema": column_schema(stats.columns),
        "loaded": dg.MetadataValue.int(result.loaded),
        "rejected": dg.MetadataValue.int(result.rejected),
        "duplicates": dg.MetadataValue.int(result.duplicates),
        "blank_lines": dg.MetadataValue.int(result.blank),
        "reject_rate": dg.MetadataValue.float(result.rejected / received if received else 0.0),
        "source": dg.MetadataValue.text(source),
        "preview": dg.MetadataValue.md(markdown_preview(stats.preview)),
    }


def partition_counts(rows_by_day: Mapping[date, int] | None, window: Window | None) -> dict[str, Any]:
    """A partition's own row count, for a run of one day; each day's (none counted: 0), for a
    range run, whose partitions all receive the same metadata. Nothing without a window."""
    if rows_by_day is None or window is None:
        return {}
    days = list(days_in(window))
    if len(days) == 1:
        return {"dagster/partition_row_count": dg.MetadataValue.int(rows_by_day.get(days[0], 0))}
    return {"rows_by_day": dg.MetadataValue.json({day.isoformat(): rows_by_day.get(day, 0) for day in days})}
