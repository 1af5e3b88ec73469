"""The dbt project as three asset definitions on the one graph.

- snapshots: SCD2 history of products and users (unpartitioned, upstream of the daily
  models, because a cart line is priced at the product version valid on its date);
- daily models: staging, intermediate and facts per day, partitioned like raw carts and
  events; the partition window reaches dbt through the environment (`window_env`) and each
  model replaces exactly it;
- all-history models: dimensions, segments, basket, churn, performance (unpartitioned).

Each runs one `dbt build`; error-severity tests are blocking asset checks.
"""

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ecommerce_assets.dbt_project import EcommerceTranslator, dbt_project, window_env
from ecommerce_assets.metadata import column_schema
from ecommerce_assets.partitions import daily_partitions, partition_window
from ecommerce_assets.resources import Warehouse

TRANSLATOR = EcommerceTranslator()
# Which tests a build runs besides those of its own models. A test that reads a daily model
# and an all-history dimension belongs to the dimension: the daily build leaves it out
# (`buildable`: only tests whose parents are all built here or upstream), the history build
# takes it in (`eager`: tests with any parent built here), when both sides exist.
DAILY_TESTS = ["--indirect-selection", "buildable"]
HISTORY_TESTS = ["--indirect-selection", "eager"]
# dbt's own log file at info, not debug: debug logs every SQL statement under a lock shared
# by the threads, a tenth of an invocation's time (py-spy); the statements stay in the run's
# compiled/ and run/ folders.
LOGGING = ["--log-level-file", "info"]


def _table_metadata(warehouse: Warehouse, keys: Sequence[dg.AssetKey]) -> dict[dg.AssetKey, dict[str, Any]]:
    """Row count and actual column schema of each built table (schema = first key part)."""
    found: dict[dg.AssetKey, dict[str, Any]] = {}
    with warehouse.get_connection() as con:
        for key in keys:
            schema, table = key.path[0], key.path[-1]
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
            if not columns:
                continue
            rows = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
            found[key] = {"dagster/row_count": dg.MetadataValue.int(rows), "dagster/column_schema": column_schema(dict(columns))}
    return found


@contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """`dbt.cli` hands its subprocess a copy of `os.environ`; the run's steps execute one at
    a time in one process (in_process_executor), so setting it around the call is safe."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    extra: list[str],
    env: Mapping[str, str] | None = None,
) -> Iterator:
    """Run `dbt build`, then report each table's rows and columns.

    Events are held until dbt exits: DuckDB admits one writing process per file, so the
    tables can only be read once dbt has let go of it. The warehouse lock is held
    throughout, so no other run writes between dbt and the read.
    """
    with warehouse.writing(), _environment(env or {}):
        invocation = dbt.cli(["build", *LOGGING, *extra], context=context, raise_on_error=False)
        events = list(invocation.stream())
        key_of = context.asset_key_for_output
        built = [key_of(e.output_name) for e in events if isinstance(e, dg.Output)]
        metadata = _table_metadata(warehouse, built) if built else {}
    for event in events:
        if isinstance(event, dg.Output) and key_of(event.output_name) in metadata:
            event = event.with_metadata({**event.metadata, **metadata[key_of(event.output_name)]})
        yield event
    if not invocation.is_successful():
        raise dg.Failure(
            description="dbt build failed: a model errored or an error-severity test failed; "
            "the failed checks and dbt's log name which.",
            metadata={"dbt_command": " ".join(["dbt", "build", *extra]), **dict(env or {})},
        )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select="resource_type:snapshot",
    name="dbt_snapshots",
    dagster_dbt_translator=TRANSLATOR,
    project=dbt_project,
)
def dbt_snapshots(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    yield from build(context, dbt, warehouse, DAILY_TESTS)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    # Models only: their tests follow them in, except those that also read an all-history
    # model, which belong to (and run with) that model.
    select="tag:daily,resource_type:model",
    name="dbt_daily_models",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
    project=dbt_project,
)
def dbt_daily_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    start, end = partition_window(context)
    yield from build(context, dbt, warehouse, DAILY_TESTS, window_env(start, end))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select="tag:history",
    name="dbt_history_models",
    dagster_dbt_translator=TRANSLATOR,
    project=dbt_project,
)
def dbt_history_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    yield from build(context, dbt, warehouse, HISTORY_TESTS)


DBT_ASSETS = [dbt_snapshots, dbt_daily_models, dbt_history_models]
