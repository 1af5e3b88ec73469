"""The marts, built for real (Dagster raw assets, then dbt), against an independent pandas
reference (`reference.py`) computed from the raw tables, row by row.

Integers, strings, dates and booleans must be equal; values a model rounds may differ by at
most half a unit of the last decimal it keeps (DECIMAL money and 2-decimal averages: 0.005;
4-decimal rates: 0.00005); unrounded doubles by float noise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from . import reference as ref
from .pipeline import BOUNDARY_DAY, BOUNDARY_EVENTS, BOUNDARY_USER, FIRST_DAY, LAST_DAY

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")

MONEY = 0.005  # half a cent
RATE = 0.00005  # half a unit of the 4th decimal
FLOAT = 1e-12  # unrounded doubles: the same ratio computed in another order


def run_dbt(db: Path, work: Path, *args: str) -> None:
    result = subprocess.run(
        [str(DBT), *args, "--profiles-dir", ".", "--target-path", str(work / "target"),
         "--log-path", str(work / "logs")],
        cwd=DBT_PROJECT, env={**os.environ, "ECOMMERCE_DUCKDB_PATH": str(db)},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def built_shop(range_shop) -> Path:
    """The session's week of a small shop, materialised through Dagster (raw and dbt)."""
    return range_shop.db


