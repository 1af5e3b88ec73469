"""Partitions through dbt, for real: ranges, reruns, late files, blocking tests."""

from __future__ import annotations

import json
from datetime import date, timedelta

import dagster as dg
import duckdb
import pytest

from ecommerce_assets.dbt_project import dbt_project
from ecommerce_assets.definitions import build_definitions
from ecommerce_assets.settings import Settings

from . import reference as ref
from .pipeline import Shop, copy_shop, data_columns, materialize, shop_environment, table

LATE_DAY = date(2026, 11, 5)
MODELS = [
    "staging.stg_events", "staging.stg_carts", "staging.stg_cart_items", "intermediate.int_sessions",
    "intermediate.int_session_funnel", "intermediate.int_cart_lines", "intermediate.int_product_daily",
    "intermediate.int_user_daily_activity", "marts.fct_carts", "marts.fct_daily_sales",
    "marts.fct_daily_engagement", "marts.fct_funnel_daily", "marts.dim_products", "marts.dim_users",
    "marts.dim_user_segments", "marts.fct_category_performance", "marts.fct_product_performance",
    "marts.fct_market_basket", "marts.fct_customer_churn", "marts.dim_date",
]
# A day's facts, keyed by their date column: what a late file may change, and where.
DAILY_FACTS = {
    "marts.fct_daily_engagement": "activity_date",
    "marts.fct_funnel_daily": "funnel_date",
    "intermediate.int_sessions": "session_date",
}


def snapshot_of(shop: Shop) -> dict[str, list[tuple]]:
    return {name: table(shop, name) for name in MODELS}


def test_a_range_in_one_run_equals_the_days_one_by_one(range_shop, day_by_day_shop):
    ranged, daily = snapshot_of(range_shop), snapshot_of(day_by_day_shop)
    assert ranged["marts.fct_daily_sales"] and len(ranged["marts.fct_daily_sales"]) == 7
    for name in MODELS:
        assert ranged[name] == daily[name], name


def test_rerunning_a_day_changes_nothing(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "rerun")
    with shop_environment(shop) as defs:
        day_run = materialize(defs, "daily", [LATE_DAY])
        history_run = materialize(defs, "history")
    assert snapshot_of(shop) == snapshot_of(range_shop)

    # What each materialization tells a person: the table, the day's own rows, a preview.
    events = {m.asset_key.to_user_string(): m.metadata for m in day_run.asset_materializations_for_node("dbt_models")}
    sales = events["marts/fct_carts"]
    carts = table(shop, "marts.fct_carts")
    assert sales["dagster/row_count"].value == len(carts)
    at = data_columns(shop, "marts.fct_carts").index("cart_date")
    assert sales["dagster/partition_row_count"].value == sum(row[at] == LATE_DAY for row in carts) > 0
    assert str(LATE_DAY) in sales["preview"].value and "cart_value" in sales["preview"].value
    described = {c.name: c.description for c in sales["dagster/column_schema"].schema.columns}
    assert described["cart_value"] and described["cart_id"]
    dims = {m.asset_key.to_user_string(): m.metadata for m in history_run.asset_materializations_for_node("dbt_models")}
    assert "dagster/partition_row_count" not in dims["marts/dim_products"]
    assert dims["marts/dim_products"]["preview"].value.startswith("| product_key | product_id |")


def late_events(day: date, n: int) -> list[str]:
    """`n` page views of one late-arriving session, valid and inside `day`."""
    return [
        json.dumps({
            "event_id": f"late-{day}-{i}", "event_time": f"{day}T21:{i:02d}:00.000Z", "event_type": "page_view",
            "user_id": 1, "session_id": "late-session", "product_id": None, "price": None,
            "quantity": None, "cart_id": None, "page": "/", "device": "desktop",
        })
        for i in range(n)
    ]


