"""A synthetic shop in a folder of its own, run the way people run it: the `dagster` CLI.

Each shop has its own DuckDB file (named `ecommerce.duckdb`: dbt-duckdb names the database
after the stem), landing folder, `DAGSTER_HOME` and dbt target folder. The target folder
holds a `partial_parse.msgpack` parsed with this shop's profile, because dbt discards
partial parsing when the profile (here, the DuckDB path) differs from the one it parsed
with; `make manifest` does the same for `data/ecommerce.duckdb`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ecommerce_assets.dbt_project import DBT_LOGGING
from ecommerce_assets.settings import DUCKDB_FILE

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFINITIONS = ["-m", "ecommerce_assets.definitions"]


@dataclass
class RunTiming:
    """One Dagster run: the CLI process's wall time and the run's own, as the UI shows it."""

    run_id: str
    process_seconds: float
    run_seconds: float
    steps: dict[str, float] = field(default_factory=dict)


@dataclass
class BenchShop:
    root: Path
    start_date: date

    @property
    def db(self) -> Path:
        return self.root / DUCKDB_FILE

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def dbt_target(self) -> Path:
        return self.root / "dbt_target"

    @property
    def env(self) -> dict[str, str]:
        # The shop's runs choose their own windows: none leaks in from the caller.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ECOMMERCE_WINDOW_")}
        return {
            **inherited,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ECOMMERCE_DUCKDB_PATH": str(self.db),
            "ECOMMERCE_LANDING_DIR": str(self.landing),
            "ECOMMERCE_START_DATE": self.start_date.isoformat(),
            "DAGSTER_HOME": str(self.dagster_home),
            "DBT_TARGET_PATH": str(self.dbt_target),
        }

    def create(self) -> BenchShop:
        shutil.rmtree(self.root, ignore_errors=True)
        self.dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "instance" / "dagster.yaml", self.dagster_home / "dagster.yaml")
        self.dbt_target.mkdir()
        self.dbt("parse", "--quiet")
        return self

    def generate(self, first: date, last: date, events_per_day: int, clean: bool = False) -> float:
        """Writes the landing files of [first, last]; returns seconds taken."""
        args = ["generate", "--start", first.isoformat(), "--end", last.isoformat(),
                "--events-per-day", str(events_per_day), "--landing-dir", str(self.landing)]
        started = time.perf_counter()
        self.run([str(BIN / "ecommerce-assets"), *args, *(["--clean"] if clean else [])])
        return time.perf_counter() - started

    def run(self, args: list[str], cwd: Path = REPO, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(args, cwd=cwd, env={**self.env, **(env or {})}, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done

    def dbt(self, *args: str, target: Path | None = None, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """dbt on this shop's database, with its target folder (where its partial parse lives)
        unless told otherwise, its log folder, and the log level our dbt assets use."""
        return self.run([str(BIN / "dbt"), *args, "--profiles-dir", ".", *DBT_LOGGING,
                         "--target-path", str(target or self.dbt_target), "--log-path", str(self.root / "dbt_logs")],
                        cwd=REPO / "dbt_project", env=env)

    def whole_graph(self, first: date, last: date | None = None) -> RunTiming:
        """The whole graph for one day, or for [first, last] as one run."""
        if last is None or last == first:
            tags = {"dagster/partition": first.isoformat()}
        else:
            tags = {"dagster/asset_partition_range_start": first.isoformat(),
                    "dagster/asset_partition_range_end": last.isoformat()}
        started = time.perf_counter()
        self.run([str(BIN / "dagster"), "job", "execute", *DEFINITIONS, "-j", "whole_graph_job",
                  "--tags", json.dumps(tags)])
        process_seconds = time.perf_counter() - started
        return self.last_run(process_seconds)

    def last_run(self, process_seconds: float) -> RunTiming:
        import dagster as dg

        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        with dg.DagsterInstance.get() as instance:
            record = instance.get_run_records(limit=1)[0]
            run = record.dagster_run
            if run.status != dg.DagsterRunStatus.SUCCESS:
                raise RuntimeError(f"run {run.run_id} ended {run.status}")
            return RunTiming(run.run_id, round(process_seconds, 2),
                             round(record.end_time - record.start_time, 2), step_seconds(instance, run.run_id))


def step_seconds(instance, run_id: str) -> dict[str, float]:
    import dagster as dg

    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}):
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif entry.step_key in started:
            took[entry.step_key] = round(entry.timestamp - started[entry.step_key], 2)
    return took
