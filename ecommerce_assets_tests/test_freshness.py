"""Every asset has a freshness policy, and a stale asset goes WARN, then FAIL, as time passes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time

from ecommerce_assets import freshness
from ecommerce_assets.definitions import defs

GRAPH = defs.resolve_asset_graph()
MIDNIGHT = datetime(2026, 11, 21, 0, 30, tzinfo=timezone.utc)


def test_every_asset_has_the_freshness_policy_of_its_slice():
    expected = {"raw/events": freshness.DAILY, "marts/fct_daily_sales": freshness.DAILY,
                "raw/products": freshness.SNAPSHOTS, "snapshots/products_snapshot": freshness.SNAPSHOTS,
                "marts/dim_user_segments": freshness.HISTORY, "staging/stg_users": freshness.HISTORY}
    for key in GRAPH.get_all_asset_keys():
        assert GRAPH.get(key).freshness_policy is not None, key
    for key, policy in expected.items():
        assert GRAPH.get(dg.AssetKey.from_user_string(key)).freshness_policy == policy, key


def state_at(instance: dg.DagsterInstance, key: str, hours_after: float) -> FreshnessState:
    node = GRAPH.get(dg.AssetKey.from_user_string(key))
    with freeze_time(MIDNIGHT + timedelta(hours=hours_after)):
        return asyncio.run(TimeWindowFreshnessPolicyEvaluator().evaluate_freshness(LoadingContextForTest(instance), node))


@pytest.mark.parametrize(("key", "warn_after", "fail_after"), [
    ("marts/fct_daily_sales", 26, 30),
    ("marts/dim_users", 26, 48),
    ("raw/products", 26, 24 * 7),
])
def test_a_stale_asset_warns_then_fails_as_time_passes(key, warn_after, fail_after):
    instance = dg.DagsterInstance.ephemeral()
    assert state_at(instance, key, 0) == FreshnessState.UNKNOWN  # never materialised
    with freeze_time(MIDNIGHT):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=dg.AssetKey.from_user_string(key)))
    assert state_at(instance, key, 1) == FreshnessState.PASS
    assert state_at(instance, key, warn_after - 0.5) == FreshnessState.PASS
    assert state_at(instance, key, warn_after + 0.5) == FreshnessState.WARN
    assert state_at(instance, key, fail_after + 0.5) == FreshnessState.FAIL


def test_every_asset_has_a_freshness_policy_and_at_least_one_check():
    checked = {key.asset_key for key in GRAPH.asset_check_keys}
    for key in GRAPH.get_all_asset_keys():
        assert GRAPH.get(key).freshness_policy is not None, key
        assert key in checked, f"{key.to_user_string()} has no check"
