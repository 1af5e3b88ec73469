"""Time-driven automation: the daily run of the whole graph, and the condition that keeps
the all-history models following their daily parents between those runs."""

from datetime import datetime, timedelta, timezone

import dagster as dg

from ecommerce_assets import selections
from ecommerce_assets.jobs import is_partition_day, whole_graph_job

# 01:00 UTC: yesterday's files have landed (late ones are absorbed by the landing sensor).
DAILY_CRON = "0 1 * * *"


def yesterday_key(scheduled_time: datetime) -> str | None:
    """Yesterday's (UTC) partition key at `scheduled_time`, or None before the first partition."""
    day = scheduled_time.astimezone(timezone.utc).date() - timedelta(days=1)
    return day.isoformat() if is_partition_day(day, scheduled_time) else None


@dg.schedule(
    name="whole_graph_daily",
    cron_schedule=DAILY_CRON,
    execution_timezone="UTC",
    job=whole_graph_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 01:00 UTC: the snapshots, yesterday's partition and the "
    "all-history models, in one run of whole_graph_job.",
)
def whole_graph_daily(context: dg.ScheduleEvaluationContext):
    key = yesterday_key(context.scheduled_execution_time)
    if key is None:
        return dg.SkipReason(f"no partition ends before {context.scheduled_execution_time.isoformat()}")
    return dg.RunRequest(partition_key=key)


SCHEDULES = [whole_graph_daily]


def history_automation() -> dg.AutomationCondition:
    """`eager()` for the all-history models, fitted to their daily parents.

    - An all-history model depends on every partition of its daily parents; `eager()`'s
      `~any_deps_missing` would hold it back forever because the days since the start
      date that were never built count as missing. Missing *daily* parents are ignored;
      a missing unpartitioned parent (a snapshot, another dimension) still holds it.
    - It waits until its parents' blocking checks pass: a day that failed a blocking
      test must not flow into the dimensions and segments.
    - A parent updated in the same run (the daily schedule builds everything) does not
      count as an update (`eager()` leaves out `executed_with_root_target`), so that run is
      not followed by a second history build.
    """
    condition = dg.AutomationCondition
    eager = condition.eager().replace(
        "any_deps_missing", condition.any_deps_missing().ignore(selections.selection("daily"))
    )
    return (eager & condition.all_deps_blocking_checks_passed()).with_label("eager_after_daily_parents")
