"""The code location: wires assets, resources and the executor together, nothing more."""

import dagster as dg

from ecommerce_assets.assets import RAW_ASSETS
from ecommerce_assets.resources import build_resources
from ecommerce_assets.settings import Settings

defs = dg.Definitions(
    assets=RAW_ASSETS,
    resources=build_resources(Settings.from_env()),
    # One process per run: no re-import per step, and one DuckDB writer at a time.
    executor=dg.in_process_executor,
)
