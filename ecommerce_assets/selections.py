"""The three slices of the graph a day's work runs in, as asset selection strings.

The same strings work in `dagster asset materialize --select '...'` and in the UI's
selection box, so the CLI, the jobs and the docs share one definition.
"""

import dagster as dg

# Snapshots of the Fake Store catalogue and users, and their SCD2 history: first,
# because a day's cart lines are priced at the product version valid on that day.
SNAPSHOTS = "key:raw/products or key:raw/users or group:snapshots"
# The partitioned graph, raw carts and events to the daily facts: run per day or range.
DAILY = "tag:partitioning=daily"
# Models over all history (dimensions, segments, basket, churn, performance): last.
HISTORY = "(group:staging or group:intermediate or group:marts) and not tag:partitioning=daily"

BY_NAME = {"snapshots": SNAPSHOTS, "daily": DAILY, "history": HISTORY}


def selection(name: str) -> dg.AssetSelection:
    return dg.AssetSelection.from_string(BY_NAME[name])
