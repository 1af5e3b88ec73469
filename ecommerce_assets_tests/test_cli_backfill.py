"""The README's CLI backfill, run as a person would: one run for a range of days."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from ecommerce_assets.selections import DAILY

from .pipeline import copy_shop, table

REPO = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")
DAYS = ("2026-11-03", "2026-11-04", "2026-11-05")


def test_the_cli_backfill_rebuilds_three_days_of_marts_in_one_run(range_shop, tmp_path):
    shop = copy_shop(range_shop, tmp_path / "backfill")
    expected = {name: table(range_shop, name) for name in ("marts.fct_daily_sales", "marts.fct_funnel_daily")}
    with duckdb.connect(str(shop.db)) as con:
        con.execute(f"DELETE FROM marts.fct_daily_sales WHERE sales_date IN {tuple(DAYS)}")
        con.execute(f"DELETE FROM marts.fct_funnel_daily WHERE funnel_date IN {tuple(DAYS)}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, **shop.env, "DAGSTER_HOME": str(home), "PATH": f"{DAGSTER.parent}:{os.environ['PATH']}"}

    done = subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "ecommerce_assets.definitions",
         "--select", DAILY, "--partition-range", f"{DAYS[0]}...{DAYS[-1]}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    for name, rows in expected.items():
        assert table(shop, name) == rows, name
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].is_success
    assert runs[0].tags["dagster/asset_partition_range_start"] == DAYS[0]
    assert runs[0].tags["dagster/asset_partition_range_end"] == DAYS[-1]
