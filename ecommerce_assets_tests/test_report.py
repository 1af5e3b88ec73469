"""The asset-check report over a real (temporary) Dagster instance and tiny definitions."""

import json

import dagster as dg
import pytest

from ecommerce_assets.report import build_report, exit_code, render

days = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC")


@dg.asset
def orders() -> None: ...


@dg.asset_check(asset=orders, blocking=True, description="orders must not be empty")
def orders_not_empty() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"rows": 0}, description="orders is empty")


@dg.asset_check(asset=orders)
def orders_have_ids() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"null_ids": 0})


@dg.asset_check(asset=orders)
def orders_recent() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


@dg.asset
def customers() -> None: ...


@dg.asset_check(asset=customers, description="a failure that does not block")
def customers_named() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)


@dg.asset_check(asset=customers, blocking=True)
def customers_unique() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset
def payments(context: dg.AssetExecutionContext) -> None:
    if context.run.tags.get("explode"):
        raise RuntimeError("payments source unreachable")


@dg.asset_check(asset=payments, blocking=True)
def payments_balanced() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


# Like the dbt daily models: a partitioned asset with an unpartitioned check, and one
# partitioned check for good measure.
@dg.asset(
    partitions_def=days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec("events_unique", asset="events", blocking=True),
        dg.AssetCheckSpec("events_volume", asset="events", partitions_def=days),
    ],
)
def events(context: dg.AssetExecutionContext):
    yield dg.MaterializeResult()
    dupes = int(context.run.tags.get("dupes", 0))
    yield dg.AssetCheckResult(check_name="events_unique", passed=not dupes, metadata={"duplicates": dupes})
    low, thin = context.run.tags.get("low"), context.run.tags.get("thin")
    yield dg.AssetCheckResult(check_name="events_volume", passed=not (low or thin),
                              severity=dg.AssetCheckSeverity.WARN if thin else dg.AssetCheckSeverity.ERROR)


ASSETS = [orders, customers, payments, events]
CHECKS = [orders_not_empty, orders_have_ids, orders_recent, customers_named, customers_unique, payments_balanced]
defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[dg.define_asset_job("payments_job", selection=[payments])],
)
GRAPH = defs.resolve_asset_graph()


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def rows_by_check(instance, asset: str) -> dict[str, list]:
    found = {}
    for row in build_report(instance, GRAPH):
        if row.asset == asset:
            found.setdefault(row.check, []).append(row)
    return found


def materialize(instance, asset, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*ASSETS, *CHECKS],
        selection=[asset],
        instance=instance,
        raise_on_error=False,
        **kwargs,
    )


def test_failed_blocking_check_is_named_and_fails_the_exit_code(instance):
    materialize(instance, orders)
    rows = build_report(instance, GRAPH)
    by_check = {(r.asset, r.check): r for r in rows}

    failed = by_check[("orders", "orders_not_empty")]
    assert (failed.status, failed.severity, failed.blocking) == ("failed", "ERROR", True)
    assert failed.metadata == {"rows": "0"} and failed.message == "orders is empty"
    assert failed.when and failed.run_id
    passed = by_check[("orders", "orders_have_ids")]
    assert (passed.status, passed.severity) == ("passed", None)
    assert (by_check[("orders", "orders_recent")].status, by_check[("orders", "orders_recent")].severity) == ("warned", "WARN")
    assert by_check[("customers", "customers_unique")].status == "never run"
    assert exit_code(rows) == 1

    text = render(rows, "text")
    assert "orders_not_empty" in text.split("blocking checks failing:")[1]
    parsed = json.loads(render(rows, "json"))
    assert {(r["asset"], r["check"], r["status"]) for r in parsed} >= {
        ("orders", "orders_not_empty", "failed"), ("customers", "customers_unique", "never run")}
    markdown = render(rows, "markdown").splitlines()
    assert markdown[0].startswith("| asset | check | partition | status |")
    assert set(markdown[1].replace(" ", "")) == {"|", "-"}
    assert any("orders_not_empty" in line and "failed" in line for line in markdown[2:])
    with pytest.raises(ValueError):
        render(rows, "html")


def test_passing_checks_and_a_failure_that_does_not_block_exit_zero(instance):
    materialize(instance, customers)
    rows = [r for r in build_report(instance, GRAPH) if r.asset == "customers"]
    assert [(r.check, r.status, r.severity, r.blocking) for r in rows] == [
        ("customers_named", "failed", "ERROR", False), ("customers_unique", "passed", None, True)]
    assert exit_code(rows) == 0


def test_planned_then_skipped_when_the_run_ends_without_evaluating(instance):
    materialize(instance, payments)
    # A run plans its checks when it is created (queued, or here not started): planned until it ends.
    run = instance.create_run_for_job(defs.resolve_job_def("payments_job"), status=dg.DagsterRunStatus.NOT_STARTED)
    [row] = rows_by_check(instance, "payments")["payments_balanced"]
    assert (row.status, row.last_result, row.run_id) == ("planned", "passed", run.run_id)
    instance.report_run_canceled(run)
    [row] = rows_by_check(instance, "payments")["payments_balanced"]
    assert (row.status, row.last_result) == ("skipped", "passed")
    assert "CANCELED" in row.message


