"""The peer: what a team without an orchestrator runs every day, as the seed projects do.

A plain loader script (one DuckDB connection, `read_json` straight into the raw tables: no
contract validation, quarantine or dedupe, no Dagster), then `dbt build --full-refresh`,
which rebuilds every model over all history and runs every test.

Fair because it starts from the same landing files, writes raw tables of the same names,
columns and types, and runs the same dbt project, profile and log level as our daily run, so
it produces the same marts; on clean data (`generate --clean`) our validation has nothing to
catch, so skipping it changes no row. (On dirty data the peer still runs, keeping what our
loader would quarantine, so its marts differ there.) What differs is what each run rebuilds:
the peer all history every day, our run one day's partition and the all-history models.

    python benchmarks/peer.py --verify /tmp/somewhere    # see limit.verify
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shop import BenchShop  # noqa: E402

from ecommerce_assets.event_contract import EVENT_COLUMNS  # noqa: E402
from ecommerce_assets.raw_tables import CART_COLUMNS, PRODUCT_COLUMNS, USER_COLUMNS  # noqa: E402
from ecommerce_assets.sources.landing import carts_path, event_files, products_path, users_path  # noqa: E402
from ecommerce_assets.validation import sql_literal  # noqa: E402
from ecommerce_assets.warehouse import create_table_sql  # noqa: E402

RAW_TABLES = {"products": PRODUCT_COLUMNS, "users": USER_COLUMNS, "carts": CART_COLUMNS, "events": EVENT_COLUMNS}
# Columns that differ from run to run on the same data (besides *loaded_at*: load and build
# times): the dbt invocation, and in dim_products the snapshot run times that bound a product
# version and its key, a hash of its start.
RUN_COLUMNS = {"_dbt_invocation_id", "product_key", "valid_from", "valid_to"}

PRODUCTS_SQL = """
    SELECT id, title, price, description, category, image,
           rating.rate AS rating_rate, rating.count AS rating_count, now()::TIMESTAMP AS _loaded_at
    FROM read_json({path}, format='array', columns={{id: 'BIGINT', title: 'VARCHAR', price: 'DOUBLE',
        description: 'VARCHAR', category: 'VARCHAR', image: 'VARCHAR', rating: 'STRUCT(rate DOUBLE, count BIGINT)'}})
"""
USERS_SQL = """
    SELECT id, email, username, name.firstname, name.lastname, address.city, address.street,
           address.number AS street_number, address.zipcode, address.geolocation.lat, address.geolocation.long,
           phone, now()::TIMESTAMP AS _loaded_at
    FROM read_json({path}, format='array', columns={{id: 'BIGINT', email: 'VARCHAR', username: 'VARCHAR',
        name: 'STRUCT(firstname VARCHAR, lastname VARCHAR)',
        address: 'STRUCT(city VARCHAR, street VARCHAR, number BIGINT, zipcode VARCHAR, geolocation STRUCT(lat VARCHAR, long VARCHAR))',
        phone: 'VARCHAR'}})
"""
CARTS_SQL = """
    SELECT id, userId AS user_id, date::TIMESTAMP AS cart_time,
           list_transform(products, lambda p: {{product_id: p.productId, quantity: p.quantity}}) AS products,
           date::TIMESTAMP::DATE AS partition_date, now()::TIMESTAMP AS _loaded_at
    FROM read_json({path}, format='array', columns={{id: 'BIGINT', userId: 'BIGINT', date: 'TIMESTAMPTZ',
        products: 'STRUCT(productId BIGINT, quantity BIGINT)[]'}})
