"""Jobs, the daily schedule, the landing and alert sensors, and the history automation condition."""

import json
import os
import threading
import time as time_module
from datetime import datetime, time, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from ecommerce_assets import selections, sensors
from ecommerce_assets.jobs import JOBS, daily_job, first_day, history_job, snapshots_job, whole_graph_job
from ecommerce_assets.resources import Landing
from ecommerce_assets.schedules import SCHEDULES, history_automation, whole_graph_daily
from ecommerce_assets.sensors import (
    SENSORS,
    WEBHOOK_ENV,
    DayFiles,
    check_failure_alert,
    landing_events_sensor,
    landing_run_requests,
    run_failure_alert,
    scan_landing,
    send_alert,
)
from ecommerce_assets.sources.landing import event_day_dir

# --- Jobs and schedule -------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_defs() -> dg.Definitions:
    """The project's definitions with this module's jobs, schedules and sensors, as the lead wires them."""
    from ecommerce_assets.definitions import defs

    return dg.Definitions.merge(defs, dg.Definitions(jobs=JOBS, schedules=SCHEDULES, sensors=SENSORS))


def test_the_whole_graph_is_one_partitioned_job_and_the_slices_cover_it(project_defs):
    dg.Definitions.validate_loadable(project_defs)
    graph = project_defs.resolve_asset_graph()
    whole = project_defs.resolve_job_def(whole_graph_job.name)
    assert whole.partitions_def is not None
    layer = whole.asset_layer.asset_graph
    assert layer.executable_asset_keys == graph.executable_asset_keys
    assert layer.asset_check_keys == graph.asset_check_keys

    slices = [project_defs.resolve_job_def(job.name).asset_layer.asset_graph for job in (snapshots_job, daily_job, history_job)]
    keys = [s.executable_asset_keys for s in slices]
    assert set().union(*keys) == graph.executable_asset_keys and sum(map(len, keys)) == len(graph.executable_asset_keys)
    assert sum(len(s.asset_check_keys) for s in slices) == len(graph.asset_check_keys)


def test_the_whole_graph_job_runs_a_day_with_unpartitioned_assets():
    days = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC")

    @dg.asset
    def snapshot() -> None: ...

    @dg.asset(partitions_def=days, deps=[snapshot])
    def daily(context: dg.AssetExecutionContext) -> None:
        assert context.partition_key == "2026-11-08"

    @dg.asset(deps=[daily])
    def history() -> None: ...

    job = dg.define_asset_job("whole", selection=dg.AssetSelection.all())
    defs = dg.Definitions(assets=[snapshot, daily, history], jobs=[job])
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("whole").execute_in_process(partition_key="2026-11-08", instance=instance)
    assert result.success
    assert {e.asset_key.to_user_string(): e.partition for e in result.get_asset_materialization_events()} == {
        "snapshot": None, "daily": "2026-11-08", "history": None}


def at(day, hour: int = 1) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


def test_the_daily_schedule_requests_yesterday():
    day = first_day() + timedelta(days=40)
    request = whole_graph_daily(dg.build_schedule_context(scheduled_execution_time=at(day)))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == (day - timedelta(days=1)).isoformat()
    # Late in a non-UTC evening is already tomorrow in UTC.
    evening = datetime.combine(day, time(21), tzinfo=timezone(timedelta(hours=-5)))
    assert whole_graph_daily(dg.build_schedule_context(scheduled_execution_time=evening)).partition_key == day.isoformat()


def test_the_daily_schedule_skips_before_the_first_partition():
    assert isinstance(whole_graph_daily(dg.build_schedule_context(scheduled_execution_time=at(first_day()))), dg.SkipReason)
    first = whole_graph_daily(dg.build_schedule_context(scheduled_execution_time=at(first_day() + timedelta(days=1))))
    assert first.partition_key == first_day().isoformat()


def test_the_daily_schedule_tick_resolves_against_the_project(project_defs):
    """As the daemon evaluates it: the partition key is valid for the whole-graph job."""
    day = first_day() + timedelta(days=10)
    schedule = project_defs.get_schedule_def("whole_graph_daily")
    context = dg.build_schedule_context(scheduled_execution_time=at(day), repository_def=project_defs.get_repository_def())
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/partition"] == (day - timedelta(days=1)).isoformat()
    assert schedule.job_name == whole_graph_job.name


