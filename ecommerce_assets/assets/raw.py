"""The raw layer: every source record validated, the good landed, the bad quarantined."""

from contextlib import closing

import dagster as dg

from ecommerce_assets.contracts import Cart, Product, User, day_window
from ecommerce_assets.event_contract import EVENT_COLUMNS, EVENTS_TABLE
from ecommerce_assets.event_loading import load_event_days
from ecommerce_assets.loading import LoadResult, load_records, split_records
from ecommerce_assets.metadata import OWNER, column_schema, load_metadata, table_name
from ecommerce_assets.partitions import DAILY_TAGS, daily_partitions, days_in, partition_window
from ecommerce_assets.raw_tables import CART_COLUMNS, PRODUCT_COLUMNS, USER_COLUMNS, cart_row, product_row, user_row
from ecommerce_assets.resources import FakeStore, Landing, Warehouse
from ecommerce_assets.sources.landing import EVENT_FILE_SUFFIXES, event_files, events_root, unrecognised_files
from ecommerce_assets.warehouse import table_stats

GROUP = "raw"
KINDS = {"python", "duckdb"}


def _definition_metadata(table: str, columns: dict[str, str]) -> dict:
    return {
        "dagster/table_name": table_name(table),
        "dagster/column_schema": column_schema(columns),
        "quarantine_table": table_name(f"{table}_rejected"),
    }


def _snapshot_asset(name: str, description: str, columns: dict[str, str]):
    return dg.asset(
        key=[GROUP, name],
        group_name=GROUP,
        owners=[OWNER],
        kinds=KINDS | {"api"},
        # No partitions, but a range run of the daily graph with its upstream takes them in.
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=description,
        metadata=_definition_metadata(name, columns),
    )


@_snapshot_asset(
    "products",
    "The product catalogue as the Fake Store serves it now, one row per product. Records that "
    "break the Product contract are kept in raw.products_rejected with their reason.",
    PRODUCT_COLUMNS,
)
def raw_products(fakestore: FakeStore, warehouse: Warehouse) -> dg.MaterializeResult:
    with closing(fakestore.source()) as source:
        fetched = source.products()
    rows, rejects = split_records(Product, fetched.records, fetched.source, product_row)
    return _land_snapshot(warehouse, "products", PRODUCT_COLUMNS, rows, rejects, fetched.source)


@_snapshot_asset(
    "users",
    "The shop's users as the Fake Store serves them now, one row per user. Passwords are "
    "dropped at the edge and never stored; invalid records go to raw.users_rejected.",
    USER_COLUMNS,
)
def raw_users(fakestore: FakeStore, warehouse: Warehouse) -> dg.MaterializeResult:
    with closing(fakestore.source()) as source:
        fetched = source.users()
    rows, rejects = split_records(User, fetched.records, fetched.source, user_row)
    return _land_snapshot(warehouse, "users", USER_COLUMNS, rows, rejects, fetched.source)


def _land_snapshot(warehouse: Warehouse, table: str, columns: dict, rows: list, rejects: list, source: str) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        result = load_records(con, table, columns, rows, rejects, window=None)
        stats = table_stats(con, table, None, "id")
    return dg.MaterializeResult(metadata=load_metadata(result, stats, source))


@dg.asset(
    key=[GROUP, "carts"],
    group_name=GROUP,
    owners=[OWNER],
    kinds=KINDS | {"api"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    tags=DAILY_TAGS,
    description="Checked-out carts (orders) of each day, fetched per partition window with "
    "startdate/enddate; one row per cart with its lines. A cart's date is its sale date and "
    "decides its partition. Invalid carts go to raw.carts_rejected.",
    metadata=_definition_metadata("carts", CART_COLUMNS),
)
def raw_carts(context: dg.AssetExecutionContext, fakestore: FakeStore, warehouse: Warehouse) -> dg.MaterializeResult:
    window = partition_window(context)
    totals, sources = LoadResult(loaded=0, rejected=0), []
    # Day by day: each reject is filed under its own day, and a failure
    # part-way leaves whole days behind for a rerun to resume.
    with closing(fakestore.source()) as source:
        for day in days_in(window):
            bounds = day_window(day)
            fetched = source.carts(*bounds)
            rows, rejects = split_records(
                Cart, fetched.records, fetched.source, cart_row, context={"window": bounds}, partition_date=day
            )
            with warehouse.get_connection() as con:
                totals += load_records(con, "carts", CART_COLUMNS, rows, rejects, bounds)
            sources.append(fetched.source)
    with warehouse.get_connection() as con:
        stats = table_stats(con, "carts", window, "partition_date")
    return dg.MaterializeResult(metadata=load_metadata(totals, stats, sources[0] if len(sources) == 1 else f"{len(sources)} daily requests, first: {sources[0]}"))


@dg.asset(
    key=[GROUP, "events"],
    group_name=GROUP,
    owners=[OWNER],
    kinds=KINDS | {"file"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    tags=DAILY_TAGS,
    description="Clickstream events from the landing directory, one row per event, validated "
    "against the Event contract in DuckDB at columnar speed. Duplicate deliveries are kept once; "
    "malformed or invalid lines go to raw.events_rejected with file, line and reason.",
    metadata=_definition_metadata(EVENTS_TABLE, EVENT_COLUMNS),
)
def raw_events(context: dg.AssetExecutionContext, landing: Landing, warehouse: Warehouse) -> dg.MaterializeResult:
    window = partition_window(context)
    if not (root := events_root(landing.root)).is_dir():
        # A day without files is an empty day; no events folder at all is a wrong setting,
        # which would otherwise load empty days without end.
        raise dg.Failure(f"no events folder at {root}: is ECOMMERCE_LANDING_DIR "
                         f"({landing.root}) the landing directory?")
    files_by_day = {day: event_files(landing.root, day) for day in days_in(window)}
    for day, files in files_by_day.items():
        if not files:
            context.log.warning(f"No event files for {day} under {landing.root}")
        if ignored := unrecognised_files(landing.root, day):
            context.log.warning(
                f"{day}: {len(ignored)} files not read, their names do not end in "
                f"{' or '.join(EVENT_FILE_SUFFIXES)}: {', '.join(p.name for p in ignored[:10])}"
            )
    totals = LoadResult(loaded=0, rejected=0)
    with warehouse.get_connection() as con:
        # Every day of the run in one pass and one transaction: small days share batches,
        # and a failure part-way leaves the warehouse as it was.
        for day, result in load_event_days(con, files_by_day).items():
            context.log.info(
                f"{day}: {result.loaded} events loaded, {result.rejected} rejected, "
                f"{result.duplicates} duplicates, from {len(files_by_day[day])} files"
            )
            totals += result
        stats = table_stats(con, EVENTS_TABLE, window, "event_date")
    return dg.MaterializeResult(metadata=load_metadata(totals, stats, str(landing.root)))
