"""What the warehouse holds and a few headline numbers, for the end of `make run`."""

from __future__ import annotations

from pathlib import Path

import duckdb

HEADLINES = {
    "revenue": """
        SELECT min(sales_date), max(sales_date), sum(total_carts), sum(revenue), round(avg(avg_cart_value), 2)
        FROM marts.fct_daily_sales
    """,
    "funnel": """
        SELECT sum(sessions), sum(sessions_viewed), sum(sessions_added), sum(sessions_purchased)
        FROM marts.fct_funnel_daily
    """,
    "segments": """
        SELECT user_segment, count(*) AS customers FROM marts.dim_user_segments
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3
    """,
}


def print_summary(duckdb_path: Path) -> int:
    if not Path(duckdb_path).is_file():
        raise ValueError(f"no warehouse at {duckdb_path} (make run builds one)")
    try:
        con = duckdb.connect(str(duckdb_path), read_only=True)
    except duckdb.Error as error:
        raise ValueError(f"{duckdb_path} cannot be read as a DuckDB warehouse: {error}") from None
    with con:
        _print_tables(con, duckdb_path)
        if _has(con, "marts", "fct_daily_sales"):
            _print_headlines(con)
    return 0


def _has(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
    ).fetchall()[0][0])


def _print_tables(con: duckdb.DuckDBPyConnection, duckdb_path: Path) -> None:
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name <> 'main' ORDER BY 1, 2"
    ).fetchall()
    print(f"warehouse: {duckdb_path}")
    for schema, table in tables:
        rows = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
        print(f"  {schema + '.' + table:<40} {rows:>12,} rows")


def _print_headlines(con: duckdb.DuckDBPyConnection) -> None:
    first, last, carts, revenue, avg_cart = con.execute(HEADLINES["revenue"]).fetchall()[0]
    sessions, viewed, added, purchased = con.execute(HEADLINES["funnel"]).fetchall()[0]
    print(f"\nheadlines, {first} to {last}")
    print(f"  revenue            ${revenue:,.2f} from {carts:,} carts (average cart ${avg_cart})")
    if sessions:
        print(f"  conversion         {purchased / sessions:.2%} of {sessions:,} sessions purchased "
              f"(viewed {viewed / sessions:.1%}, added {added / sessions:.1%})")
    segments = con.execute(HEADLINES["segments"]).fetchall()
    print("  top segments       " + ", ".join(f"{name} {count:,}" for name, count in segments))
