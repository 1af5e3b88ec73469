"""Event-driven automation: new or changed event files, alerts on failed runs and failed
blocking checks, and the sensor that evaluates the all-history models' automation condition.
"""

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import requests
from dagster._core.storage.asset_check_execution_record import (  # not exported at the top level in 1.13
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from ecommerce_assets import selections
from ecommerce_assets.jobs import daily_job, is_partition_day, run_partition
from ecommerce_assets.report import check_history
from ecommerce_assets.resources import Landing
from ecommerce_assets.sources.landing import day_of_event_dir, event_files, events_root

RAW_EVENTS = dg.AssetKey(["raw", "events"])
WEBHOOK_ENV = "ECOMMERCE_ALERT_WEBHOOK_URL"


# --- The landing directory --------------------------------------------------------------


@dataclass(frozen=True)
class DayFiles:
    digest: str  # of every event file's name, mtime, ctime and size: any change to the day changes it
    newest_mtime: float  # seconds since the epoch: when a file last changed or arrived


def _stat_all(files: Iterable[Path]) -> list[tuple[str, os.stat_result]]:
    stats = []
    for path in files:
        try:
            stats.append((path.name, path.stat()))
        except FileNotFoundError:  # removed while we looked: the next tick sees the new state
            continue
    return stats


def scan_landing(landing_dir: Path) -> dict[date, DayFiles]:
    """Each `date=YYYY-MM-DD` folder holding event files, with the digest of those files."""
    root = events_root(landing_dir)
    days = [day for folder in sorted(root.iterdir()) if (day := day_of_event_dir(folder))] if root.is_dir() else []
    found = {}
    for day in days:
        stats = _stat_all(event_files(landing_dir, day))
        if stats:
            # ctime too: `cp -p` and `rsync -a` keep a late file's old mtime, but a file's
            # arrival sets its ctime, which no copy can set back.
            digest = hashlib.sha256(
                "".join(f"{n}\0{s.st_mtime_ns}\0{s.st_ctime_ns}\0{s.st_size}\n" for n, s in stats).encode()
            )
            found[day] = DayFiles(digest.hexdigest()[:20], max(max(s.st_mtime, s.st_ctime) for _, s in stats))
    return found


def landing_run_requests(
    days: Mapping[date, DayFiles],
    seen: Mapping[str, str],
    now: datetime,
    loaded_at: Callable[[str], float | None],
) -> tuple[list[dg.RunRequest], dict[str, str]]:
    """The days to (re)load and the next cursor ({day: digest}).

    A day is requested when its digest differs from the one last seen. A day seen for the
    first time (a new sensor, a lost cursor) is skipped when a run that started after its
    newest file already loaded it, so `make run` then `make dev` rebuilds nothing.
    """
    cursor: dict[str, str] = {}
    run_requests = []
    for day, files in sorted(days.items()):
        # Today is not a partition yet, and is left out of the cursor so that it is picked
        # up once it is; days before the start date never are.
        if not is_partition_day(day, now):
            continue
        key = day.isoformat()
        cursor[key] = files.digest
        if seen.get(key) == files.digest:
            continue
        if key not in seen and (loaded_at(key) or 0.0) >= files.newest_mtime:
            continue
        run_requests.append(dg.RunRequest(partition_key=key, tags={"ecommerce/trigger": "landing"}))
    # A day whose folder vanished (retention) drops out of the cursor without a run: emptying
    # the warehouse's copy of a day is never what a clean-up of the landing area means.
    return run_requests, cursor


def raw_events_loaded_at(instance: dg.DagsterInstance, partition_key: str) -> float | None:
    """When the run that last loaded a day into raw/events started (None: never loaded)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_EVENTS, asset_partitions=[partition_key]), limit=1
    ).records
    if not records:
        return None
    run = instance.get_run_record_by_id(records[0].run_id)
    return (run.start_time if run else None) or records[0].timestamp


def seen_days(cursor: str | None, log) -> dict[str, str]:
    """The cursor's {day: digest}. One that cannot be read (edited by hand, another version's)
    is a lost cursor: every tick failing on it would stop the loads for good, while starting
    afresh requests only days not loaded since their files changed."""
    try:
        seen = json.loads(cursor) if cursor else {}
    except ValueError:
        seen = None
    if not isinstance(seen, dict) or not all(isinstance(v, str) for v in seen.values()):
        log.warning(f"landing_events_sensor: unreadable cursor {cursor[:80]!r}, starting afresh")
        return {}
    return seen


@dg.sensor(
    name="landing_events_sensor",
    job=daily_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Loads a day's partition of the daily slice when an event file of that day "
    "lands or changes under <landing>/events/date=*/.",
)
def landing_events_sensor(context: dg.SensorEvaluationContext, landing: Landing) -> dg.SensorResult:
    seen = seen_days(context.cursor, context.log)
    run_requests, cursor = landing_run_requests(
        scan_landing(landing.root),
        seen,
        datetime.now(timezone.utc),
        lambda key: raw_events_loaded_at(context.instance, key),
    )
    return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(cursor, sort_keys=True))


# --- Alerts -------------------------------------------------------------------------------


def send_alert(payload: Mapping[str, Any], log, attempts: int = 3) -> None:
    """POST the payload as JSON to ECOMMERCE_ALERT_WEBHOOK_URL; unset, only log it."""
    body = json.dumps(payload, sort_keys=True, default=str)
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        log.warning(f"alert ({WEBHOOK_ENV} unset, not sent): {body}")
        return
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=(5, 10))
            response.raise_for_status()
            log.info(f"alert {payload['kind']} sent to the webhook")
            return
        except requests.RequestException:
            # A busy receiver gets a moment; then the caller decides (the run-failure tick fails).
            if attempt == attempts:
                raise
            time.sleep(attempt)


def _iso(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp or time.time(), timezone.utc).isoformat()


def failed_check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if not e.passed]


def _root_cause(error) -> str:
    """The user's exception (`RuntimeError: ...`), not Dagster's wrapper around it."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_failure_payload(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    run, instance = context.dagster_run, context.instance
    # The assets the run meant to build and did not (the failed step's and those downstream).
    planned = instance.get_asset_keys_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    built = instance.get_asset_keys_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    errors = [e.event_specific_data.error for e in context.get_step_failure_events() if e.event_specific_data]
    record = instance.get_run_record_by_id(run.run_id)
    return {
        "kind": "run_failure",
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run_partition(run.tags),
        "assets": sorted(k.to_user_string() for k in set(planned) - set(built)),
        "checks": [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed_check_evaluations(instance, run.run_id)],
        "severity": "ERROR",
        "message": _root_cause(errors[0]) if errors and errors[0] else context.failure_event.message,
        "timestamp": _iso(record.end_time if record else None),
    }


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Runs started from the command line (`make run`, `dagster asset materialize -m ...`)
    # belong to no code location: watching only this one would never see them fail.
    monitor_all_code_locations=True,
    description=f"POSTs every failed run of this instance to {WEBHOOK_ENV} (unset: logs it), "
    "whether the UI, a schedule, a sensor or the command line started it.",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    send_alert(run_failure_payload(context), context.log)


