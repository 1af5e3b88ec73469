"""The dbt project as Dagster sees it: where it lives, how its nodes become assets,
and how a partition window reaches dbt.

The manifest is prepared once (`make manifest`, i.e. `dagster-dbt project
prepare-and-package`), never parsed at import; only `dagster dev` re-prepares it.
"""

import importlib.metadata
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject
from packaging import version

from ecommerce_assets.metadata import OWNER
from ecommerce_assets.partitions import DAILY, DAILY_TAGS, daily_partitions
from ecommerce_assets.schedules import history_automation

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
SNAPSHOTS_LAYER = "snapshots"  # the schema, and so the group, of the dbt snapshots
LAYERS = ("staging", "intermediate", "marts", SNAPSHOTS_LAYER)

# dbt holding the warehouse's dbt lock while it runs (`dbt_process`), installed beside this
# interpreter (the project's venv), even when it is not on PATH.
_DBT_COMMAND = "ecommerce-assets-dbt"
_BESIDE_PYTHON = Path(sys.executable).with_name(_DBT_COMMAND)
DBT_EXECUTABLE = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else (shutil.which(_DBT_COMMAND) or _DBT_COMMAND)

# No dbt log file: dagster-dbt forwards every message of dbt's event stream to the step's
# stdout, which Dagster keeps as the run's compute log (in the UI), so the file was a second
# copy, written under a lock the threads share: at debug (every SQL statement) a tenth of an
# invocation, at info still about 0.3 s of an empty day's 9 s (A/B). The statements
# stay in the invocation's compiled/ and run/ folders.
DBT_LOGGING = ["--log-level-file", "none"]
# A run's build writes no JSON artifacts: Dagster keeps each node's result as it streams
# (materialisations, check evaluations, timings), so run_results.json and a fresh copy of
# the manifest in every invocation's folder were written for nobody: about 0.8 s of an
# empty day's dbt build (median of 5, 9.62 against 8.79 s).
# dbt's unit tests check the SQL on rows made for them, not a run's data: they run in the
# test suite, and a run's build leaves them out.
DBT_BUILD_FLAGS = [*DBT_LOGGING, "--no-write-json", "--exclude-resource-type", "unit_test"]

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()


class DbtCli(DbtCliResource):
    """dagster-dbt's resource without two costs this project never uses (py-spy of a daily run):

    - `dbt --version` in a subprocess, 3.3 s of CPU per run, to learn the version of the
      dbt installed beside this interpreter, which the package metadata already says;
    - a dbt adapter built in the run process for each invocation, 1.5 s each, which
      dagster-dbt only uses to fetch row counts and columns: this project reads those itself
      once dbt has exited (DuckDB admits one writing process).

    Both override private methods; a test fails if dagster-dbt stops having them.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def window_env(start: date, end: date) -> dict[str, str]:
    """The environment carrying a half-open partition window [start, end) to dbt, checked
    before SQL sees it. Not vars: new vars make dbt re-parse the whole project on every run
    (macros/partition_window.sql reads these at execution only)."""
    if not isinstance(start, date) or not isinstance(end, date):
        raise TypeError(f"partition window bounds must be dates, got {start!r} and {end!r}")
    if start >= end:
        raise ValueError(f"empty partition window [{start}, {end})")
    return {"ECOMMERCE_WINDOW_MIN_DATE": start.isoformat(), "ECOMMERCE_WINDOW_MAX_DATE": end.isoformat()}


def layer_of(dbt_resource_props: Mapping[str, Any]) -> str:
    """The warehouse layer (= schema) a model or snapshot lands in."""
    schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
    if schema not in LAYERS:
        raise ValueError(f"{dbt_resource_props['unique_id']} lands in schema {schema!r}, not one of {LAYERS}")
    return schema


def is_daily(dbt_resource_props: Mapping[str, Any]) -> bool:
    return DAILY in dbt_resource_props.get("config", {}).get("tags", [])


def test_description(test: Mapping[str, Any], model: str) -> str:
    """What a dbt test protects, in a sentence: its own description, or one read from its kind and arguments."""
    if test.get("description"):
        return test["description"].strip()
    metadata = test.get("test_metadata") or {}
    kwargs = metadata.get("kwargs") or {}
    column = f"{model}.{kwargs.get('column_name')}"
    match metadata.get("name"):
        case "not_null":
            return f"{column} is never null."
        case "unique":
            return f"{column} is unique."
        case "accepted_values":
            values = (_unquoted(str(value)) for value in kwargs.get("values", []))
            return f"{column} only holds {', '.join(values)}."
        case "relationships":
            target = re.sub(r"^ref\(['\"](.+?)['\"]\)$", r"\1", str(kwargs.get("to", "")))
            return f"Every {column} exists in {target}.{kwargs.get('field')}."
        case "unique_combination_of_columns":
            return f"({', '.join(kwargs.get('combination_of_columns', []))}) is unique in {model}."
    return f"dbt test {test['name']} on {model}."


def _unquoted(value: str) -> str:
    """An accepted value as written for `quote: false` (`'men''s clothing'`) read as the value."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


class EcommerceTranslator(DagsterDbtTranslator):
    """Keys and groups by layer (`marts/fct_carts`), one owner, the daily partitioning tag.

    Sources keep the keys of the raw assets (`meta.dagster.asset_key` in `_sources.yml`),
    so each staging model hangs off its raw asset on the one graph.
    """

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "snapshot"):
            return dg.AssetKey([layer_of(dbt_resource_props), dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] in ("model", "snapshot"):
            return layer_of(dbt_resource_props)
        return super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        # All-history models follow their daily parents (schedules.history_automation).
        if dbt_resource_props["resource_type"] == "model" and not is_daily(dbt_resource_props):
            return history_automation()
        return super().get_automation_condition(dbt_resource_props)

    def get_partitions_def(self, dbt_resource_props: Mapping[str, Any]) -> dg.PartitionsDefinition | None:
        return daily_partitions if is_daily(dbt_resource_props) else None

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> dg.AssetCheckSpec | None:
        # dagster-dbt reads a check's description from the test's meta only: say what each protects.
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        test = manifest["nodes"][unique_id]
        # A test may be shown on another asset than the model it reads (meta.dagster.ref).
        tested = manifest["nodes"].get(test.get("attached_node") or "", {}).get("name", asset_spec.key.path[-1])
        described = test_description(test, tested)
        return spec._replace(description=f"{described} {'Blocks' if spec.blocking else 'Does not block'} downstream assets when it fails.")

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        if is_daily(dbt_resource_props):
            tags.update(DAILY_TAGS)
        return tags
