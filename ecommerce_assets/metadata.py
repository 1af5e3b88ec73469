"""Metadata that helps a person reading an asset in the UI: counts, schema, preview."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ecommerce_assets.loading import LoadResult
from ecommerce_assets.warehouse import RAW_SCHEMA, TableStats

OWNER = "team:analytics-engineering"
PREVIEW_COLUMNS = 8


def table_name(table: str, schema: str = RAW_SCHEMA) -> str:
    return f"{schema}.{table}"


def column_schema(columns: dict[str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, sql_type) for name, sql_type in columns.items()])


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
    received = result.loaded + result.rejected + result.duplicates
    return {
        "dagster/row_count": dg.MetadataValue.int(stats.rows),
        "dagster/column_schema": column_schema(stats.columns),
        "loaded": dg.MetadataValue.int(result.loaded),
        "rejected": dg.MetadataValue.int(result.rejected),
        "duplicates": dg.MetadataValue.int(result.duplicates),
        "blank_lines": dg.MetadataValue.int(result.blank),
        "reject_rate": dg.MetadataValue.float(result.rejected / received if received else 0.0),
        "source": dg.MetadataValue.text(source),
        "preview": dg.MetadataValue.md(markdown_preview(stats.preview)),
    }