def read(db: Path, relation: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT * FROM {relation}").df()


@pytest.fixture(scope="module")
def raw(built_shop) -> dict[str, pd.DataFrame]:
    tables = ["raw.carts", "raw.events", "raw.products", "snapshots.products_snapshot"]
    return {name.split(".")[1]: read(built_shop, name) for name in tables}


@pytest.fixture(scope="module")
def expected_carts(raw) -> pd.DataFrame:
    return ref.fct_carts(raw["carts"], raw["products_snapshot"])


# ------------------------------------------------------------------ the comparison

def _same(got, want, tolerance: float | None) -> bool:
    if pd.isna(got) or pd.isna(want):
        return bool(pd.isna(got) and pd.isna(want))
    if tolerance is None:
        return bool(got == want)
    return abs(float(got) - float(want)) <= tolerance + 1e-12


def mismatches(mart: pd.DataFrame, expected: pd.DataFrame, key: list[str], columns: dict[str, str],
               tolerances: dict[str, float] | None = None, limit: int = 5) -> list[str]:
    """Differences between a mart and its reference, matched on `key`. `columns` maps each
    mart column to its reference column; `tolerances` gives the allowed absolute difference."""
    tolerances = tolerances or {}
    problems = [f"{name}: duplicate keys {frame.loc[frame.duplicated(key), key].values.tolist()[:limit]}"
                for name, frame in (("mart", mart), ("reference", expected)) if frame.duplicated(key).any()]
    if problems:
        return problems
    got, want = mart.sort_values(key).set_index(key), expected.sort_values(key).set_index(key)
    for label, keys in (("missing from the mart", want.index.difference(got.index)),
                        ("not in the reference", got.index.difference(want.index))):
        if len(keys):
            problems.append(f"{len(keys)} rows {label}: {keys.tolist()[:limit]}")
    common = want.index.intersection(got.index).sort_values()
    for mart_column, ref_column in columns.items():
        pairs = zip(common, got.loc[common, mart_column], want.loc[common, ref_column])
        bad = [(k, g, w) for k, g, w in pairs if not _same(g, w, tolerances.get(mart_column))]
        problems += [f"{mart_column} at {key}={k}: mart {g!r} != reference {w!r}" for k, g, w in bad[:limit]]
        if len(bad) > limit:
            problems.append(f"{mart_column}: {len(bad) - limit} more mismatching rows")
    return problems


def assert_matches(mart: pd.DataFrame, expected: pd.DataFrame, key: list[str], columns: dict[str, str],
                   tolerances: dict[str, float] | None = None) -> None:
    assert len(expected) > 0, "the reference is empty: the test would prove nothing"
    problems = mismatches(mart, expected, key, columns, tolerances)
    assert not problems, "\n".join(problems)


def same_names(*names: str) -> dict[str, str]:
    return {name: name for name in names}


# ------------------------------------------------------------------ the marts

def test_fct_carts(built_shop, expected_carts):
    assert_matches(
        read(built_shop, "marts.fct_carts"), expected_carts, ["cart_id"],
        same_names("user_id", "cart_date", "cart_time", "total_items", "unique_products", "cart_value"),
        {"cart_value": MONEY},
    )


def test_fct_daily_sales(built_shop, expected_carts):
    assert_matches(
        read(built_shop, "marts.fct_daily_sales"), ref.fct_daily_sales(expected_carts, FIRST_DAY, LAST_DAY), ["sales_date"],
        same_names("total_carts", "unique_customers", "total_items_sold", "revenue",
                   "avg_items_per_cart", "avg_carts_per_customer", "avg_cart_value"),
        {"revenue": MONEY, "avg_items_per_cart": MONEY, "avg_carts_per_customer": MONEY, "avg_cart_value": MONEY},
    )


def test_dim_products_tiers(built_shop, raw):
    expected = ref.dim_products(raw["products_snapshot"])
    assert set(expected["product_tier"]) == {"Star", "A-Tier", "B-Tier", "C-Tier"}, "the shop must exercise every tier"
    assert_matches(
        read(built_shop, "marts.dim_products"), expected, ["product_id", "valid_from"],
        same_names("product_key", "title", "category", "price", "product_tier", "is_premium", "valid_to", "is_current"),
        {"price": MONEY},
    )
    # the current versions are the catalogue as raw.products holds it now
    current = expected[expected["is_current"]].set_index("product_id")["price"].sort_index()
    catalogue = raw["products"].set_index("id")["price"].map(ref.cents).sort_index() / 100
    assert current.to_dict() == catalogue.to_dict()


def test_dim_user_segments(built_shop, expected_carts):
    expected = ref.dim_user_segments(expected_carts)
    assert expected["user_segment"].nunique() >= 5, "the shop must exercise several segments"
    # a week of carts: recency and frequency are full of ties, which the scores must respect
    assert expected["recency_days"].duplicated().any() and expected["frequency"].duplicated().any()
    assert_matches(
        read(built_shop, "marts.dim_user_segments"), expected, ["user_id"],
        same_names("as_of_date", "first_order_date", "last_order_date", "recency_days", "frequency", "monetary",
                   "recency_score", "frequency_score", "monetary_score", "rfm_score", "user_segment", "segment_tier"),
        {"monetary": MONEY},
    )


def test_rfm_scores_are_equal_for_equal_values_and_rank_based_quintiles():
    """1 + the whole fifths of customers strictly worse: ties share a score, 1..5, in order."""
    values = pd.Series([1, 1, 1, 1, 1, 1, 2, 2, 3, 9])  # ten customers
    assert ref.rfm_score(values, best_high=True).tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert ref.rfm_score(values, best_high=False).tolist() == [3, 3, 3, 3, 3, 3, 2, 2, 1, 1]
    assert ref.rfm_score(pd.Series(range(10)), best_high=True).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_dim_user_segments_gives_equal_values_equal_scores(built_shop):
    segments = read(built_shop, "marts.dim_user_segments")
    for value, score in (("recency_days", "recency_score"), ("frequency", "frequency_score"),
                         ("monetary", "monetary_score")):
        scores_per_value = segments.groupby(value)[score].nunique()
        assert (scores_per_value == 1).all(), f"{score} differs among equal {value}: {scores_per_value[scores_per_value > 1].to_dict()}"
        ordered = segments.sort_values(value, ascending=value != "recency_days")[score]
        assert ordered.is_monotonic_increasing and set(ordered) <= {1, 2, 3, 4, 5}, score


def test_fct_customer_churn(built_shop, expected_carts):
    churn_vars = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())["vars"]
    expected = ref.fct_customer_churn(expected_carts, churn_vars["churn_medium_days"], churn_vars["churn_high_days"])
    one_day = expected[(expected["orders"] >= 2) & expected["avg_days_between_orders"].isna()]
    assert len(one_day), "the shop must have customers with several orders on one day"
    assert set(one_day["churn_risk"]) == {"Low"}, "orders on one day show no rhythm: like a single order"
    assert {"Low", "Medium"} <= set(expected["churn_risk"])
    churn = read(built_shop, "marts.fct_customer_churn")
    last_day = churn[churn["last_order_date"] == churn["last_order_date"].max()]
    assert len(last_day) and set(last_day["churn_risk"]) == {"Low"}, "a customer of the last day is never at risk"
    assert (last_day["orders"] >= 2).any(), "the shop must have customers of the last day with several orders"
    assert_matches(
        churn, expected, ["user_id"],
        same_names("as_of_date", "last_order_date", "days_since_last_order", "orders", "avg_days_between_orders",
                   "churn_risk", "recommended_action"),
        {"avg_days_between_orders": MONEY},
    )