# Failures evaluated longer ago than this when first seen are not alerted (sensor stopped).
ALERT_LOOKBACK_SECONDS = 3600.0
# A check's execution record is created when its run is planned: a run waiting longer than
# this in the queue before it evaluates a check would have its failure missed.
PLANNED_BEFORE_EVALUATED_SECONDS = 86400.0
FAILED = {AssetCheckExecutionRecordStatus.FAILED}


def failed_executions(instance: dg.DagsterInstance, key: dg.AssetCheckKey, planned_since: float) -> Iterator[AssetCheckExecutionRecord]:
    """A check's FAILED executions (ERROR or WARN) planned since `planned_since`, newest planned first."""
    for record in check_history(instance, key, status=FAILED):
        if record.create_timestamp < planned_since:
            return
        yield record


def new_check_failures(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey], seen: Mapping[str, float], since: float
) -> list[AssetCheckExecutionRecord]:
    """Failed (ERROR severity) evaluations after `since` not alerted yet, oldest first.

    Keyed by execution record id, not ordered by it: a check's record is created when its run
    is planned and only later becomes FAILED, so ids do not follow the evaluation order.
    """
    found = []
    for key in check_keys:
        # Every failure of the window, not the last few: a range run fails a check per day,
        # and WARN results are FAILED rows too.
        for record in failed_executions(instance, key, since - PLANNED_BEFORE_EVALUATED_SECONDS):
            evaluation = record.evaluation
            if record.event.timestamp <= since or str(record.id) in seen or evaluation is None:
                continue
            if evaluation.severity == dg.AssetCheckSeverity.ERROR:
                found.append(record)
    return sorted(found, key=lambda r: r.event.timestamp)


def check_failure_payload(record: AssetCheckExecutionRecord) -> dict[str, Any]:
    evaluation, event = record.evaluation, record.event
    asset = evaluation.asset_key.to_user_string()
    return {
        "kind": "check_failure",
        "run_id": record.run_id,
        "job": event.job_name,
        "partition": evaluation.partition,
        "assets": [asset],
        "checks": [f"{asset}:{evaluation.check_name}"],
        "severity": evaluation.severity.value,
        "blocking": bool(evaluation.blocking),
        "message": evaluation.description or event.user_message,
        "metadata": {k: str(v.value)[:200] for k, v in evaluation.metadata.items()},
        "timestamp": _iso(event.timestamp),
    }


@dg.sensor(
    name="check_failure_alert",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"POSTs every failed blocking asset check to {WEBHOOK_ENV} (unset: logs it), "
    "as soon as it is recorded, whatever becomes of its run.",
)
def check_failure_alert(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    since = time.time() - ALERT_LOOKBACK_SECONDS
    seen = {k: t for k, t in (json.loads(context.cursor) if context.cursor else {}).items() if t > since}
    graph = context.repository_def.asset_graph
    blocking = [key for key in sorted(graph.asset_check_keys) if graph.get(key).blocking]
    for record in new_check_failures(context.instance, blocking, seen, since):
        try:
            send_alert(check_failure_payload(record), context.log)
        except requests.RequestException as error:
            # Keep what was delivered in the cursor: the rest goes next tick, nothing twice.
            context.log.error(f"alert not delivered, sent again next tick: {error}")
            break
        seen[str(record.id)] = record.event.timestamp
    return dg.SensorResult(cursor=json.dumps(seen, sort_keys=True))


# --- Declarative automation ---------------------------------------------------------------

history_automation_sensor = dg.AutomationConditionSensorDefinition(
    "history_automation_sensor",
    target=selections.selection("history"),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the all-history models' condition (schedules.history_automation): "
    "rebuild them once their daily parents were updated outside a whole-graph run.",
)

SENSORS = [landing_events_sensor, run_failure_alert, check_failure_alert, history_automation_sensor]