# --- The landing sensor -------------------------------------------------------------------


def write_events(landing: Path, day, name: str = "part-0.jsonl", text: str = '{"event_id": "a"}\n') -> Path:
    path = event_day_dir(landing, day) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def tick(landing: Path, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor, instance=instance, resources={"landing": Landing(path=str(landing))})
    return landing_events_sensor(context)


def requested(result: dg.SensorResult) -> list[str]:
    return [r.partition_key for r in result.run_requests or []]


def test_the_landing_sensor_requests_each_new_or_changed_day_once(tmp_path):
    landing = tmp_path / "landing"
    today = datetime.now(timezone.utc).date()
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    path = write_events(landing, yesterday)
    write_events(landing, before)
    write_events(landing, today)  # not a partition yet
    write_events(landing, first_day() - timedelta(days=1))  # never a partition
    (landing / "events" / "not-a-day").mkdir()

    with dg.instance_for_test() as instance:
        first = tick(landing, instance, None)
        assert requested(first) == [before.isoformat(), yesterday.isoformat()]
        assert sorted(json.loads(first.cursor)) == [before.isoformat(), yesterday.isoformat()]
        assert all(r.tags.get("ecommerce/trigger") == "landing" for r in first.run_requests)

        # The same files again: nothing.
        again = tick(landing, instance, first.cursor)
        assert requested(again) == [] and again.cursor == first.cursor

        # A file grows: its day again, only its day.
        path.write_text(path.read_text() + '{"event_id": "b"}\n')
        grown = tick(landing, instance, again.cursor)
        assert requested(grown) == [yesterday.isoformat()]

        # Same size, new content: the mtime tells.
        stat = path.stat()
        path.write_text(path.read_text().replace("a", "c"))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        rewritten = tick(landing, instance, grown.cursor)
        assert requested(rewritten) == [yesterday.isoformat()]

        # A second file for a day, then ignored files (temporary, hidden, other suffixes).
        write_events(landing, before, "part-1.jsonl.gz", "x")
        added = tick(landing, instance, rewritten.cursor)
        assert requested(added) == [before.isoformat()]
        write_events(landing, before, "_part-2.jsonl.tmp")
        write_events(landing, before, ".part-3.jsonl")
        write_events(landing, before, "notes.txt")
        assert requested(tick(landing, instance, added.cursor)) == []


def test_a_day_already_loaded_after_its_files_is_not_requested_on_first_sight():
    now = datetime.now(timezone.utc)
    day = (now - timedelta(days=3)).date()
    files = {day: DayFiles(digest="abc", newest_mtime=1_000.0)}
    assert landing_run_requests(files, {}, now, lambda key: 1_000.5) == ([], {day.isoformat(): "abc"})
    requests, _ = landing_run_requests(files, {}, now, lambda key: 999.0)  # loaded before the file changed
    assert [r.partition_key for r in requests] == [day.isoformat()]
    requests, _ = landing_run_requests(files, {day.isoformat(): "old"}, now, lambda key: 1_000.5)  # known day, changed
    assert [r.partition_key for r in requests] == [day.isoformat()]


def test_a_late_file_keeping_an_old_mtime_counts_from_its_arrival(tmp_path):
    landing = tmp_path / "landing"
    day = datetime.now(timezone.utc).date() - timedelta(days=3)
    arrived = time_module.time()
    path = write_events(landing, day)
    os.utime(path, (1_000, 1_000))  # as `cp -p` or `rsync -a` leave a file copied in late

    [(found, files)] = scan_landing(landing).items()

    assert found == day and files.newest_mtime >= arrived - 1
    assert landing_run_requests({day: files}, {}, datetime.now(timezone.utc), lambda key: arrived - 60)[0]


@pytest.mark.parametrize("cursor", ["not json", "[1, 2]", '{"2026-11-20": 7}'])
def test_an_unreadable_cursor_is_a_lost_one_not_a_failing_tick(tmp_path, cursor):
    landing = tmp_path / "landing"
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    write_events(landing, yesterday)

    with dg.instance_for_test() as instance:
        result = tick(landing, instance, cursor)

    assert requested(result) == [yesterday.isoformat()]
    assert list(json.loads(result.cursor)) == [yesterday.isoformat()]


