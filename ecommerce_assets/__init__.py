"""ecommerce_assets: an online shop's analytics as one Dagster asset graph."""

import warnings

# Beta and preview Dagster APIs this project uses on purpose (single-run backfills, selection
# strings, partitioned checks, spec mapping): the notices are known. Filtered by message so
# that importing `ecommerce_assets.sources` does not import Dagster.
warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview).*")
warnings.filterwarnings("ignore", message=r".*backfill_policy.*")
