"""ecommerce_assets: an online shop's analytics as one Dagster asset graph."""

import warnings

# Single-run backfills are how ranges run as one run here; the beta notice is known.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=Warning)