def test_skipped_when_the_asset_fails_before_its_check(instance):
    result = materialize(instance, payments, tags={"explode": "1"})
    assert not result.success
    [row] = rows_by_check(instance, "payments")["payments_balanced"]
    assert (row.status, row.last_result, row.run_id) == ("skipped", None, result.run_id)
    assert "FAILURE" in row.message
    assert exit_code([row]) == 0


def test_a_range_run_evaluates_once_without_partition(instance):
    materialize(instance, events, partition_key="2026-11-04")
    materialize(instance, events, tags={
        "dagster/asset_partition_range_start": "2026-11-01",
        "dagster/asset_partition_range_end": "2026-11-03",
    })
    checks = rows_by_check(instance, "events")

    # The unpartitioned check: a row for each window run, not three skipped days.
    unique = {r.partition: (r.status, r.metadata) for r in checks["events_unique"]}
    assert unique == {"2026-11-04": ("passed", {"duplicates": "0"}), "2026-11-01...2026-11-03": ("passed", {"duplicates": "0"})}
    # The partitioned check: the single day keeps its own row; the range run's has none.
    volume = {r.partition: r.status for r in checks["events_volume"]}
    assert volume == {"2026-11-04": "passed", "2026-11-01...2026-11-03": "passed"}


def test_a_per_day_check_shows_its_recent_days_and_older_failures(instance):
    materialize(instance, events, partition_key="2026-11-01", tags={"low": "1"})
    for day in ("2026-11-02", "2026-11-03", "2026-11-04"):
        materialize(instance, events, partition_key=day)
    rows = [r for r in build_report(instance, GRAPH, recent=2) if r.check == "events_volume"]
    assert [(r.partition, r.status) for r in rows] == [
        ("2026-11-01", "failed"), ("2026-11-03", "passed"), ("2026-11-04", "passed")]


def test_the_recent_seven_days_and_an_older_warning_are_shown(instance):
    materialize(instance, events, partition_key="2026-11-01", tags={"thin": "1"})
    for day in range(2, 10):
        materialize(instance, events, partition_key=f"2026-11-{day:02d}")
    rows = [r for r in build_report(instance, GRAPH) if r.check == "events_volume"]
    assert [(r.partition, r.status) for r in rows] == [
        ("2026-11-01", "warned"), *((f"2026-11-{day:02d}", "passed") for day in range(3, 10))]


def test_a_blocking_failure_a_later_run_skipped_still_fails_the_exit_code(instance):
    materialize(instance, orders)
    job = dg.define_asset_job("orders_job", selection=[orders]).resolve(asset_graph=GRAPH)
    instance.report_run_canceled(instance.create_run_for_job(job, status=dg.DagsterRunStatus.NOT_STARTED))
    rows = [r for r in build_report(instance, GRAPH) if r.check == "orders_not_empty"]
    assert [(r.status, r.last_result) for r in rows] == [("skipped", "failed")]
    assert exit_code(rows) == 1


def test_a_day_that_failed_stays_failing_until_a_run_covering_it_passes(instance):
    # A dbt test of a daily model reads its run's window: a pass on a later day says nothing of this one.
    def unique_rows() -> list[tuple[str, str]]:
        return [(r.partition, r.status) for r in rows_by_check(instance, "events")["events_unique"]]

    materialize(instance, events, partition_key="2026-11-05", tags={"dupes": "2"})
    materialize(instance, events, partition_key="2026-11-06")
    assert unique_rows() == [("2026-11-05", "failed"), ("2026-11-06", "passed")]
    assert exit_code(build_report(instance, GRAPH)) == 1

    materialize(instance, events, tags={
        "dagster/asset_partition_range_start": "2026-11-04", "dagster/asset_partition_range_end": "2026-11-05",
    })
    assert unique_rows() == [("2026-11-04...2026-11-05", "passed"), ("2026-11-06", "passed")]
    assert exit_code([r for r in build_report(instance, GRAPH) if r.asset == "events"]) == 0


def test_a_failure_older_than_any_page_of_history_is_still_reported(instance, monkeypatch):
    monkeypatch.setattr("ecommerce_assets.report.HISTORY_PAGE", 2)
    materialize(instance, events, partition_key="2026-11-01", tags={"low": "1"})
    for day in ("2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"):
        materialize(instance, events, partition_key=day)
    volume = {r.partition: r.status for r in build_report(instance, GRAPH, recent=2) if r.check == "events_volume"}
    assert volume == {"2026-11-01": "failed", "2026-11-04": "passed", "2026-11-05": "passed"}


def test_a_line_break_in_metadata_keeps_a_row_on_one_line(instance):
    row = build_report(instance, GRAPH)[0]
    broken = type(row)(**{**row.__dict__, "metadata": {"note": "line one\nline two | x"}})
    markdown = render([broken], "markdown").splitlines()
    assert len(markdown) == 5 and markdown[2].endswith("| note=line one line two \\| x | - |")  # header, rule, row, blank, summary
    assert len(render([broken], "text").splitlines()) == 4


def test_main_checks_reports_the_project_definitions(tmp_path, monkeypatch, capsys):
    from ecommerce_assets.definitions import defs as project_defs
    from ecommerce_assets.report import main_checks

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert main_checks("json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(project_defs.resolve_asset_graph().asset_check_keys)
    assert {r["status"] for r in rows} == {"never run"}
