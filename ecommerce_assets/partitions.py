"""The one daily partitioning shared by every per-day asset, from ingestion to marts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from ecommerce_assets.settings import Settings

# Every asset built per day carries this tag: `--select tag:partitioning=daily` is the
# whole partitioned graph, from raw carts and events to the daily facts.
PARTITIONING_TAG = "partitioning"
DAILY = "daily"
DAILY_TAGS = {PARTITIONING_TAG: DAILY}

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().start_date.isoformat(), timezone="UTC"
)


def partition_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's half-open window [start, end): one day, or a whole range run at once."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def days_in(window: tuple[date, date]) -> Iterator[date]:
    day, end = window
    while day < end:
        yield day
        day += timedelta(days=1)