def rows_by_day(rows: list[tuple], shop: Shop, name: str, column: str) -> dict:
    at = data_columns(shop, name).index(column)
    grouped: dict = {}
    for row in rows:
        grouped.setdefault(row[at], []).append(row)
    return grouped


def test_a_late_file_for_an_old_day_changes_that_day_and_nothing_else(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "late")
    with shop_environment(shop) as defs:
        before = {name: table(shop, name) for name in DAILY_FACTS}
        events_before = shop.query(f"SELECT count(*) FROM staging.stg_events WHERE event_date = DATE '{LATE_DAY}'")[0][0]
        late_file = shop.landing / "events" / f"date={LATE_DAY}" / "late-delivery.jsonl"
        late_file.write_text("\n".join(late_events(LATE_DAY, 5)) + "\n")
        materialize(defs, "daily", [LATE_DAY])

    events_after = shop.query(f"SELECT count(*) FROM staging.stg_events WHERE event_date = DATE '{LATE_DAY}'")[0][0]
    assert events_after == events_before + 5
    for name, column in DAILY_FACTS.items():
        old = rows_by_day(before[name], shop, name, column)
        new = rows_by_day(table(shop, name), shop, name, column)
        assert set(old) == set(new), name
        for day in old:
            if day == LATE_DAY:
                assert old[day] != new[day], f"{name}: the late day did not change"
            else:
                assert old[day] == new[day], f"{name}: {day} changed"


DBT_ONLY = "tag:partitioning=daily and not group:raw"  # the day's dbt models and their checks


def test_rerunning_an_early_day_refreshes_the_rolling_counts_of_the_later_days(range_shop, tmp_path):
    """WAU and MAU of a day count the 29 days before it: rerunning an early day (late or
    withdrawn events) must leave every later day's counts as a rebuild from scratch would."""
    shop = copy_shop(range_shop, tmp_path / "rolling")
    day = shop.first_day + timedelta(days=1)
    with duckdb.connect(str(shop.db)) as con:
        # users whose only events of the week are on `day`: without them, every later day loses them
        gone = con.execute("DELETE FROM raw.events WHERE event_date = ? AND user_id IN (SELECT user_id FROM raw.events "
                           "GROUP BY user_id HAVING bool_and(event_date = ?))", [day, day]).fetchall()[0][0]
        events = con.execute("SELECT * FROM raw.events").df()
    assert gone > 0
    before = table(shop, "marts.fct_daily_engagement")
    with shop_environment(shop) as defs:
        result = materialize(defs, DBT_ONLY, [day])
    nested = [e.passed for e in result.get_asset_check_evaluations() if e.check_name == "assert_active_users_nested"]
    assert nested and all(nested)

    mart = shop.query("SELECT activity_date, dau, wau, mau, sessions, _dbt_invocation_id FROM marts.fct_daily_engagement "
                      "ORDER BY activity_date")
    expected = ref.fct_daily_engagement(events).set_index("activity_date")
    assert [row[:4] for row in mart] == [(d.date(), r.dau, r.wau, r.mau) for d, r in expected.iterrows()]
    old = {row[0]: row for row in before}
    later = [row for row in mart if row[0] > day]
    assert len(later) == 5 and all(row[2:4] != old[row[0]][2:4] for row in later), "the later days must change"
    # only their rolling counts: the rest of each later day is its own partition's
    at = data_columns(shop, "marts.fct_daily_engagement").index("sessions")
    assert all(row[4] == old[row[0]][at] for row in later)
    invocations = {row[5] for row in mart}
    assert len(invocations) == 2, "the later rows keep the invocation that built their partition"


