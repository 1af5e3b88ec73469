"""The Python asset checks: pure verdicts, then each check run for real through Dagster on the
week of `range_shop` (clean: passes) and on copies broken by a direct SQL change (fails)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import duckdb
import pytest

from ecommerce_assets import checks
from ecommerce_assets.checks import (
    CHECKS,
    Band,
    Thresholds,
    VolumeBand,
    band_severity,
    exact_mismatches,
    purchase_reconciliation_severity,
    reject_rate_severity,
    relative_difference,
    volume_verdict,
)
from ecommerce_assets.partitions import daily_partitions

from .pipeline import Shop, copy_shop, shop_environment

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR
DAILY_CHECKS = [c for c in CHECKS if all(s.partitions_def is not None for s in c.check_specs)]
SNAPSHOT_CHECKS = [c for c in CHECKS if c not in DAILY_CHECKS]


# --- pure verdicts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, None), (0.01, None), (0.0101, WARN), (0.05, WARN), (0.0501, ERROR), (1.0, ERROR)],
)
def test_band_severity_passes_up_to_warn_then_warns_up_to_fail_then_errors(value, expected):
    assert band_severity(value, 0.01, 0.05) == expected


def test_reject_rate_severity_divides_by_received_and_passes_when_nothing_was_received():
    assert reject_rate_severity(0, 0, 0.01, 0.05) is None
    assert reject_rate_severity(1, 100, 0.01, 0.05) is None  # exactly 1%
    assert reject_rate_severity(2, 100, 0.01, 0.05) == WARN
    assert reject_rate_severity(6, 100, 0.01, 0.05) == ERROR


def test_thresholds_have_documented_defaults_and_read_overrides_from_the_environment():
    defaults = Thresholds.from_env({})
    assert defaults.event_rejects == Band(0.01, 0.05)
    assert defaults.api_rejects == Band(0.05, 0.10)
    assert defaults.duplicates == Band(0.02, 0.10)
    assert defaults.volume == VolumeBand(2.0, 5.0, 3)
    assert defaults.revenue_drift == Band(0.01, 0.05)
    tuned = Thresholds.from_env({"ECOMMERCE_REJECT_WARN": "0.02", "ECOMMERCE_REJECT_FAIL": "0.2",
                                 "ECOMMERCE_VOLUME_MIN_HISTORY": "5", "ECOMMERCE_DUPLICATE_FAIL": ""})
    assert tuned.event_rejects == Band(0.02, 0.2)
    assert tuned.volume.min_history == 5
    assert tuned.duplicates == Band(0.02, 0.10)  # empty means default
    with pytest.raises(ValueError, match="ECOMMERCE_REJECT_WARN and ECOMMERCE_REJECT_FAIL: .*warn <= fail"):
        Thresholds.from_env({"ECOMMERCE_REJECT_WARN": "0.2", "ECOMMERCE_REJECT_FAIL": "0.1"})
    for not_finite in ("nan", "inf"):
        with pytest.raises(ValueError, match=f"ECOMMERCE_VOLUME_MIN_HISTORY='{not_finite}' is not a finite number"):
            Thresholds.from_env({"ECOMMERCE_VOLUME_MIN_HISTORY": not_finite})
    with pytest.raises(ValueError, match="ECOMMERCE_API_REJECT_FAIL"):
        Thresholds.from_env({"ECOMMERCE_API_REJECT_FAIL": "ten percent"})
    with pytest.raises(ValueError, match="volume factors"):
        Thresholds.from_env({"ECOMMERCE_VOLUME_WARN_FACTOR": "6"})


def test_volume_verdict_passes_with_a_note_without_enough_history():
    verdict = volume_verdict(10, [])
    assert verdict.passed and verdict.ratio is None and verdict.history_days == 0
    assert "not enough history" in verdict.note
    # Days without data are not zeros of the norm: two days of data are still too few.
    verdict = volume_verdict(1, [0, 0, 100, 0, 100, 0, 0])
    assert verdict.passed and verdict.history_days == 2 and "not enough history" in verdict.note


def test_volume_verdict_judges_the_ratio_to_the_trailing_median():
    week = [100, 0, 90, 110, 100, 0, 120]  # median of the days with data: 100
    assert volume_verdict(100, week).passed
    assert volume_verdict(50, week).passed and volume_verdict(200, week).passed  # band edges pass
    assert volume_verdict(49, week).severity == WARN
    assert volume_verdict(201, week).severity == WARN
    assert volume_verdict(19, week).severity == ERROR
    assert volume_verdict(501, week).severity == ERROR
    missing = volume_verdict(0, week)
    assert missing.severity == ERROR and missing.ratio == 0 and missing.median == 100
    assert volume_verdict(10, [10, 20, 30, 40]).median == 25  # even count: mean of the middle two
    assert volume_verdict(2, [1, 1, 1], VolumeBand(1.5, 3, 3)).severity == WARN


def test_relative_difference_and_purchase_reconciliation_bands():
    assert relative_difference(Decimal("100.00"), Decimal("100.00")) == 0
    assert relative_difference(Decimal("0"), Decimal("0")) == 0
    assert math.isinf(relative_difference(Decimal("0"), Decimal("1.00")))
    assert relative_difference(Decimal("200.00"), Decimal("190.00")) == pytest.approx(0.05)
    # Counts or ids that differ fail whatever the revenue says.
    assert purchase_reconciliation_severity(10, 11, 1, 0.0, 0.01, 0.05) == ERROR
    assert purchase_reconciliation_severity(10, 10, 2, 0.0, 0.01, 0.05) == ERROR
    assert purchase_reconciliation_severity(10, 10, 0, 0.005, 0.01, 0.05) is None
    assert purchase_reconciliation_severity(10, 10, 0, 0.02, 0.01, 0.05) == WARN
    assert purchase_reconciliation_severity(10, 10, 0, 0.06, 0.01, 0.05) == ERROR


def test_exact_mismatches_compares_to_the_cent():
    expected = {"revenue": Decimal("10.00"), "items": 3}
    assert exact_mismatches(expected, {"revenue": Decimal("10.00"), "items": 3}) == {}
    assert exact_mismatches(expected, {"revenue": Decimal("10.01"), "items": 3}) == {
        "revenue": (Decimal("10.00"), Decimal("10.01"))
    }
    assert exact_mismatches(expected, {"revenue": Decimal("10.00")}) == {"items": (3, None)}


def test_every_check_is_described_blocking_and_the_daily_ones_are_partitioned():
    specs = {spec.key: spec for c in CHECKS for spec in c.check_specs}
    assert {(k.asset_key.to_user_string(), k.name) for k in specs} == {
        ("raw/events", "contract_reject_rate"), ("raw/events", "duplicate_rate"),
        ("raw/events", "volume_vs_trailing_week"), ("raw/carts", "contract_reject_rate"),
        ("raw/carts", "volume_vs_trailing_week"), ("raw/products", "contract_reject_rate"),
        ("raw/users", "contract_reject_rate"), ("marts/fct_carts", "purchase_events_reconcile"),
        ("marts/fct_daily_sales", "reconciles_with_cart_lines"),
    }
    for key, spec in specs.items():
        assert spec.blocking, key
        assert spec.description and len(spec.description) > 80, key
        daily = key.asset_key.path[0] != "raw" or key.asset_key.path[1] in ("events", "carts")
        assert (spec.partitions_def is daily_partitions) == daily, key


# --- running checks through Dagster --------------------------------------------------------

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dg.asset(key=["test", "after_raw_events"], deps=[checks.RAW_EVENTS], partitions_def=daily_partitions,
          backfill_policy=dg.BackfillPolicy.single_run())
def after_raw_events() -> None:
    """A probe downstream of raw/events: runs only if the blocking checks let it."""


def run_checks(shop: Shop, selected: Sequence[dg.AssetChecksDefinition], days: Sequence[date] = (),
               probe: bool = False, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """One run of the selected checks (and the probe), over `days` as one range, as the CLI does."""
    tags = {RANGE_START: min(days).isoformat(), RANGE_END: max(days).isoformat()} if days else {}
    selection = dg.AssetSelection.checks(*selected)
    if probe:
        selection = selection | dg.AssetSelection.assets(after_raw_events)
    with shop_environment(shop) as defs:
        return dg.materialize(
            [*defs.assets, *CHECKS, after_raw_events], selection=selection, resources=defs.resources,
            tags=tags, instance=instance, raise_on_error=False,
        )


def by_key(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str, str | None], dg.AssetCheckEvaluation]:
    found = {}
    for evaluation in result.get_asset_check_evaluations():
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.partition)
        assert key not in found, f"two evaluations for {key}"
        found[key] = evaluation
    return found


def severity(evaluation: dg.AssetCheckEvaluation) -> dg.AssetCheckSeverity | None:
    return None if evaluation.passed else evaluation.severity


def meta(evaluation: dg.AssetCheckEvaluation, name: str):
    return evaluation.metadata[name].value


def execute(shop: Shop, *sql: str) -> None:
    with duckdb.connect(str(shop.db)) as con:
        for statement in sql:
            con.execute(statement)


def day(n: int) -> date:
    return date(2026, 11, n)


def test_every_check_passes_on_the_clean_week_and_reports_each_partition(range_shop):
    instance = dg.DagsterInstance.ephemeral()
    result = run_checks(range_shop, DAILY_CHECKS, range_shop.days(), probe=True, instance=instance)
    assert result.success
    found = by_key(result)
    days = [d.isoformat() for d in range_shop.days()]
    daily_keys = [spec.key for c in DAILY_CHECKS for spec in c.check_specs]
    assert set(found) == {(k.asset_key.to_user_string(), k.name, d) for k in daily_keys for d in days}
    failing = {key: e.description for key, e in found.items() if not e.passed}
    assert not failing
    # Each day's execution, planned by the range run, is resolved with that day's result.
    for key in daily_keys:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
        assert sorted((r.partition, r.status.value) for r in history) == [(d, "SUCCEEDED") for d in days]
    # Passing blocking checks let the downstream asset run.
    materialized = [e.asset_key for e in result.get_asset_materialization_events()]
    assert materialized.count(after_raw_events.key) == len(days)

    # What a person reads: the measured value, the thresholds, the counts.
    first = found[("raw/events", "volume_vs_trailing_week", "2026-11-02")]
    assert "not enough history" in meta(first, "note")
    last = found[("raw/events", "volume_vs_trailing_week", "2026-11-08")]
    assert meta(last, "history_days") == 6 and 0.5 <= meta(last, "ratio_to_median") <= 2
    rejects = found[("raw/events", "contract_reject_rate", "2026-11-05")]
    (expected,) = range_shop.query(
        "SELECT count(*) FROM raw.events_rejected WHERE partition_date = '2026-11-05' AND rule <> 'duplicate'")
    assert meta(rejects, "rejected") == expected[0] > 0
    assert meta(rejects, "warn_above") == 0.01 and meta(rejects, "fail_above") == 0.05
    assert meta(rejects, "reject_rate") == pytest.approx(expected[0] / meta(rejects, "received_excluding_duplicates"))
    # The range run filed every cart reject under its first day; each counts on its cart's day.
    carts = [found[("raw/carts", "contract_reject_rate", d)] for d in days]
    (total,) = range_shop.query("SELECT count(*) FROM raw.carts_rejected")
    assert sum(meta(e, "rejected") for e in carts) == total[0]
    assert max(meta(e, "rejected") for e in carts) < total[0]
    sales = found[("marts/fct_daily_sales", "reconciles_with_cart_lines", "2026-11-03")]
    assert meta(sales, "mismatches") == {} and meta(sales, "fct_daily_sales_revenue") == meta(sales, "int_cart_lines_revenue")


def test_snapshot_reject_rates_pass_clean_and_follow_the_thresholds(range_shop, monkeypatch):
    found = by_key(run_checks(range_shop, SNAPSHOT_CHECKS))
    users, products = found[("raw/users", "contract_reject_rate", None)], found[("raw/products", "contract_reject_rate", None)]
    assert users.passed and products.passed
    (users_rejected,) = range_shop.query("SELECT count(*) FROM raw.users_rejected")
    assert meta(users, "rejected") == users_rejected[0] > 0
    assert meta(users, "loaded") == range_shop.query("SELECT count(*) FROM raw.users")[0][0]
    assert meta(users, "fail_above") == 0.10
    # Thresholds are read at execution: the same data warns under a stricter setting.
    monkeypatch.setenv("ECOMMERCE_API_REJECT_WARN", "0.001")
    users = by_key(run_checks(range_shop, [checks.users_reject_rate]))[("raw/users", "contract_reject_rate", None)]
    assert severity(users) == WARN and meta(users, "warn_above") == 0.001


def test_snapshot_reject_rate_fails_on_a_burst_of_rejects(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "shop")
    execute(
        shop,
        "INSERT INTO raw.users_rejected (source, record_key, field, rule, reason, payload) "
        "SELECT 'test', i::VARCHAR, 'email', 'string_pattern_mismatch', 'injected', '{}' FROM range(40) t(i)",
        "INSERT INTO raw.products_rejected (source, record_key, field, rule, reason, payload) "
        "SELECT 'test', i::VARCHAR, 'price', 'greater_than', 'injected', '{}' FROM range(3) t(i)",
        "INSERT INTO raw.products_rejected (source, record_key, field, rule, reason, payload) "
        "SELECT 'test', i::VARCHAR, 'id', 'duplicate', 'injected', '{}' FROM range(10) t(i)",
    )
    result = run_checks(shop, SNAPSHOT_CHECKS)
    assert not result.success  # a blocking check failed with ERROR
    found = by_key(result)
    users, products = found[("raw/users", "contract_reject_rate", None)], found[("raw/products", "contract_reject_rate", None)]
    assert severity(users) == ERROR and meta(users, "reject_rate") > 0.10
    assert meta(users, "rejects_by_rule")["string_pattern_mismatch"] >= 40
    assert severity(products) == WARN and 0.05 < meta(products, "reject_rate") <= 0.10


def _loaded(shop: Shop, sql: str) -> int:
    return shop.query(sql)[0][0]


def test_events_reject_rate_warns_and_fails_per_day(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "shop")
    counts = {n: _loaded(shop, f"SELECT count(*) FROM raw.events WHERE event_date = '{day(n)}'") for n in (5, 6)}
    before = _loaded(shop, "SELECT count(*) FROM raw.events_rejected WHERE partition_date = '2026-11-06' AND rule <> 'duplicate'")
    inject = {5: counts[5] // 40, 6: counts[6] // 5}  # +2.5% (warn band), +20% (fail band)
    execute(shop, *(
        f"INSERT INTO raw.events_rejected (partition_date, source, field, rule, reason, payload) "
        f"SELECT DATE '{day(n)}', 'test', 'user_id', 'missing', 'injected', '{{}}' FROM range({k})"
        for n, k in inject.items()
    ))
    result = run_checks(shop, [checks.events_reject_rate], [day(4), day(5), day(6)])
    assert not result.success
    found = by_key(result)
    assert set(found) == {("raw/events", "contract_reject_rate", d.isoformat()) for d in (day(4), day(5), day(6))}
    quiet, warned, failed = (found[("raw/events", "contract_reject_rate", day(n).isoformat())] for n in (4, 5, 6))
    assert severity(quiet) is None
    assert severity(warned) == WARN and 0.01 < meta(warned, "reject_rate") <= 0.05
    assert severity(failed) == ERROR and meta(failed, "reject_rate") > 0.05
    assert meta(failed, "rejects_by_rule")["missing"] == inject[6]
    assert meta(failed, "rejected") == before + inject[6]
    assert meta(failed, "loaded") == counts[6] and meta(failed, "received_excluding_duplicates") == counts[6] + before + inject[6]
    assert "2026-11-06" in meta(failed, "quarantine_query")


def test_carts_reject_rate_fails_counting_each_reject_once_on_its_carts_day(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "shop")
    payload = """'{"id": ' || (900000 + i) || ', "userId": 1, "date": "2026-11-06T10:00:00.000Z", "products": [], "__v": 0}'"""
    execute(shop, *(
        # Filed under the first day of a range run, then again by a rerun of 2026-11-06.
        f"INSERT INTO raw.carts_rejected (partition_date, source, record_key, field, rule, reason, payload) "
        f"SELECT DATE '{filed}', 'test', (900000 + i)::VARCHAR, 'products', 'too_short', 'injected', {payload} FROM range(10) t(i)"
        for filed in (day(2), day(6))
    ))
    # A cart delivered twice is a duplicate, not a refusal, as for events: never counted.
    execute(shop, f"INSERT INTO raw.carts_rejected (partition_date, source, record_key, field, rule, reason, payload) "
                  f"SELECT DATE '{day(6)}', 'test', (800000 + i)::VARCHAR, 'id', 'duplicate', 'injected', "
                  f"{payload.replace('900000', '800000')} FROM range(50) t(i)")
    result = run_checks(shop, [checks.carts_reject_rate], [day(2), day(6)])
    assert not result.success
    found = by_key(result)
    clean = by_key(run_checks(range_shop, [checks.carts_reject_rate], [day(2), day(6)]))
    broken = found[("raw/carts", "contract_reject_rate", "2026-11-06")]
    before = clean[("raw/carts", "contract_reject_rate", "2026-11-06")]
    assert severity(broken) == ERROR and meta(broken, "reject_rate") > 0.10
    assert meta(broken, "rejected") == meta(before, "rejected") + 10
    assert meta(broken, "rejects_by_rule")["too_short"] >= 10 and "duplicate" not in meta(broken, "rejects_by_rule")
    first = ("raw/carts", "contract_reject_rate", "2026-11-02")
    assert severity(found[first]) is None and meta(found[first], "rejected") == meta(clean[first], "rejected")


def test_duplicate_rate_warns_and_fails_per_day(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "shop")
    counts = {n: _loaded(shop, f"SELECT count(*) FROM raw.events WHERE event_date = '{day(n)}'") for n in (6, 7)}
    before = _loaded(shop, "SELECT count(*) FROM raw.events_rejected WHERE partition_date = '2026-11-07' AND rule = 'duplicate'")
    inject = {6: counts[6] // 25, 7: counts[7] // 6}  # +4% (warn band), +17% (fail band)
    execute(shop, *(
        f"INSERT INTO raw.events_rejected (partition_date, source, record_key, rule, reason, payload) "
        f"SELECT DATE '{day(n)}', 'replayed.jsonl', event_id, 'duplicate', 'injected', '{{}}' "
        f"FROM raw.events WHERE event_date = DATE '{day(n)}' LIMIT {k}"
        for n, k in inject.items()
    ))
    result = run_checks(shop, [checks.events_duplicate_rate], [day(5), day(6), day(7)])
    assert not result.success
    found = {int(k[2][-2:]): e for k, e in by_key(result).items()}
    assert severity(found[5]) is None
    assert severity(found[6]) == WARN and 0.02 < meta(found[6], "duplicate_rate") <= 0.10
    assert severity(found[7]) == ERROR and meta(found[7], "duplicate_rate") > 0.10
    assert meta(found[7], "duplicates") == before + inject[7]
    assert meta(found[7], "fail_above") == 0.10
    # Every delivered line counts: loaded, refused by the contract or a repeat.
    other_rejects = _loaded(shop, f"SELECT count(*) FROM raw.events_rejected WHERE partition_date = '{day(7)}' AND rule <> 'duplicate'")
    assert other_rejects > 0
    assert meta(found[7], "received_lines") == counts[7] + other_rejects + before + inject[7]


def test_volume_warns_and_fails_against_the_trailing_week_and_blocks_downstream(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "shop")
    keep = {7: 0.30, 8: 0.05}  # ~0.35x of the norm (warn band), ~0.06x (fail band)
    kept = {n: int(_loaded(shop, f"SELECT count(*) FROM raw.events WHERE event_date = '{day(n)}'") * share)
            for n, share in keep.items()}
    execute(shop, *(
        f"DELETE FROM raw.events WHERE event_date = DATE '{day(n)}' AND event_id NOT IN ("
        f"  SELECT event_id FROM raw.events WHERE event_date = DATE '{day(n)}' ORDER BY event_id LIMIT {k})"
        for n, k in kept.items()
    ), "DELETE FROM raw.carts WHERE partition_date = DATE '2026-11-08'")
    result = run_checks(shop, [checks.events_volume, checks.carts_volume], [day(7), day(8)], probe=True)
    assert not result.success
    found = by_key(result)
    warned = found[("raw/events", "volume_vs_trailing_week", "2026-11-07")]
    failed = found[("raw/events", "volume_vs_trailing_week", "2026-11-08")]
    assert severity(warned) == WARN and 0.2 <= meta(warned, "ratio_to_median") < 0.5
    assert meta(warned, "history_days") == 5 and meta(warned, "warn_outside") == "[0.5x, 2x]"
    assert severity(failed) == ERROR and meta(failed, "ratio_to_median") < 0.2
    assert meta(warned, "rows") == kept[7] and meta(failed, "rows") == kept[8]
    assert meta(failed, "trailing_counts")["2026-11-07"] == kept[7]
    no_carts = found[("raw/carts", "volume_vs_trailing_week", "2026-11-08")]
    assert severity(no_carts) == ERROR and meta(no_carts, "rows") == 0 and meta(no_carts, "trailing_median") > 0
    assert severity(found[("raw/carts", "volume_vs_trailing_week", "2026-11-07")]) is None
    # The failed blocking check stopped the asset downstream of raw/events in the same run.
    assert not result.get_asset_materialization_events()
    assert result.is_node_untouched("test__after_raw_events")


def test_purchase_events_reconcile_with_carts_per_day(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "shop")

    def bump_one_cart(n: int, share: float) -> str:  # raise one cart's value by `share` of the day's revenue
        return (f"UPDATE marts.fct_carts SET cart_value = cart_value + (SELECT round(sum(cart_value) * {share}, 2) "
                f"FROM marts.fct_carts WHERE cart_date = DATE '{day(n)}') WHERE cart_id = (SELECT min(cart_id) "
                f"FROM marts.fct_carts WHERE cart_date = DATE '{day(n)}')")

    execute(
        shop, bump_one_cart(3, 0.03), bump_one_cart(6, 0.10),
        "INSERT INTO staging.stg_events (event_id, event_date, event_time, event_type, user_id, product_id, price, quantity, cart_id) "
        "VALUES ('fake-purchase', DATE '2026-11-05', TIMESTAMP '2026-11-05 12:00:00', 'purchase', 1, 1, 1.00, 1, 987654321)",
    )
    result = run_checks(shop, [checks.fct_carts_reconcile], [day(n) for n in range(2, 7)])
    assert not result.success
    found = {int(k[2][-2:]): e for k, e in by_key(result).items()}
    assert sorted(found) == [2, 3, 4, 5, 6]
    assert severity(found[2]) is None and severity(found[4]) is None
    assert severity(found[3]) == WARN and 0.01 < meta(found[3], "revenue_drift") <= 0.05
    assert meta(found[3], "purchase_event_carts") == meta(found[3], "fct_carts_carts")
    assert severity(found[6]) == ERROR and meta(found[6], "revenue_drift") > 0.05
    fake = found[5]  # revenue barely moves (+1.00), but one cart more: counts must match exactly
    assert severity(fake) == ERROR and meta(fake, "revenue_drift") < 0.01
    assert meta(fake, "purchase_event_carts") == meta(fake, "fct_carts_carts") + 1
    assert meta(fake, "carts_only_in_purchase_events") == 1
    assert meta(fake, "sample_carts_only_in_purchase_events") == [987654321]
    assert meta(fake, "drift_warn_above") == 0.01 and meta(fake, "drift_fail_above") == 0.05


def test_daily_sales_reconcile_with_cart_lines_to_the_cent(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "shop")
    execute(
        shop,
        "UPDATE marts.fct_daily_sales SET revenue = revenue + 0.01 WHERE sales_date = DATE '2026-11-04'",
        "UPDATE marts.fct_daily_sales SET total_items_sold = total_items_sold + 1 WHERE sales_date = DATE '2026-11-05'",
    )
    result = run_checks(shop, [checks.fct_daily_sales_reconcile], [day(3), day(4), day(5)])
    assert not result.success
    found = {int(k[2][-2:]): e for k, e in by_key(result).items()}
    assert severity(found[3]) is None
    cent = found[4]
    assert severity(cent) == ERROR and list(meta(cent, "mismatches")) == ["revenue (int_cart_lines.line_value)"]
    mismatch = meta(cent, "mismatches")["revenue (int_cart_lines.line_value)"]
    assert Decimal(mismatch["fct_daily_sales"]) - Decimal(mismatch["expected"]) == Decimal("0.01")
    items = found[5]
    assert severity(items) == ERROR
    assert set(meta(items, "mismatches")) == {"items (int_cart_lines.quantity)", "items (stg_cart_items.quantity)"}
    assert meta(items, "fct_daily_sales_items") == meta(items, "stg_cart_items_items") + 1


def test_a_day_without_any_data_fails_volume_but_reconciles(range_shop):
    """A partition with nothing loaded (a day after the week): volume fails, reconciliations agree on zero."""
    after = range_shop.last_day + timedelta(days=1)
    result = run_checks(range_shop, [checks.events_volume, checks.fct_daily_sales_reconcile], [after])
    found = by_key(result)
    volume = found[("raw/events", "volume_vs_trailing_week", after.isoformat())]
    assert severity(volume) == ERROR and meta(volume, "rows") == 0 and meta(volume, "history_days") == 7
    sales = found[("marts/fct_daily_sales", "reconciles_with_cart_lines", after.isoformat())]
    assert sales.passed and not meta(sales, "has_fct_daily_sales_row")
