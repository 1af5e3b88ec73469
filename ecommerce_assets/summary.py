"""A short, human summary of what the warehouse holds, for the end of `make run`."""

from __future__ import annotations

from pathlib import Path

import duckdb


def print_summary(duckdb_path: Path) -> int:
    if not Path(duckdb_path).exists():
        print(f"no warehouse at {duckdb_path}")
        return 1
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
            "WHERE schema_name NOT IN ('main') ORDER BY schema_name, table_name"
        ).fetchall()
        print(f"warehouse: {duckdb_path}")
        for schema, table, _ in tables:
            rows = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
            print(f"  {schema}.{table:<24} {rows:>12,} rows")
        if any(t == "events" for _, t, _ in tables):
            days = con.execute(
                "SELECT min(event_date), max(event_date), count(DISTINCT event_date) FROM raw.events"
            ).fetchall()[0]
            print(f"  events cover {days[2]} days, {days[0]} to {days[1]}")
    return 0
