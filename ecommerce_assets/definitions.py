"""The code location: wires assets, resources and the executor together, nothing more."""

import dagster as dg

from ecommerce_assets.assets import RAW_ASSETS
from ecommerce_assets.assets.dbt_models import DBT_ASSETS
from ecommerce_assets.checks import CHECKS
from ecommerce_assets.dbt_project import DBT_EXECUTABLE, DbtCli, dbt_project
from ecommerce_assets.freshness import with_freshness
from ecommerce_assets.jobs import JOBS
from ecommerce_assets.resources import build_resources
from ecommerce_assets.schedules import SCHEDULES
from ecommerce_assets.sensors import SENSORS
from ecommerce_assets.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    defs = dg.Definitions(
        assets=[*RAW_ASSETS, *DBT_ASSETS],
        asset_checks=CHECKS,
        jobs=JOBS,
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources={**build_resources(settings), "dbt": DbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)},
        # One process per run: no re-import per step, and one DuckDB writer at a time.
        executor=dg.in_process_executor,
    )
    return with_freshness(defs)


defs = build_definitions(Settings.from_env())