def test_the_landing_sensor_survives_a_missing_landing_dir(tmp_path):
    with dg.instance_for_test() as instance:
        result = tick(tmp_path / "nowhere", instance, None)
    assert requested(result) == [] and result.cursor == "{}"


# --- Alerts ---------------------------------------------------------------------------


class Received(list):
    """The alerts a webhook accepted; `answer(body)` gives each POST's status (204: accepted)."""

    def answer(self, body: dict) -> int:
        return 204


@pytest.fixture
def webhook(monkeypatch):
    """A JSON receiver on 127.0.0.1; ECOMMERCE_ALERT_WEBHOOK_URL points at it."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = received.answer(body)
            if status < 300:
                received.append(body)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{server.server_port}/alerts")
    yield received
    server.shutdown()
    server.server_close()


@dg.asset
def flaky_orders() -> None:
    raise RuntimeError("orders source unreachable")


@dg.asset
def stock() -> None: ...


@dg.asset_check(asset=stock, blocking=True)
def stock_not_negative() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"negative_rows": 3}, description="3 rows below zero")


@dg.asset_check(asset=stock)
def stock_recent() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


ALERT_DEFS = dg.Definitions(
    assets=[flaky_orders, stock],
    asset_checks=[stock_not_negative, stock_recent],
    jobs=[dg.define_asset_job("orders_job", selection=[flaky_orders])],
)


def test_a_failed_run_is_posted_to_the_webhook(webhook):
    with dg.instance_for_test() as instance:
        result = ALERT_DEFS.resolve_job_def("orders_job").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        run_failure_alert(context)

    [alert] = webhook
    assert alert["kind"] == "run_failure" and alert["run_id"] == result.run_id and alert["job"] == "orders_job"
    assert alert["assets"] == ["flaky_orders"] and alert["severity"] == "ERROR"
    assert "orders source unreachable" in alert["message"]
    assert datetime.fromisoformat(alert["timestamp"]).tzinfo is not None


def test_a_failed_run_started_from_the_command_line_is_alerted_by_the_code_locations_sensor(webhook):
    """A run of `dagster asset materialize -m ...` has no code location; the sensor has one."""
    with dg.instance_for_test() as instance:
        repository = ALERT_DEFS.get_repository_def()
        context = dg.build_sensor_context(instance=instance, repository_def=repository, repository_name=repository.name)
        first = run_failure_alert.evaluate_tick(context)  # a first tick only sets its cursor
        result = ALERT_DEFS.resolve_job_def("orders_job").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success and result.dagster_run.remote_job_origin is None
        run_failure_alert.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repository, repository_name=repository.name,
                                    cursor=first.cursor))

    assert [(alert["kind"], alert["run_id"]) for alert in webhook] == [("run_failure", result.run_id)]


def test_a_failed_blocking_check_is_posted_once(webhook):
    with dg.instance_for_test() as instance:
        result = dg.materialize([stock, stock_not_negative, stock_recent], instance=instance, raise_on_error=False)
        context = dg.build_sensor_context(instance=instance, definitions=ALERT_DEFS)
        first = check_failure_alert(context)
        # Evaluated again with its cursor: nothing new.
        check_failure_alert(dg.build_sensor_context(instance=instance, definitions=ALERT_DEFS, cursor=first.cursor))

    [alert] = webhook  # the WARN check is not blocking, so not alerted
    assert alert["kind"] == "check_failure" and alert["run_id"] == result.run_id
    assert alert["assets"] == ["stock"] and alert["checks"] == ["stock:stock_not_negative"]
    assert (alert["severity"], alert["blocking"], alert["message"]) == ("ERROR", True, "3 rows below zero")
    assert alert["metadata"] == {"negative_rows": "3"}


@dg.asset
def ledger() -> None: ...


@dg.asset_check(asset=ledger, blocking=True)
def ledger_balanced(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    warn = context.run.tags.get("severity") == "warn"
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN if warn else dg.AssetCheckSeverity.ERROR,
                               description=context.run.tags.get("day"))


LEDGER_DEFS = dg.Definitions(assets=[ledger], asset_checks=[ledger_balanced])


def fail_ledger(instance, days: int, severity: str = "error") -> list[str]:
    for day in range(days):
        dg.materialize([ledger, ledger_balanced], instance=instance, raise_on_error=False,
                       tags={"severity": severity, "day": f"{severity}-{day}"})
    return [f"{severity}-{day}" for day in range(days)]


def test_every_error_failure_is_posted_however_many_warnings_came_after(webhook):
    with dg.instance_for_test() as instance:
        errors = fail_ledger(instance, 3)
        fail_ledger(instance, 11, severity="warn")  # FAILED rows too, newer than the errors
        check_failure_alert(dg.build_sensor_context(instance=instance, definitions=LEDGER_DEFS))

    assert sorted(alert["message"] for alert in webhook) == errors


def test_an_alert_the_webhook_refused_is_sent_next_tick_and_none_twice(webhook, monkeypatch):
    monkeypatch.setattr(sensors, "time", SimpleNamespace(time=time_module.time, sleep=lambda seconds: None))
    refusals = iter([True] * 3)  # every attempt at the second alert

    def answer(body: dict) -> int:
        return 503 if len(webhook) == 1 and next(refusals, False) else 204

    webhook.answer = answer
    with dg.instance_for_test() as instance:
        errors = fail_ledger(instance, 3)
        first = check_failure_alert(dg.build_sensor_context(instance=instance, definitions=LEDGER_DEFS))
        delivered_first = len(webhook)
        check_failure_alert(dg.build_sensor_context(instance=instance, definitions=LEDGER_DEFS, cursor=first.cursor))

    assert delivered_first == 1
    assert sorted(alert["message"] for alert in webhook) == errors


def test_without_a_webhook_alerts_are_only_logged(monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    logged = []

    class Log:
        def warning(self, message):
            logged.append(message)

    send_alert({"kind": "run_failure", "run_id": "r1"}, Log())
    assert len(logged) == 1 and '"run_id": "r1"' in logged[0]


# --- History automation ---------------------------------------------------------------


def test_history_follows_a_daily_parent_once_unless_a_blocking_check_failed():
    days = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")  # most days never built

    @dg.asset
    def snapshot() -> None: ...

    @dg.asset(partitions_def=days, deps=[snapshot], tags={"partitioning": "daily"},
              check_specs=[dg.AssetCheckSpec("valid", asset="daily", blocking=True)])
    def daily(context: dg.AssetExecutionContext):
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=not context.run.tags.get("bad"))

    @dg.asset(deps=[daily, snapshot], group_name="marts", automation_condition=history_automation())
    def history() -> None: ...

    @dg.asset(deps=[daily, snapshot], group_name="marts", automation_condition=dg.AutomationCondition.eager())
    def plain_eager() -> None: ...

    assets = [snapshot, daily, history, plain_eager]
    defs = dg.Definitions(assets=assets)
    now = datetime(2026, 11, 22, 3, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        cursor = None

        def evaluate() -> dict[str, int]:
            nonlocal cursor
            result = dg.evaluate_automation_conditions(defs, instance, evaluation_time=now, cursor=cursor)
            cursor = result.cursor
            return {k: result.get_num_requested(dg.AssetKey(k)) for k in ("history", "plain_eager")}

        dg.materialize(assets, instance=instance, selection=[snapshot, history, plain_eager])
        evaluate()
        dg.materialize(assets, instance=instance, selection=[daily], partition_key="2026-11-20")
        # eager() alone waits for the never-built days since January forever.
        assert evaluate() == {"history": 1, "plain_eager": 0}
        assert evaluate() == {"history": 0, "plain_eager": 0}
        dg.materialize(assets, instance=instance, selection=[daily], partition_key="2026-11-21", tags={"bad": "1"},
                       raise_on_error=False)
        assert evaluate()["history"] == 0
        # The whole graph in one run (the daily schedule): nothing to follow up.
        dg.materialize(assets, instance=instance, partition_key="2026-11-21")
        assert evaluate()["history"] == 0


def test_the_history_automation_sensor_targets_the_history_slice(project_defs):
    sensor = project_defs.get_sensor_def("history_automation_sensor")
    graph = project_defs.resolve_asset_graph()
    assert sensor.asset_selection.resolve(graph) == selections.selection("history").resolve(graph)