"""
# A line's number in its file: the reader's global ordinal, counted from the file's first
# line. A line that does not parse (only in dirty data) becomes a row of NULLs, as a script
# that just loads would keep it, and still counts as a line.
EVENTS_SQL = """
    SELECT event_id, event_type, page, event_time::TIMESTAMP AS event_time, user_id, session_id, device,
           product_id, price, quantity, cart_id, event_time::TIMESTAMP::DATE AS event_date,
           parse_filename(filename) AS _source_file,
           ordinality - min(ordinality) OVER (PARTITION BY filename) + 1 AS _source_line,
           now()::TIMESTAMP AS _loaded_at
    FROM read_ndjson({paths}, filename=true, hive_partitioning=false, ignore_errors=true, columns={{event_id: 'VARCHAR',
        event_type: 'VARCHAR', page: 'VARCHAR', event_time: 'TIMESTAMPTZ', user_id: 'BIGINT', session_id: 'VARCHAR',
        device: 'VARCHAR', product_id: 'BIGINT', price: 'DOUBLE', quantity: 'BIGINT', cart_id: 'BIGINT'}}) WITH ORDINALITY
"""


def load_day(con: duckdb.DuckDBPyConnection, landing: Path, day: date) -> None:
    """The plain loader's statements, on an open connection (in the caller's transaction):
    products and users replaced, the day's carts and events deleted, then appended."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for table, columns in RAW_TABLES.items():
        con.execute(create_table_sql(table, columns))
    day_sql = sql_literal(day)
    carts, events = carts_path(landing, day), event_files(landing, day)
    con.execute("DELETE FROM raw.products")
    con.execute(f"INSERT INTO raw.products BY NAME {PRODUCTS_SQL.format(path=sql_literal(str(products_path(landing))))}")
    con.execute("DELETE FROM raw.users")
    con.execute(f"INSERT INTO raw.users BY NAME {USERS_SQL.format(path=sql_literal(str(users_path(landing))))}")
    con.execute(f"DELETE FROM raw.carts WHERE partition_date = {day_sql}")
    if carts.is_file():
        con.execute(f"INSERT INTO raw.carts BY NAME {CARTS_SQL.format(path=sql_literal(str(carts)))}")
    con.execute(f"DELETE FROM raw.events WHERE event_date = {day_sql}")
    if events:
        paths = "[" + ", ".join(sql_literal(str(p)) for p in events) + "]"
        con.execute(f"INSERT INTO raw.events BY NAME {EVENTS_SQL.format(paths=paths)}")


def plain_load(db: Path, landing: Path, day: date) -> None:
    """The peer's loader script for one day: one DuckDB connection, one transaction."""
    with duckdb.connect(str(db)) as con:
        con.execute("BEGIN TRANSACTION")
        load_day(con, landing, day)
        con.execute("COMMIT")


def peer_run(shop: BenchShop, day: date) -> dict[str, float]:
    """The peer's daily job: the plain load of `day`, then `dbt build --full-refresh` over all history."""
    started = time.perf_counter()
    plain_load(shop.db, shop.landing, day)
    loaded = time.perf_counter()
    shop.dbt("build", "--full-refresh")  # no window: all history
    finished = time.perf_counter()
    return {"seconds": round(finished - started, 2), "load_seconds": round(loaded - started, 2),
            "dbt_seconds": round(finished - loaded, 2)}


def fingerprint(db: Path, schema: str) -> dict[str, str]:
    """Per table of `schema`: its row count and an order-independent hash of its rows (the
    sorted hashes of every row, hashed), leaving out the columns in RUN_COLUMNS or named *loaded_at*."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? "
            "ORDER BY table_name", [schema]).fetchall()]
        prints = {}
        for table in tables:
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
                if "loaded_at" not in c and c not in RUN_COLUMNS]
            row = "struct_pack(" + ", ".join(f'"{c}"' for c in columns) + ")"
            rows, digest = con.execute(
                f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
                f'FROM (SELECT md5({row}::VARCHAR) AS h FROM "{schema}"."{table}")').fetchall()[0]
            prints[table] = f"{rows} rows {digest}"
        return prints


def marts_fingerprint(db: Path) -> dict[str, str]:
    """Per mart: row count and order-independent hash of its rows, without run-dependent columns."""
    return fingerprint(db, "marts")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--verify"] or len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/peer.py --verify <empty work folder>")
    from limit import verify

    verify(Path(sys.argv[2]))
