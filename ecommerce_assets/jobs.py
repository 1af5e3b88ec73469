"""Asset jobs: the whole graph for one day as one run, and the three slices it is made of.

Dagster 1.13 admits a partitioned asset job that also holds unpartitioned assets (a job
may have at most one *non-null* partitions definition, and takes it from its assets), so
`whole_graph_job` run for a day builds the snapshots, that day's partition and the
all-history models in dependency order, in one process, all the dbt models in one
`dbt build` (assets/dbt_models.py). A range run (the `dagster/asset_partition_range_*`
tags) works the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone

import dagster as dg

from ecommerce_assets import selections
from ecommerce_assets.partitions import daily_partitions

whole_graph_job = dg.define_asset_job(
    "whole_graph_job",
    selection=dg.AssetSelection.all(),
    description="The whole graph for a day (or a range of days) in one run: Fake Store "
    "snapshots, the day's partition from raw carts and events to the daily facts, then "
    "the all-history models; their checks run with them.",
)

snapshots_job = dg.define_asset_job(
    "snapshots_job",
    selection=selections.selection("snapshots"),
    description="Fake Store products and users and their SCD2 snapshots (unpartitioned).",
)

daily_job = dg.define_asset_job(
    "daily_job",
    selection=selections.selection("daily"),
    description="One day (or a range) of the partitioned graph: raw carts and events to the daily facts.",
)

history_job = dg.define_asset_job(
    "history_job",
    selection=selections.selection("history"),
    description="Models over all history: dimensions, segments, basket, churn, performance.",
)

JOBS = [whole_graph_job, snapshots_job, daily_job, history_job]


def first_day() -> date:
    return daily_partitions.start.date()


def is_partition_day(day: date, now: datetime) -> bool:
    """A day is a partition from the start date until yesterday: today is still landing."""
    return first_day() <= day < now.astimezone(timezone.utc).date()


def run_partition(tags: Mapping[str, str]) -> str | None:
    """The partition (`2026-11-08`) or range (`2026-11-01...2026-11-07`) a run's tags name."""
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end:
        return start if start == end else f"{start}...{end}"
    return tags.get("dagster/partition")
