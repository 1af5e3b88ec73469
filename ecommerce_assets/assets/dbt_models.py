"""The dbt project as one asset definition on the one graph, holding:

- snapshots: SCD2 history of products and users (unpartitioned, upstream of the daily
  models, because a cart line is priced at the product version valid on its date);
- daily models: staging, intermediate and facts per day, partitioned like raw carts and
  events; the partition window reaches dbt through the environment (`window_env`) and each
  model replaces exactly it;
- all-history models: dimensions, segments, basket, churn, performance (unpartitioned).

Whatever a run selects of it is one `dbt build` (a whole-graph run: all three, in dbt's
order); error-severity tests are blocking asset checks.
"""

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtCliResource, dbt_assets

from ecommerce_assets.dbt_project import DBT_BUILD_FLAGS, SNAPSHOTS_LAYER, EcommerceTranslator, dbt_project, window_env
from ecommerce_assets.metadata import column_schema, markdown_preview, partition_counts
from ecommerce_assets.partitions import partition_window
from ecommerce_assets.resources import Warehouse
from ecommerce_assets.settings import DUCKDB_PATH_ENV

TRANSLATOR = EcommerceTranslator()
TABLE_STATS = "ecommerce_table_stats "  # the prefix of log_table_stats' line


def table_stats(message: str, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The metadata a model's post-hook logged (macros/log_table_stats.sql), or None: the
    table's rows, the window's rows by day, its columns (described as in the YAML) and a preview."""
    if not message.startswith(TABLE_STATS):
        return None
    stats = json.loads(message[len(TABLE_STATS):])
    node = manifest["nodes"].get(stats["unique_id"], {})
    described = {name: column.get("description", "") for name, column in node.get("columns", {}).items()}
    metadata = {
        "unique_id": stats["unique_id"],
        "dagster/row_count": dg.MetadataValue.int(stats["row_count"]),
        "dagster/column_schema": column_schema(stats["columns"], described),
        "preview": dg.MetadataValue.md(markdown_preview(stats["preview"])),
    }
    if "window" in stats:
        start, end = (date.fromisoformat(bound) for bound in stats["window"])
        counted = {date.fromisoformat(day): rows for day, rows in stats["rows_by_day"].items()}
        metadata.update(partition_counts(counted, (start, end)))
    return metadata


def stream_with_stats(invocation: DbtCliInvocation) -> Iterator:
    """dagster-dbt's events as dbt emits them, each model's Output carrying the row count and
    column types its post-hook logged just before (so nothing waits for dbt to exit)."""
    stats_by_node: dict[str, dict[str, Any]] = {}
    for raw in invocation.stream_raw_events():
        info = raw.raw_event["info"]
        if info["name"] == "JinjaLogInfo" and (stats := table_stats(info["msg"], invocation.manifest)):
            stats_by_node[stats.pop("unique_id")] = stats
            continue
        node = raw.raw_event["data"].get("node_info", {}).get("unique_id")
        for event in raw.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=invocation.context,
            target_path=invocation.target_path,
            project=invocation.project,
        ):
            if isinstance(event, dg.Output) and node in stats_by_node:
                event = event.with_metadata({**event.metadata, **stats_by_node[node]})
            yield event


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
    """Run `dbt build` under the warehouse lock, passing on its events as they come, so that
    Dagster records them while dbt works (they used to wait for dbt to exit: 4-7 s a build)."""
    with warehouse.writing(), _environment(env or {}):
        invocation = dbt.cli(["build", *DBT_BUILD_FLAGS, *extra], context=context, raise_on_error=False)
        yield from stream_with_stats(invocation)
    if not invocation.is_successful():
        raise dg.Failure(
            description="dbt build failed: a model errored or an error-severity test failed; "
            "the failed checks and dbt's log name which.",
            metadata={"dbt_command": " ".join(["dbt", "build", *extra]), **dict(env or {})},
        )


def tests_for(builds_history: bool) -> list[str]:
    """Which tests a build runs besides those of its own models. A test that reads a daily
    model and an all-history model belongs to (`meta.dagster.ref`) and runs with the
    all-history one: a build holding no all-history model leaves it out (`buildable`: only
    tests whose parents are all built here or upstream); one holding any takes it in
    (`eager`: tests with any parent built here)."""
    return ["--indirect-selection", "eager" if builds_history else "buildable"]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    name="dbt_models",
    # Daily models are partitioned, snapshots and all-history models not
    # (`EcommerceTranslator.get_partitions_def`). One definition rather than one per kind:
    # each `dbt build` costs about 3.5 s before its first node, and a whole-graph run took
    # three of them.
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
    project=dbt_project,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    specs = [context.assets_def.specs_by_key[key] for key in context.selected_asset_keys]
    builds_days = any(spec.partitions_def for spec in specs)
    builds_history = any(not spec.partitions_def and spec.group_name != SNAPSHOTS_LAYER for spec in specs)
    # The warehouse as the Python steps resolved it: dbt runs in dbt_project/, where a
    # relative path would name another file.
    env = {DUCKDB_PATH_ENV: warehouse.database}
    if builds_days:
        env |= window_env(*partition_window(context))
    yield from build(context, dbt, warehouse, tests_for(builds_history), env)


DBT_ASSETS = [dbt_models]