def test_a_day_without_carts_is_a_row_of_zeros_that_reconciles(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "no-carts")
    day = shop.first_day + timedelta(days=2)
    before = shop.query(f"SELECT * EXCLUDE (_dbt_loaded_at, _dbt_invocation_id) FROM marts.fct_daily_sales "
                        f"WHERE sales_date <> DATE '{day}' ORDER BY ALL")
    with duckdb.connect(str(shop.db)) as con:  # a day without sales: no carts, no purchase events
        con.execute("DELETE FROM raw.carts WHERE partition_date = ?", [day])
        con.execute("DELETE FROM raw.events WHERE event_date = ? AND event_type = 'purchase'", [day])
    window = [day - timedelta(days=1), day, day + timedelta(days=1)]
    with shop_environment(shop) as defs:
        result = materialize(defs, DBT_ONLY, window)

    rows = shop.query(f"SELECT * EXCLUDE (_dbt_loaded_at, _dbt_invocation_id) FROM marts.fct_daily_sales "
                      f"WHERE sales_date = DATE '{day}'")
    assert rows == [(day, 0, 0, 0, 0, None, None, None)]
    assert shop.query(f"SELECT * EXCLUDE (_dbt_loaded_at, _dbt_invocation_id) FROM marts.fct_daily_sales "
                      f"WHERE sales_date <> DATE '{day}' ORDER BY ALL") == before
    evaluations = {}
    for e in result.get_asset_check_evaluations():
        evaluations.setdefault(e.check_name, {})[e.partition] = e.passed
    assert evaluations["assert_daily_sales_revenue_matches_carts"] and all(
        evaluations["assert_daily_sales_revenue_matches_carts"].values())
    assert evaluations["reconciles_with_cart_lines"] == {d.isoformat(): True for d in window}


UNIQUE_EVENT_CHECK = "unique_combination_of_columns_stg_events_event_id__event_date"


def test_a_failing_error_test_stops_downstream_models_and_fails_its_check(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "broken")
    day = shop.first_day
    # A second delivery forced past the raw layer's deduplication breaks stg_events' unique key.
    with duckdb.connect(str(shop.db)) as con:
        con.execute(f"INSERT INTO raw.events SELECT * FROM raw.events WHERE event_date = DATE '{day}' LIMIT 1")
    with shop_environment(shop) as defs:
        result = materialize(defs, "tag:partitioning=daily and not group:raw", [day], raise_on_error=False)

    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations[UNIQUE_EVENT_CHECK]
    assert failed.passed is False and failed.severity == dg.AssetCheckSeverity.ERROR
    materialized = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("dbt_models")}
    assert "staging/stg_events" in materialized
    assert "intermediate/int_sessions" not in materialized
    assert "marts/fct_funnel_daily" not in materialized


def test_a_cart_line_the_snapshot_cannot_price_stops_the_revenue_marts(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "unpriced")
    day = shop.first_day
    # A product the catalogue never held: summed, its line would lower revenue unnoticed.
    with duckdb.connect(str(shop.db)) as con:
        con.execute(
            f"""INSERT INTO raw.carts SELECT id + 5000000, user_id, cart_time, [{{'product_id': 999999, 'quantity': 1}}],
                partition_date, _loaded_at FROM raw.carts WHERE partition_date = DATE '{day}' LIMIT 1"""
        )
    with shop_environment(shop) as defs:
        result = materialize(defs, "tag:partitioning=daily and not group:raw", [day], raise_on_error=False)

    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for check in ("not_null_int_cart_lines_unit_price", "not_null_int_cart_lines_line_value"):
        assert evaluations[check].passed is False and evaluations[check].severity == dg.AssetCheckSeverity.ERROR
    materialized = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("dbt_models")}
    assert "intermediate/int_cart_lines" in materialized
    assert not {"marts/fct_carts", "marts/fct_daily_sales"} & materialized


def test_a_full_build_evaluates_every_check(range_shop):
    """Snapshots, a range of days, then history: no check left planned, skipped or never run."""
    from ecommerce_assets.definitions import defs
    from ecommerce_assets.report import build_report

    rows = build_report(range_shop.instance, defs.resolve_asset_graph())
    assert len({(r.asset, r.check) for r in rows}) == len(list(defs.resolve_asset_graph().asset_check_keys))
    unevaluated = [(r.asset, r.check, r.status) for r in rows if r.status not in ("passed", "warned")]
    assert unevaluated == []


