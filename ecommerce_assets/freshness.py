"""Freshness policies: how old each slice of the graph may get before it warns, then fails.

The daily schedule runs shortly after midnight UTC. A daily asset materialised then is
24 hours old at the next run; it warns when today's run is over two hours late and fails
when it is six hours late. Snapshots of a slowly changing catalogue may be a week old
before they fail; the all-history models, rebuilt every day, two days. Under `dagster dev`
the freshness daemon evaluates them.
"""

from datetime import timedelta

import dagster as dg

from ecommerce_assets import selections

DAILY = dg.FreshnessPolicy.time_window(warn_window=timedelta(hours=26), fail_window=timedelta(hours=30))
SNAPSHOTS = dg.FreshnessPolicy.time_window(warn_window=timedelta(hours=26), fail_window=timedelta(days=7))
HISTORY = dg.FreshnessPolicy.time_window(warn_window=timedelta(hours=26), fail_window=timedelta(days=2))

BY_SLICE = {"daily": DAILY, "snapshots": SNAPSHOTS, "history": HISTORY}


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """Every asset gets the policy of the slice it belongs to."""
    for name, policy in BY_SLICE.items():
        defs = defs.map_resolved_asset_specs(
            func=lambda spec, policy=policy: dg.apply_freshness_policy(spec, policy),
            selection=selections.BY_NAME[name],
        )
    return defs
