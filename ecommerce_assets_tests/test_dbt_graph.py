"""The dbt project on the one asset graph: lineage, coverage, partitions, the window."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from datetime import date
from functools import cached_property

import dagster as dg
import pytest
from dagster_dbt import DbtCliResource
from packaging import version

from ecommerce_assets.assets.dbt_models import dbt_models
from ecommerce_assets.dbt_project import DBT_EXECUTABLE, DbtCli, dbt_project, window_env
from ecommerce_assets.definitions import defs
from ecommerce_assets.partitions import daily_partitions

GRAPH = defs.resolve_asset_graph()
MANIFEST = json.loads(dbt_project.manifest_path.read_text())
NODES = MANIFEST["nodes"]


def dbt_nodes(*resource_types: str) -> list[dict]:
    return [n for n in NODES.values() if n["resource_type"] in resource_types]


def key(node: dict) -> dg.AssetKey:
    return dg.AssetKey([node["config"]["schema"], node["name"]])


def test_every_staging_model_hangs_off_its_raw_asset():
    expected = {
        "stg_events": {"raw/events"},
        "stg_carts": {"raw/carts"},
        "stg_cart_items": {"raw/carts"},
        "stg_products": {"raw/products"},
        "stg_users": {"raw/users"},
    }
    for model, raw_parents in expected.items():
        parents = {p.to_user_string() for p in GRAPH.get(dg.AssetKey(["staging", model])).parent_keys}
        assert raw_parents <= parents, model
    staging = {n["name"] for n in dbt_nodes("model") if n["config"]["schema"] == "staging"}
    assert staging == set(expected)


def test_every_model_snapshot_and_test_is_on_the_graph():
    assets = GRAPH.get_all_asset_keys()
    for node in dbt_nodes("model", "snapshot"):
        assert key(node) in assets, node["unique_id"]
    checks = {c.name: c for c in GRAPH.asset_check_keys}
    tests = dbt_nodes("test")
    assert len(tests) > 60
    assert {t["name"] for t in tests} <= set(checks)


def test_error_severity_tests_block_and_warn_severity_tests_do_not():
    specs = {spec.name: spec for spec in dbt_models.check_specs}
    for test in dbt_nodes("test"):
        blocking = test["config"]["severity"].lower() == "error"
        assert specs[test["name"]].blocking is blocking, test["name"]
    assert any(s.blocking for s in specs.values()) and any(not s.blocking for s in specs.values())


def test_every_dbt_check_says_what_it_protects_and_whether_it_blocks():
    specs = {spec.name: spec for spec in dbt_models.check_specs}
    assert all(spec.description for spec in specs.values())
    assert specs["relationships_fct_carts_user_id__user_id__ref_dim_users_"].description == (
        "Every fct_carts.user_id exists in dim_users.user_id. Does not block downstream assets when it fails.")
    assert specs["not_null_products_snapshot_id"].description == (
        "products_snapshot.id is never null. Blocks downstream assets when it fails.")
    categories = next(s for name, s in specs.items() if name.startswith("accepted_values_stg_products_category"))
    assert "men's clothing" in categories.description
    singular = next(t for t in dbt_nodes("test") if not t.get("test_metadata"))
    assert specs[singular["name"]].description.startswith(singular["description"])


def test_every_model_is_daily_or_all_history_never_both():
    for node in dbt_nodes("model"):
        tags = set(node["config"]["tags"]) & {"daily", "history"}
        assert len(tags) == 1, (node["name"], node["config"]["tags"])
        if "daily" in tags:
            assert node["config"]["materialized"] == "incremental", node["name"]


def test_one_dbt_asset_definition_daily_models_share_the_raw_partitioning_and_run_ranges_at_once():
    """Every dbt node is in one asset definition, so a whole-graph run is one `dbt build`;
    daily models are partitioned like raw events, snapshots and all-history models are not."""
    dbt_keys = {key(n) for n in dbt_nodes("model", "snapshot")}
    daily = {key(n) for n in dbt_nodes("model") if "daily" in n["config"]["tags"]}
    assert set(dbt_models.keys) == dbt_keys
    assert len(daily) >= 10
    for asset_key in dbt_keys:
        expected = daily_partitions if asset_key in daily else None
        assert GRAPH.get(asset_key).partitions_def == expected, asset_key
    assert dbt_models.backfill_policy == dg.BackfillPolicy.single_run()
    assert GRAPH.get(dg.AssetKey(["raw", "events"])).partitions_def == daily_partitions


def test_every_model_has_an_enforced_contract_with_typed_columns():
    """Contracts carry the not-null rules as constraints DuckDB enforces on write; they need
    every column typed."""
    not_null_constraints = 0
    for node in dbt_nodes("model"):
        assert node["contract"]["enforced"] is True, node["name"]
        for column in node["columns"].values():
            assert column.get("data_type"), (node["name"], column["name"])
            not_null_constraints += sum(c["type"] == "not_null" for c in column.get("constraints", []))
    assert not_null_constraints > 100


def test_dbt_assets_are_described_owned_grouped_and_kinded():
    for asset_key in dbt_models.keys:
        node = GRAPH.get(asset_key)
        assert node.description, asset_key
        assert node.owners == ["team:analytics-engineering"], asset_key
        assert node.group_name == asset_key.path[0], asset_key
        assert {"dbt", "duckdb"} <= set(node.kinds), asset_key


def test_window_env_is_a_checked_half_open_window():
    assert window_env(date(2026, 11, 1), date(2026, 11, 8)) == {
        "ECOMMERCE_WINDOW_MIN_DATE": "2026-11-01",
        "ECOMMERCE_WINDOW_MAX_DATE": "2026-11-08",
    }
    with pytest.raises(ValueError, match="empty partition window"):
        window_env(date(2026, 11, 2), date(2026, 11, 2))
    with pytest.raises(TypeError):
        window_env("2026-11-01", date(2026, 11, 2))


def test_a_new_window_keeps_dbt_partial_parsing_and_reaches_the_sql(tmp_path):
    """The window travels in the environment, read only at execution: dbt re-parses the whole
    project whenever vars change, which cost every daily run a full parse (6.6 s vs 3.9 s)."""
    env = {**os.environ, "ECOMMERCE_DUCKDB_PATH": str(tmp_path / "ecommerce.duckdb")}
    env = {k: v for k, v in env.items() if not k.startswith("ECOMMERCE_WINDOW_")}
    target = ["--profiles-dir", ".", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path)]

    def dbt(*args: str, **extra_env: str) -> str:
        done = subprocess.run([DBT_EXECUTABLE, *args, *target], cwd=dbt_project.project_dir, env={**env, **extra_env},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-4000:]
        return done.stdout

    dbt("parse")
    window = window_env(date(2026, 11, 7), date(2026, 11, 8))
    out = dbt("compile", "--select", "stg_events", **window)
    assert "Unable to do partial parsing" not in out
    compiled = next((tmp_path / "target" / "compiled").rglob("stg_events.sql")).read_text()
    assert "event_date >= DATE '2026-11-07' and event_date < DATE '2026-11-08'" in compiled

    bad = subprocess.run([DBT_EXECUTABLE, "compile", "--select", "stg_events", *target], cwd=dbt_project.project_dir,
                         env={**env, "ECOMMERCE_WINDOW_MIN_DATE": "2026/11/07", "ECOMMERCE_WINDOW_MAX_DATE": "2026/11/08"},
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "min_date=2026/11/07 is not a YYYY-MM-DD date" in bad.stdout


def test_dbt_cli_still_overrides_what_dagster_dbt_has():
    """DbtCli drops two costs by overriding private methods of DbtCliResource: if an upgrade
    renames them, the overrides would silently stop working."""
    assert isinstance(DbtCliResource.__dict__["_cli_version"], cached_property)
    assert callable(DbtCliResource.__dict__["_initialize_dbt_core_adapter"])
    cli = DbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
    assert cli._cli_version == version.parse(importlib.metadata.version("dbt-core"))
    assert cli._initialize_dbt_core_adapter(["build"]) is None
