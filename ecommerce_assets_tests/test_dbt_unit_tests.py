"""dbt's unit tests (`dbt_project/models/marts/_unit_tests.yml`): the business rules at their
edges, on rows made for them. A run's build leaves them out; here they run against a copy of
the built week, whose tables give dbt the column types of their inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import yaml

from .test_marts_reference import DBT, DBT_PROJECT


def test_the_unit_tests_pass_on_the_rules_edges(range_shop, tmp_path):
    declared = {test["name"] for path in DBT_PROJECT.glob("models/**/_unit_tests.yml")
                for test in yaml.safe_load(path.read_text())["unit_tests"]}
    db = tmp_path / range_shop.db.name  # the same file name: dbt-duckdb names the database after it
    shutil.copy(range_shop.db, db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOMMERCE_WINDOW_")}

    done = subprocess.run(
        [str(DBT), "test", "--select", "test_type:unit", "--profiles-dir", ".", "--target-path",
         str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT, env={**env, "ECOMMERCE_DUCKDB_PATH": str(db)}, capture_output=True, text=True, timeout=600,
    )

    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert {r["unique_id"].split(".")[-1]: r["status"] for r in results} == dict.fromkeys(declared, "pass"), done.stdout[-4000:]
    assert len(declared) >= 2 and done.returncode == 0