def test_fct_category_performance(built_shop, raw):
    assert_matches(
        read(built_shop, "marts.fct_category_performance"),
        ref.fct_category_performance(raw["carts"], raw["products_snapshot"]), ["category"],
        same_names("product_count", "avg_price", "min_price", "max_price", "price_range", "units_sold", "revenue",
                   "revenue_rank"),
        dict.fromkeys(["avg_price", "min_price", "max_price", "price_range", "revenue"], MONEY),
    )


def test_fct_category_performance_ranks_equal_revenues_equally(built_shop, tmp_path):
    """Two categories without sales tie at revenue 0: they share the rank after the others."""
    copy = tmp_path / "ecommerce.duckdb"
    shutil.copy(built_shop, copy)
    with duckdb.connect(str(copy)) as con:
        categories = [c for (c,) in con.sql("SELECT category FROM marts.fct_category_performance ORDER BY revenue LIMIT 2").fetchall()]
        con.execute("DELETE FROM intermediate.int_cart_lines WHERE category IN (?, ?)", categories)
    run_dbt(copy, tmp_path, "run", "--select", "fct_category_performance")
    ranks = read(copy, "marts.fct_category_performance").set_index("category")
    assert len(ranks) >= 4
    zero = ranks.loc[categories]
    assert (zero["revenue"] == 0).all()
    assert zero["revenue_rank"].tolist() == [len(ranks) - 1] * 2
    assert sorted(ranks["revenue_rank"]) == [*range(1, len(ranks) - 1), len(ranks) - 1, len(ranks) - 1]


def test_int_sessions_end_after_30_minutes_of_inactivity_not_before(built_shop):
    """The boundary events (pipeline.BOUNDARY_EVENTS): 29:59.999 apart, one session; exactly
    30 minutes apart, a new one."""
    times = [pd.Timestamp(f"{BOUNDARY_DAY}T{time}") for time, _, _ in BOUNDARY_EVENTS]
    with duckdb.connect(str(built_shop), read_only=True) as con:
        sessions = con.execute(
            "SELECT session_start, session_end, event_count FROM intermediate.int_sessions "
            "WHERE user_id = ? AND session_start < ? AND session_end >= ? ORDER BY session_start",
            [BOUNDARY_USER, times[-1] + pd.Timedelta(minutes=30), times[0] - pd.Timedelta(minutes=30)],
        ).fetchall()
    assert sessions == [(times[0], times[1], 2), (times[2], times[2], 1)]


def test_fct_daily_engagement(built_shop, raw):
    expected = ref.fct_daily_engagement(raw["events"])
    assert (expected["mau"] > expected["dau"]).any(), "the week must make the rolling counts differ from DAU"
    assert_matches(
        read(built_shop, "marts.fct_daily_engagement"), expected, ["activity_date"],
        same_names("dau", "wau", "mau", "sessions", "events_per_session", "avg_session_seconds"),
        {"events_per_session": MONEY, "avg_session_seconds": MONEY},
    )


def test_fct_funnel_daily(built_shop, raw):
    expected = ref.fct_funnel_daily(raw["events"])
    # the boundary events make "30 minutes or more" and "more than 30 minutes" disagree
    more_than_30 = ref.fct_funnel_daily(raw["events"], gap=ref.SESSION_GAP + pd.Timedelta(microseconds=1))
    day = expected["funnel_date"] == pd.Timestamp(BOUNDARY_DAY)
    assert more_than_30.loc[day, "sessions"].item() == expected.loc[day, "sessions"].item() - 1
    rates = ["view_rate", "add_rate", "purchase_rate", "overall_conversion"]
    assert_matches(
        read(built_shop, "marts.fct_funnel_daily"), expected, ["funnel_date"],
        same_names("sessions", "sessions_viewed", "sessions_added", "sessions_purchased", *rates),
        dict.fromkeys(rates, RATE),
    )