def test_daily_tests_read_the_window_and_keys_stay_unique_across_partitions(range_shop, tmp_path):
    """A day's run tests that day's rows (macros/window_scoped_tests.sql): a broken row in
    another partition is not its concern, but a key repeated in another partition is."""
    shop = copy_shop(range_shop, tmp_path / "windowed")
    day, other_day = shop.first_day, shop.last_day
    with duckdb.connect(str(shop.db)) as con:
        # Another partition: an unknown event type, and a copy of one of `day`'s carts.
        con.execute(f"INSERT INTO staging.stg_events SELECT * REPLACE ('bogus' AS event_type, event_id || '-x' AS event_id) "
                    f"FROM staging.stg_events WHERE event_date = DATE '{other_day}' LIMIT 1")
        con.execute(f"INSERT INTO staging.stg_carts SELECT * REPLACE (DATE '{other_day}' AS cart_date) "
                    f"FROM staging.stg_carts WHERE cart_date = DATE '{day}' LIMIT 1")
    with shop_environment(shop) as defs:
        result = materialize(defs, "tag:partitioning=daily and not group:raw", [day], raise_on_error=False)

    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    [event_types] = [name for name in evaluations if name.startswith("accepted_values_stg_events_event_type")]
    assert evaluations[event_types] is True
    assert evaluations["unique_stg_carts_cart_id"] is False
    assert evaluations[UNIQUE_EVENT_CHECK] is True


def test_not_null_rules_are_constraints_the_warehouse_enforces(range_shop, tmp_path):
    """Model contracts carry every error-severity not-null rule to DuckDB, which refuses a
    null there on write: the model fails before the row lands."""
    models = [n for n in json.loads(dbt_project.manifest_path.read_text())["nodes"].values() if n["resource_type"] == "model"]
    declared = {(n["config"]["schema"], n["alias"], column["name"])
                for n in models for column in n["columns"].values()
                if any(c["type"] == "not_null" for c in column.get("constraints", []))}
    shop = copy_shop(range_shop, tmp_path / "constrained")
    with duckdb.connect(str(shop.db)) as con:
        enforced = set(con.sql("SELECT schema_name, table_name, unnest(constraint_column_names) FROM duckdb_constraints() "
                               "WHERE constraint_type = 'NOT NULL'").fetchall())
        assert ("staging", "stg_events", "event_type") in declared
        assert declared <= enforced
        with pytest.raises(duckdb.ConstraintException, match="event_type"):
            con.execute("INSERT INTO staging.stg_events SELECT * REPLACE (NULL AS event_type) FROM staging.stg_events LIMIT 1")


def test_a_relative_warehouse_path_names_one_file_for_python_and_dbt(range_shop, tmp_path, monkeypatch):
    shop = copy_shop(range_shop, tmp_path / "shop")
    stray = dbt_project.project_dir / shop.db.name  # where dbt, run in its project folder, would look
    assert not stray.exists()
    monkeypatch.chdir(shop.root)
    monkeypatch.setenv("ECOMMERCE_DUCKDB_PATH", shop.db.name)
    monkeypatch.setenv("ECOMMERCE_LANDING_DIR", "landing")

    result = materialize(build_definitions(Settings.from_env()), "snapshots", raise_on_error=False)

    assert result.success and not stray.exists()
    assert shop.query("SELECT count(*) > 0 FROM snapshots.products_snapshot WHERE dbt_valid_to IS NULL") == [(True,)]
    assert Settings.from_env().duckdb_path == shop.db
    monkeypatch.setenv("HOME", str(shop.root))
    monkeypatch.setenv("ECOMMERCE_DUCKDB_PATH", f"~/{shop.db.name}")
    assert Settings.from_env().duckdb_path == shop.db
