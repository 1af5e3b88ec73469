"""The singular dbt tests (dbt_project/tests/*.sql) can fail: each passes on the built week
and fails, on exactly the row corrupted, once one row of the model it guards breaks its rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb

from .test_marts_reference import DBT, DBT_PROJECT

# test -> (the corruption of one row in a copy of the warehouse, the failing rows it must report)
CORRUPTIONS = {
    # invariants
    "assert_funnel_steps_never_increase": (
        "UPDATE marts.fct_funnel_daily SET sessions_added = sessions_viewed + 1 "
        "WHERE funnel_date = (SELECT min(funnel_date) FROM marts.fct_funnel_daily)", 1),
    "assert_funnel_rates_between_0_and_1": (
        "UPDATE marts.fct_funnel_daily SET view_rate = 1.5 "
        "WHERE funnel_date = (SELECT max(funnel_date) FROM marts.fct_funnel_daily)", 1),
    "assert_active_users_nested": (
        "UPDATE marts.fct_daily_engagement SET wau = dau - 1 "
        "WHERE activity_date = (SELECT max(activity_date) FROM marts.fct_daily_engagement)", 1),
    "assert_sessions_never_overlap": (
        # a user's second session of a day made to start before the first one ended
        """UPDATE intermediate.int_sessions AS s SET session_start = pair.first_end - INTERVAL 1 SECOND
           FROM (SELECT first.session_end AS first_end, second.session_key AS second_key
                 FROM intermediate.int_sessions AS first
                 JOIN intermediate.int_sessions AS second
                   ON second.user_id = first.user_id AND second.session_date = first.session_date
                  AND second.session_start > first.session_end
                 WHERE first.session_end - first.session_start > INTERVAL 2 SECOND
                   AND NOT EXISTS (SELECT 1 FROM intermediate.int_sessions AS between_them
                                   WHERE between_them.user_id = first.user_id
                                     AND between_them.session_start > first.session_start
                                     AND between_them.session_start < second.session_start)
                 ORDER BY first.session_key LIMIT 1) AS pair
           WHERE s.session_key = pair.second_key""", 1),
    "assert_product_conversion_rate_between_0_and_1": (
        "UPDATE marts.fct_product_performance SET conversion_rate = 1.25 "
        "WHERE product_id = (SELECT min(product_id) FROM marts.fct_product_performance)", 1),
    "assert_basket_ratios_between_0_and_1": (
        "UPDATE marts.fct_market_basket SET confidence_b_to_a = -0.1 "
        "WHERE rowid = (SELECT min(rowid) FROM marts.fct_market_basket)", 1),
    # recomputations: a mart against its inputs
    "assert_cart_value_equals_sum_of_lines": (
        # items, not value: a changed value would also move the day's revenue off fct_daily_sales
        "UPDATE marts.fct_carts SET total_items = total_items + 1 "
        "WHERE cart_id = (SELECT min(cart_id) FROM marts.fct_carts)", 1),
    "assert_daily_sales_revenue_matches_carts": (
        "UPDATE marts.fct_daily_sales SET revenue = revenue + 0.01 "
        "WHERE sales_date = (SELECT min(sales_date) FROM marts.fct_daily_sales)", 1),
    "assert_one_funnel_row_per_session": (
        "DELETE FROM intermediate.int_session_funnel "
        "WHERE session_key = (SELECT min(session_key) FROM intermediate.int_session_funnel)", 1),
}


def test_the_corruptions_cover_every_singular_test():
    assert set(CORRUPTIONS) == {p.stem for p in (DBT_PROJECT / "tests").glob("*.sql")}


def dbt_test(db: Path, work: Path) -> dict[str, tuple[str, int]]:
    """`dbt test` of the singular tests over all history: each one's status and failing rows."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOMMERCE_WINDOW_")}
    subprocess.run(
        [str(DBT), "test", "--select", *CORRUPTIONS, "--profiles-dir", ".", "--target-path", str(work / "target"),
         "--log-path", str(work / "logs")],
        cwd=DBT_PROJECT, env={**env, "ECOMMERCE_DUCKDB_PATH": str(db)}, capture_output=True, text=True, timeout=600,
    )
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results}


def test_each_singular_test_passes_on_the_week_and_fails_on_its_corrupted_row(range_shop, tmp_path):
    db = tmp_path / range_shop.db.name  # the same file name: dbt-duckdb names the database after it
    shutil.copy(range_shop.db, db)

    clean = dbt_test(db, tmp_path / "clean")
    assert clean == {name: ("pass", 0) for name in CORRUPTIONS}

    with duckdb.connect(str(db)) as con:
        for name, (corruption, _) in CORRUPTIONS.items():
            changed = con.execute(corruption).fetchall()[0][0]
            assert changed == 1, f"{name}: the corruption changed {changed} rows"
    corrupted = dbt_test(db, tmp_path / "corrupted")
    assert corrupted == {name: ("fail", rows) for name, (_, rows) in CORRUPTIONS.items()}