def test_fct_carts_prices_each_cart_at_the_version_valid_at_checkout(built_shop, raw, tmp_path):
    """Snapshot timing is not derivable from raw data, so give every product a price history
    inside the carts' days: an older price from the 1st quartile's checkout, the current one
    from exactly the median cart's checkout; then rebuild the cart marts on a copy."""
    times = raw["carts"]["cart_time"].sort_values().reset_index(drop=True)
    first_from, cut = times[len(times) // 4], times[len(times) // 2]
    snapshot = raw["products_snapshot"]
    history = pd.concat([
        snapshot.assign(price=snapshot["price"] + 7, dbt_valid_from=first_from, dbt_valid_to=cut,
                        dbt_scd_id=snapshot["dbt_scd_id"] + "-old"),
        snapshot.assign(dbt_valid_from=cut),
    ], ignore_index=True)
    expected = ref.fct_carts(raw["carts"], history)
    at_current_prices = ref.fct_carts(raw["carts"], snapshot)
    repriced = expected["cart_value"] != at_current_prices["cart_value"]
    assert repriced.any() and not repriced.all(), "the history must reprice some carts, not all"
    assert not repriced[expected["cart_time"] == cut].any(), "the cart at the cut takes the new version"

    copy = tmp_path / "ecommerce.duckdb"
    shutil.copy(built_shop, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DELETE FROM snapshots.products_snapshot")
        con.register("history", history)
        con.execute("INSERT INTO snapshots.products_snapshot BY NAME SELECT * FROM history")
    run_dbt(copy, tmp_path, "run", "--select", "int_cart_lines", "fct_carts")
    assert_matches(
        read(copy, "marts.fct_carts"), expected, ["cart_id"],
        same_names("total_items", "unique_products", "cart_value"), {"cart_value": MONEY},
    )


BASKET_COLUMNS = same_names("carts_with_both", "carts_with_a", "carts_with_b", "total_carts",
                            "support", "confidence_a_to_b", "confidence_b_to_a", "lift")
BASKET_TOLERANCES = dict.fromkeys(["support", "confidence_a_to_b", "confidence_b_to_a", "lift"], FLOAT)


def test_fct_market_basket(built_shop, raw):
    min_support = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())["vars"]["basket_min_support"]
    assert_matches(
        read(built_shop, "marts.fct_market_basket"), ref.fct_market_basket(raw["carts"], min_support),
        ["product_a", "product_b"], BASKET_COLUMNS, BASKET_TOLERANCES,
    )


def test_fct_market_basket_keeps_pairs_at_exactly_the_min_support(built_shop, raw, tmp_path):
    """The var is a lower bound ("support of at least"): a pair exactly at it stays."""
    every_pair = ref.fct_market_basket(raw["carts"], 0.0)
    threshold = float(every_pair["support"].min())
    expected = ref.fct_market_basket(raw["carts"], threshold)
    assert 0 < len(expected) and len(ref.fct_market_basket(raw["carts"], threshold * 1.000001)) < len(expected)
    copy = tmp_path / "ecommerce.duckdb"
    shutil.copy(built_shop, copy)
    run_dbt(copy, tmp_path, "run", "--select", "fct_market_basket", "--vars", f"{{basket_min_support: {threshold!r}}}")
    assert_matches(read(copy, "marts.fct_market_basket"), expected, ["product_a", "product_b"],
                   BASKET_COLUMNS, BASKET_TOLERANCES)


# ------------------------------------------------------------------ the comparison bites

def test_the_comparison_reports_a_perturbed_row(built_shop, expected_carts):
    mart = read(built_shop, "marts.fct_carts")
    columns = same_names("user_id", "total_items", "cart_value")
    assert mismatches(mart, expected_carts, ["cart_id"], columns, {"cart_value": MONEY}) == []

    perturbed = expected_carts.copy()
    cart = perturbed["cart_id"].iloc[3]
    perturbed.loc[perturbed["cart_id"] == cart, "cart_value"] += 0.01
    perturbed.loc[perturbed.index[5], "total_items"] += 1
    problems = mismatches(mart, perturbed, ["cart_id"], columns, {"cart_value": MONEY})
    assert len(problems) == 2
    assert problems[0].startswith("total_items at ['cart_id']=")
    assert problems[1].startswith(f"cart_value at ['cart_id']={cart}: mart ")

    problems = mismatches(mart, perturbed.drop(perturbed.index[0]), ["cart_id"], columns, {"cart_value": MONEY})
    assert problems[0] == f"1 rows not in the reference: [{perturbed['cart_id'].iloc[0]}]"
