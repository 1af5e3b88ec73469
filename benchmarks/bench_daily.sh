#!/usr/bin/env bash
# One daily partition of the whole graph at the synthetic shop's default scale, through the
# real CLI (as the schedule or a person runs it), split into its fixed overhead.
# Run from the repository root after `make run` (which leaves 7 days at 100k events/day).
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH" DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
export ECOMMERCE_DUCKDB_PATH="${ECOMMERCE_DUCKDB_PATH:-$PWD/data/ecommerce.duckdb}" ECOMMERCE_LANDING_DIR="${ECOMMERCE_LANDING_DIR:-$PWD/data/landing}"
DAY="${1:-$(date -u -d yesterday +%F)}"
EMPTY_DAY="${2:-2026-01-02}"
t() {
  local label=$1; shift
  local start=$EPOCHREALTIME
  "$@" > /tmp/bench_daily.out 2>&1
  awk -v a="$start" -v b="$EPOCHREALTIME" -v l="$label" 'BEGIN { printf "%-44s %6.1f s\n", l, b - a }'
}
t "python: import the code location" python -c "import ecommerce_assets.definitions"
t "dbt: start and parse (dbt parse)" bash -c "cd dbt_project && dbt parse --profiles-dir . --quiet --target-path /tmp/bench_daily_target"
t "snapshots slice" dagster asset materialize -m ecommerce_assets.definitions --select "$(ecommerce-assets selection snapshots)"
t "daily slice, partition $DAY" dagster asset materialize -m ecommerce_assets.definitions --select "$(ecommerce-assets selection daily)" --partition "$DAY"
t "daily slice, empty partition $EMPTY_DAY" dagster asset materialize -m ecommerce_assets.definitions --select "$(ecommerce-assets selection daily)" --partition "$EMPTY_DAY"
t "history slice" dagster asset materialize -m ecommerce_assets.definitions --select "$(ecommerce-assets selection history)"
