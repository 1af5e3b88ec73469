"""Python asset checks beside the dbt tests: the raw layer's health, and reconciliation
across layers.

- raw/events, raw/carts (per day) and raw/products, raw/users (per snapshot): the share of
  records the contracts refused;
- raw/events (per day): the share of lines that were duplicate deliveries;
- raw/events, raw/carts (per day): the day's volume against the median of the trailing week;
- marts/fct_carts (per day): purchase events reconciled with the carts (ids, count, revenue);
- marts/fct_daily_sales (per day): the daily facts reconciled with the cart lines, to the cent.

Every check is blocking: a result of severity ERROR (the fail band) stops the assets downstream
in the same run; a WARN result (the warn band) is recorded and lets the run go on.

Per-partition results. Dagster 1.13 accepts a `partitions_def` on `@asset_check` (a preview
feature): a run then plans one check execution per partition of its range. But an
`AssetCheckResult` carries the partition only when the run targets a single partition
(`dagster/partition` tag); in a range run (`BackfillPolicy.single_run()`, as here) it is
recorded without one and the planned per-day executions are never resolved. So the daily
checks evaluate each day of the run's window and yield one `AssetCheckEvaluation` per day with
its `partition` set, which resolves each planned execution, then the check's output (which the
downstream assets wait on when the check is blocking). A failed ERROR evaluation of a blocking
check fails the check's step, so the downstream assets of the run are skipped.

Thresholds come from the environment, read in one place (`Thresholds.from_env`, at each check
execution): see `ENV_DEFAULTS`.
"""

import math
import os
import statistics
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb

from ecommerce_assets.loading import DUPLICATE_RULE
from ecommerce_assets.partitions import daily_partitions, days_in, partition_window
from ecommerce_assets.resources import Warehouse

Severity = dg.AssetCheckSeverity

RAW_EVENTS = dg.AssetKey(["raw", "events"])
RAW_CARTS = dg.AssetKey(["raw", "carts"])
RAW_PRODUCTS = dg.AssetKey(["raw", "products"])
RAW_USERS = dg.AssetKey(["raw", "users"])
STG_EVENTS = dg.AssetKey(["staging", "stg_events"])
STG_CART_ITEMS = dg.AssetKey(["staging", "stg_cart_items"])
INT_CART_LINES = dg.AssetKey(["intermediate", "int_cart_lines"])
FCT_CARTS = dg.AssetKey(["marts", "fct_carts"])
FCT_DAILY_SALES = dg.AssetKey(["marts", "fct_daily_sales"])

# Repeated deliveries are quarantined too, but they are duplicates, not refusals.
NOT_A_DUPLICATE = f"rule <> '{DUPLICATE_RULE}'"
SAMPLE_IDS = 10


# --- thresholds ----------------------------------------------------------------------------

# Each threshold and its default. Rates are fractions (0.01 = 1%); volume factors are ratios
# to the trailing median (2 = warn outside [1/2x, 2x]).
ENV_DEFAULTS: dict[str, float] = {
    # Clickstream events: a strict contract over many lines (the synthetic shop injects ~0.6%).
    "ECOMMERCE_REJECT_WARN": 0.01,
    "ECOMMERCE_REJECT_FAIL": 0.05,
    # Fake Store records (carts, products, users): a sloppy API, few records (~2% refused).
    "ECOMMERCE_API_REJECT_WARN": 0.05,
    "ECOMMERCE_API_REJECT_FAIL": 0.10,
    "ECOMMERCE_DUPLICATE_WARN": 0.02,
    "ECOMMERCE_DUPLICATE_FAIL": 0.10,
    "ECOMMERCE_VOLUME_WARN_FACTOR": 2.0,
    "ECOMMERCE_VOLUME_FAIL_FACTOR": 5.0,
    "ECOMMERCE_VOLUME_MIN_HISTORY": 3,  # days with data among the trailing seven
    # Purchase events vs carts: revenue may drift when the product snapshot missed a price change.
    "ECOMMERCE_REVENUE_DRIFT_WARN": 0.01,
    "ECOMMERCE_REVENUE_DRIFT_FAIL": 0.05,
}


@dataclass(frozen=True)
class Band:
    """A rate's bands: pass up to `warn`, WARN above it, ERROR above `fail`."""

    warn: float
    fail: float

    def __post_init__(self) -> None:
        if not (0 <= self.warn <= self.fail):
            raise ValueError(f"thresholds must satisfy 0 <= warn <= fail, got warn={self.warn}, fail={self.fail}")


@dataclass(frozen=True)
class VolumeBand:
    """Volume bands as factors of the trailing median, with the history needed to judge."""

    warn_factor: float = 2.0
    fail_factor: float = 5.0
    min_history: int = 3

    def __post_init__(self) -> None:
        if not (1 <= self.warn_factor <= self.fail_factor):
            raise ValueError(
                f"volume factors must satisfy 1 <= warn <= fail, got warn={self.warn_factor}, fail={self.fail_factor}"
            )
        if not (1 <= self.min_history <= 7):
            raise ValueError(f"volume history must be 1 to 7 days, got {self.min_history}")


@dataclass(frozen=True)
class Thresholds:
    event_rejects: Band
    api_rejects: Band
    duplicates: Band
    volume: VolumeBand
    revenue_drift: Band

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Thresholds":
        env = os.environ if env is None else env

        def number(name: str) -> float:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return ENV_DEFAULTS[name]
            try:
                value = float(raw)
            except ValueError as error:
                raise ValueError(f"{name}={raw!r} is not a number") from error
            if not math.isfinite(value):
                raise ValueError(f"{name}={raw!r} is not a finite number")
            return value

        def band(prefix: str) -> Band:
            try:
                return Band(number(f"{prefix}_WARN"), number(f"{prefix}_FAIL"))
            except ValueError as error:
                raise ValueError(f"{prefix}_WARN and {prefix}_FAIL: {error}") from None

        def volume(history: float) -> VolumeBand:
            try:
                return VolumeBand(number("ECOMMERCE_VOLUME_WARN_FACTOR"), number("ECOMMERCE_VOLUME_FAIL_FACTOR"), int(history))
            except ValueError as error:
                raise ValueError(f"ECOMMERCE_VOLUME_WARN_FACTOR, _FAIL_FACTOR and _MIN_HISTORY: {error}") from None

        history = number("ECOMMERCE_VOLUME_MIN_HISTORY")
        if history != int(history):
            raise ValueError(f"ECOMMERCE_VOLUME_MIN_HISTORY={history} is not a whole number of days")
        return cls(
            event_rejects=band("ECOMMERCE_REJECT"),
            api_rejects=band("ECOMMERCE_API_REJECT"),
            duplicates=band("ECOMMERCE_DUPLICATE"),
            volume=volume(history),
            revenue_drift=band("ECOMMERCE_REVENUE_DRIFT"),
        )


# --- pure verdicts -------------------------------------------------------------------------


def rate(part: int, whole: int) -> float:
    """part / whole, 0 for an empty whole."""
    return part / whole if whole else 0.0


def band_severity(value: float, warn: float, fail: float) -> Severity | None:
    """None (pass) up to `warn` inclusive, WARN up to `fail` inclusive, ERROR above."""
    if value > fail:
        return Severity.ERROR
    if value > warn:
        return Severity.WARN
    return None


def reject_rate_severity(rejected: int, received: int, warn: float, fail: float) -> Severity | None:
    """The severity of `rejected` out of `received` records (nothing received: pass)."""
    return band_severity(rate(rejected, received), warn, fail)


@dataclass(frozen=True)
class VolumeVerdict:
    severity: Severity | None
    ratio: float | None  # today / trailing median; None without enough history
    median: float | None
    history_days: int
    note: str

    @property
    def passed(self) -> bool:
        return self.severity is None


def volume_verdict(today: int, trailing: Sequence[int], band: VolumeBand = VolumeBand()) -> VolumeVerdict:
    """Today's count against the median of the trailing days that have data (zeros are days
    without data, not data). Too little history passes with a note."""
    history = [count for count in trailing if count > 0]
    if len(history) < band.min_history:
        return VolumeVerdict(
            None, None, None, len(history),
            f"not enough history: {len(history)} of the previous days have data, {band.min_history} needed",
        )
    median = float(statistics.median(history))
    ratio = today / median
    bounds = f"[{1 / band.warn_factor:g}x, {band.warn_factor:g}x]"
    if ratio < 1 / band.fail_factor or ratio > band.fail_factor:
        severity, note = Severity.ERROR, f"outside [{1 / band.fail_factor:g}x, {band.fail_factor:g}x] of the trailing median"
    elif ratio < 1 / band.warn_factor or ratio > band.warn_factor:
        severity, note = Severity.WARN, f"outside {bounds} of the trailing median"
    else:
        severity, note = None, f"within {bounds} of the trailing median"
    return VolumeVerdict(severity, ratio, median, len(history), note)


def relative_difference(expected: Decimal | float, actual: Decimal | float) -> float:
    """|actual - expected| / |expected|; 0 when both are 0, infinite when only `expected` is."""
    if expected == actual:
        return 0.0
    if expected == 0:
        return math.inf
    return float(abs(Decimal(actual) - Decimal(expected)) / abs(Decimal(expected)))


def purchase_reconciliation_severity(
    event_carts: int, mart_carts: int, unmatched_carts: int, revenue_drift: float, warn: float, fail: float
) -> Severity | None:
    """Cart ids and counts must match exactly; revenue may drift within the bands."""
    if event_carts != mart_carts or unmatched_carts:
        return Severity.ERROR
    return band_severity(revenue_drift, warn, fail)


def exact_mismatches(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The measures (keys of `expected`) whose values differ: name -> (expected, actual)."""
    return {name: (value, actual.get(name)) for name, value in expected.items() if actual.get(name) != value}


# --- check plumbing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One evaluation: severity None means passed."""

    severity: Severity | None
    description: str
    metadata: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.severity is None


def _daily_check(fn: Callable, *, asset: dg.AssetKey, name: str, description: str,
                 additional_deps: Sequence[dg.AssetKey] = ()) -> dg.AssetChecksDefinition:
    # Partitioned asset checks are a preview feature in dagster 1.13: a deliberate choice
    # (see the module docstring), so its warning is silenced here and only here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.asset_check(
            asset=asset, name=name, description=description, blocking=True,
            partitions_def=daily_partitions, additional_deps=list(additional_deps) or None,
        )(fn)


def _window_days(context: dg.AssetCheckExecutionContext) -> tuple[tuple[date, date], list[date]]:
    window = partition_window(context)  # the run's [start, end): one day or a whole range
    return window, list(days_in(window))


def _per_day(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey, check_name: str,
             outcomes: Mapping[date, Outcome]) -> Iterator:
    """One evaluation per day of the run, each recorded against its partition, then the
    check's output, which the downstream assets wait on (a failed ERROR evaluation of a
    blocking check fails the step after this, and they are skipped)."""
    for day in sorted(outcomes):
        outcome = outcomes[day]
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=check_name,
            passed=outcome.passed,
            severity=outcome.severity or Severity.ERROR,
            description=f"{day}: {outcome.description}",
            metadata=outcome.metadata,
            blocking=True,
            partition=day.isoformat(),
        )
    failed = {s: [d.isoformat() for d, o in sorted(outcomes.items()) if o.severity == s] for s in Severity}
    context.log.info(
        f"{asset_key.to_user_string()} {check_name}: {len(outcomes)} days, "
        f"{len(failed[Severity.WARN])} warned {failed[Severity.WARN]}, "
        f"{len(failed[Severity.ERROR])} failed {failed[Severity.ERROR]}"
    )
    yield dg.Output(None)


def _counts_by_day(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> dict[date, int]:
    return {day: count for day, count in con.execute(sql, list(params)).fetchall()}


def _rules_by_day(rows: Iterable[tuple[date, str, int]]) -> dict[date, dict[str, int]]:
    found: dict[date, dict[str, int]] = defaultdict(dict)
    for day, rule, count in rows:
        found[day][rule or "?"] = count
    return found


def _reject_outcome(what: str, loaded: int, rejected: int, by_rule: Mapping[str, int], band: Band,
                    quarantine_query: str) -> Outcome:
    received = loaded + rejected
    measured = rate(rejected, received)
    severity = reject_rate_severity(rejected, received, band.warn, band.fail)
    verdict = {None: "ok", Severity.WARN: "above the warn threshold", Severity.ERROR: "above the fail threshold"}[severity]
    return Outcome(
        severity,
        f"{rejected} of {received} {what} refused by the contract ({measured:.2%}), {verdict} "
        f"(warn above {band.warn:.2%}, fail above {band.fail:.2%})",
        {
            "reject_rate": dg.MetadataValue.float(measured),
            "rejected": dg.MetadataValue.int(rejected),
            "loaded": dg.MetadataValue.int(loaded),
            "received_excluding_duplicates": dg.MetadataValue.int(received),
            "warn_above": dg.MetadataValue.float(band.warn),
            "fail_above": dg.MetadataValue.float(band.fail),
            "rejects_by_rule": dg.MetadataValue.json(dict(sorted(by_rule.items(), key=lambda kv: -kv[1]))),
            "quarantine_query": dg.MetadataValue.text(quarantine_query),
        },
    )


# --- 1. contract reject rate ----------------------------------------------------------------

# A cart reject belongs to the day of the cart's own `date` when readable: a range run of
# raw/carts files every reject under the window's first day (`partition_date`), and a later
# rerun of one day files it again under that day, so rejects are counted once per payload.
_CART_REJECT_DAY = (
    "coalesce(CASE WHEN json_valid(payload) THEN "
    "try_cast(try_cast(json_extract_string(payload, '$.date') AS TIMESTAMPTZ) AS DATE) END, partition_date)"
)


def _events_rejects(con, start: date, end: date) -> tuple[dict, dict, dict]:
    loaded = _counts_by_day(
        con, "SELECT event_date, count(*) FROM raw.events WHERE event_date >= ? AND event_date < ? GROUP BY 1",
        [start, end],
    )
    rules = con.execute(
        "SELECT partition_date, rule, count(*) FROM raw.events_rejected "
        "WHERE partition_date >= ? AND partition_date < ? AND rule IS DISTINCT FROM ? GROUP BY ALL",
        [start, end, DUPLICATE_RULE],
    ).fetchall()
    by_rule = _rules_by_day(rules)
    rejected = {day: sum(counts.values()) for day, counts in by_rule.items()}
    return loaded, rejected, by_rule


def _carts_rejects(con, start: date, end: date) -> tuple[dict, dict, dict]:
    loaded = _counts_by_day(
        con, "SELECT partition_date, count(*) FROM raw.carts WHERE partition_date >= ? AND partition_date < ? GROUP BY 1",
        [start, end],
    )
    rules = con.execute(
        f"SELECT day, rule, count(DISTINCT payload) FROM ("
        f"  SELECT {_CART_REJECT_DAY} AS day, rule, payload FROM raw.carts_rejected WHERE {NOT_A_DUPLICATE}"
        f") WHERE day >= ? AND day < ? GROUP BY ALL",
        [start, end],
    ).fetchall()
    by_rule = _rules_by_day(rules)
    rejected = {day: sum(counts.values()) for day, counts in by_rule.items()}
    return loaded, rejected, by_rule


def _daily_reject_rate_check(asset_key: dg.AssetKey, what: str, band_name: str, counts: Callable,
                             quarantine_query: Callable[[date], str], description: str) -> dg.AssetChecksDefinition:
    name = "contract_reject_rate"

    def check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator:
        band = getattr(Thresholds.from_env(), band_name)
        (start, end), days = _window_days(context)
        with warehouse.get_connection() as con:
            loaded, rejected, by_rule = counts(con, start, end)
        outcomes = {
            day: _reject_outcome(what, loaded.get(day, 0), rejected.get(day, 0), by_rule.get(day, {}), band,
                                 quarantine_query(day))
            for day in days
        }
        yield from _per_day(context, asset_key, name, outcomes)

    return _daily_check(check, asset=asset_key, name=name, description=description)


events_reject_rate = _daily_reject_rate_check(
    RAW_EVENTS, "distinct events", "event_rejects", _events_rejects,
    lambda day: f"SELECT field, rule, reason, source, line_number, payload FROM raw.events_rejected "
    f"WHERE partition_date = DATE '{day}' AND {NOT_A_DUPLICATE}",
    "Contract health of each day of clickstream: the share of distinct events (duplicate deliveries "
    "excluded) that the Event contract refused into raw.events_rejected. WARN above "
    "ECOMMERCE_REJECT_WARN (1%), ERROR above ECOMMERCE_REJECT_FAIL (5%): a broken collector or a "
    "contract change upstream, which would silently thin out sessions, funnels and sales. Blocking.",
)

carts_reject_rate = _daily_reject_rate_check(
    RAW_CARTS, "carts", "api_rejects", _carts_rejects,
    lambda day: f"SELECT record_key, field, rule, reason, payload FROM raw.carts_rejected "
    f"WHERE {_CART_REJECT_DAY} = DATE '{day}' AND {NOT_A_DUPLICATE}",
    "Contract health of each day of carts (orders): the share of carts (repeated deliveries "
    "excluded) the Cart contract refused into raw.carts_rejected, a reject counted on the day of its cart. WARN above "
    "ECOMMERCE_API_REJECT_WARN (5%), ERROR above ECOMMERCE_API_REJECT_FAIL (10%): refused carts "
    "are missing orders, so revenue and every sales mart would be understated. Blocking.",
)


def _snapshot_reject_rate_check(asset_key: dg.AssetKey, table: str, what: str, protects: str) -> dg.AssetChecksDefinition:
    name = "contract_reject_rate"

    @dg.asset_check(
        asset=asset_key,
        name=name,
        blocking=True,
        description=f"Contract health of the {what} snapshot: the share of records (repeated deliveries "
        f"excluded) the contract refused "
        f"into raw.{table}_rejected. WARN above ECOMMERCE_API_REJECT_WARN (5%), ERROR above "
        f"ECOMMERCE_API_REJECT_FAIL (10%): {protects} Blocking.",
    )
    def check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        band = Thresholds.from_env().api_rejects
        with warehouse.get_connection() as con:
            loaded = con.execute(f"SELECT count(*) FROM raw.{table}").fetchall()[0][0]
            by_rule = dict(con.execute(
                f"SELECT rule, count(*) FROM raw.{table}_rejected WHERE {NOT_A_DUPLICATE} GROUP BY ALL").fetchall())
        outcome = _reject_outcome(what, loaded, sum(by_rule.values()), by_rule, band,
                                  f"SELECT record_key, field, rule, reason, payload FROM raw.{table}_rejected "
                                  f"WHERE {NOT_A_DUPLICATE}")
        return dg.AssetCheckResult(
            passed=outcome.passed, severity=outcome.severity or Severity.ERROR,
            description=outcome.description, metadata=outcome.metadata,
        )

    return check


products_reject_rate = _snapshot_reject_rate_check(
    RAW_PRODUCTS, "products", "products",
    "refused products drop out of the catalogue snapshot, so cart lines lose their price and category.",
)
users_reject_rate = _snapshot_reject_rate_check(
    RAW_USERS, "users", "users",
    "refused users drop out of the user snapshot and dimension, so customer segments and churn miss them.",
)


# --- 2. duplicate rate ------------------------------------------------------------------------


def _check_duplicate_rate(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator:
    band = Thresholds.from_env().duplicates
    (start, end), days = _window_days(context)
    with warehouse.get_connection() as con:
        loaded = _counts_by_day(
            con, "SELECT event_date, count(*) FROM raw.events WHERE event_date >= ? AND event_date < ? GROUP BY 1",
            [start, end],
        )
        rejected: dict[date, tuple[int, int]] = {
            day: (duplicates, others)
            for day, duplicates, others in con.execute(
                "SELECT partition_date, count(*) FILTER (WHERE rule = ?), count(*) FILTER (WHERE rule IS DISTINCT FROM ?) "
                "FROM raw.events_rejected WHERE partition_date >= ? AND partition_date < ? GROUP BY 1",
                [DUPLICATE_RULE, DUPLICATE_RULE, start, end],
            ).fetchall()
        }
    outcomes = {}
    for day in days:
        duplicates, others = rejected.get(day, (0, 0))
        received = loaded.get(day, 0) + others + duplicates
        measured = rate(duplicates, received)
        severity = band_severity(measured, band.warn, band.fail)
        outcomes[day] = Outcome(
            severity,
            f"{duplicates} of {received} delivered event lines were duplicate deliveries ({measured:.2%}; "
            f"warn above {band.warn:.2%}, fail above {band.fail:.2%})",
            {
                "duplicate_rate": dg.MetadataValue.float(measured),
                "duplicates": dg.MetadataValue.int(duplicates),
                "received_lines": dg.MetadataValue.int(received),
                "warn_above": dg.MetadataValue.float(band.warn),
                "fail_above": dg.MetadataValue.float(band.fail),
                "quarantine_query": dg.MetadataValue.text(
                    f"SELECT source, line_number, record_key FROM raw.events_rejected "
                    f"WHERE partition_date = DATE '{day}' AND rule = '{DUPLICATE_RULE}'"
                ),
            },
        )
    yield from _per_day(context, RAW_EVENTS, "duplicate_rate", outcomes)


events_duplicate_rate = _daily_check(
    _check_duplicate_rate, asset=RAW_EVENTS, name="duplicate_rate",
    description="Delivery health of each day of clickstream: the share of delivered event lines that "
    "repeated an event_id already delivered (kept once, the copies quarantined with rule 'duplicate'). "
    "WARN above ECOMMERCE_DUPLICATE_WARN (2%), ERROR above ECOMMERCE_DUPLICATE_FAIL (10%): a collector "
    "replaying files, which deduplication hides but which signals lost or reordered deliveries. Blocking.",
)


# --- 3. volume against the trailing week ----------------------------------------------------


def _daily_volume_check(asset_key: dg.AssetKey, table: str, day_column: str, what: str) -> dg.AssetChecksDefinition:
    name = "volume_vs_trailing_week"

    def check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator:
        band = Thresholds.from_env().volume
        (start, end), days = _window_days(context)
        with warehouse.get_connection() as con:
            counts = _counts_by_day(
                con, f'SELECT "{day_column}", count(*) FROM raw.{table} '
                f'WHERE "{day_column}" >= ? AND "{day_column}" < ? GROUP BY 1',
                [start - timedelta(days=7), end],
            )
        outcomes = {}
        for day in days:
            previous = [day - timedelta(days=n) for n in range(7, 0, -1)]
            today = counts.get(day, 0)
            verdict = volume_verdict(today, [counts.get(d, 0) for d in previous], band)
            ratio = "n/a" if verdict.ratio is None else f"{verdict.ratio:.2f}x"
            metadata: dict[str, Any] = {
                "rows": dg.MetadataValue.int(today),
                "history_days": dg.MetadataValue.int(verdict.history_days),
                "trailing_counts": dg.MetadataValue.json({d.isoformat(): counts.get(d, 0) for d in previous}),
                "warn_outside": dg.MetadataValue.text(f"[{1 / band.warn_factor:g}x, {band.warn_factor:g}x]"),
                "fail_outside": dg.MetadataValue.text(f"[{1 / band.fail_factor:g}x, {band.fail_factor:g}x]"),
                "note": dg.MetadataValue.text(verdict.note),
            }
            if verdict.ratio is not None:
                metadata["trailing_median"] = dg.MetadataValue.float(verdict.median)
                metadata["ratio_to_median"] = dg.MetadataValue.float(verdict.ratio)
            outcomes[day] = Outcome(
                verdict.severity,
                f"{today} {what} vs a trailing median of {verdict.median if verdict.median is not None else 'n/a'} "
                f"({ratio}): {verdict.note}",
                metadata,
            )
        yield from _per_day(context, asset_key, name, outcomes)

    return _daily_check(
        check, asset=asset_key, name=name,
        description=f"Volume of each day of {what} (rows in raw.{table}) against the median of the previous "
        "seven days that have data. WARN outside [1/2x, 2x] (ECOMMERCE_VOLUME_WARN_FACTOR), ERROR outside "
        "[1/5x, 5x] (ECOMMERCE_VOLUME_FAIL_FACTOR): a missing or partial delivery, or a replayed one, "
        "that no contract would notice. Passes with a note while fewer than "
        "ECOMMERCE_VOLUME_MIN_HISTORY (3) previous days have data. Blocking.",
    )


events_volume = _daily_volume_check(RAW_EVENTS, "events", "event_date", "events")
carts_volume = _daily_volume_check(RAW_CARTS, "carts", "partition_date", "carts")


# --- 4. purchase events against carts -------------------------------------------------------


def _by_day(con: duckdb.DuckDBPyConnection, sql: str, window: list[date], *names: str) -> dict[date, dict]:
    """{day: {name: value}} from a query whose first column is the day."""
    return {day: dict(zip(names, values)) for day, *values in con.execute(sql, window).fetchall()}


def _check_purchases_reconcile(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator:
    band = Thresholds.from_env().revenue_drift
    (start, end), days = _window_days(context)
    with warehouse.get_connection() as con:
        events = _by_day(con, "SELECT event_date, count(DISTINCT cart_id), coalesce(sum(price * quantity), 0) "
                         "FROM staging.stg_events WHERE event_type = 'purchase' AND event_date >= ? AND event_date < ? "
                         "GROUP BY 1", [start, end], "carts", "revenue")
        marts = _by_day(con, "SELECT cart_date, count(*), coalesce(sum(cart_value), 0) FROM marts.fct_carts "
                        "WHERE cart_date >= ? AND cart_date < ? GROUP BY 1", [start, end], "carts", "revenue")
        # Carts on one side only, per day (a cart dated differently on each side shows on both days).
        unmatched = con.execute(
            "WITH e AS (SELECT DISTINCT event_date AS day, cart_id FROM staging.stg_events "
            "           WHERE event_type = 'purchase' AND cart_id IS NOT NULL AND event_date >= ? AND event_date < ?), "
            "     c AS (SELECT cart_date AS day, cart_id FROM marts.fct_carts WHERE cart_date >= ? AND cart_date < ?) "
            "SELECT coalesce(e.day, c.day), e.cart_id IS NULL, coalesce(e.cart_id, c.cart_id) "
            "FROM e FULL JOIN c ON e.day = c.day AND e.cart_id = c.cart_id "
            "WHERE e.cart_id IS NULL OR c.cart_id IS NULL ORDER BY ALL",
            [start, end, start, end],
        ).fetchall()
    only_in_marts: dict[date, list[int]] = defaultdict(list)
    only_in_events: dict[date, list[int]] = defaultdict(list)
    for day, missing_from_events, cart_id in unmatched:
        (only_in_marts if missing_from_events else only_in_events)[day].append(cart_id)
    outcomes = {}
    for day in days:
        none = {"carts": 0, "revenue": Decimal(0)}
        event, mart = events.get(day, none), marts.get(day, none)
        event_carts, event_revenue, mart_carts, mart_revenue = event["carts"], event["revenue"], mart["carts"], mart["revenue"]
        orphans, missing = only_in_events.get(day, []), only_in_marts.get(day, [])
        drift = relative_difference(event_revenue, mart_revenue)
        severity = purchase_reconciliation_severity(
            event_carts, mart_carts, len(orphans) + len(missing), drift, band.warn, band.fail
        )
        if event_carts != mart_carts or orphans or missing:
            why = (f"cart counts differ: {event_carts} carts with purchase events, {mart_carts} in fct_carts "
                   f"({len(orphans)} only in events, {len(missing)} only in fct_carts)")
        else:
            why = f"{event_carts} carts on both sides"
        outcomes[day] = Outcome(
            severity,
            f"{why}; revenue {event_revenue} from purchase events vs {mart_revenue} in fct_carts "
            f"(drift {drift:.2%}; warn above {band.warn:.2%}, fail above {band.fail:.2%})",
            {
                "purchase_event_carts": dg.MetadataValue.int(event_carts),
                "fct_carts_carts": dg.MetadataValue.int(mart_carts),
                "carts_only_in_purchase_events": dg.MetadataValue.int(len(orphans)),
                "carts_only_in_fct_carts": dg.MetadataValue.int(len(missing)),
                "sample_carts_only_in_purchase_events": dg.MetadataValue.json(orphans[:SAMPLE_IDS]),
                "sample_carts_only_in_fct_carts": dg.MetadataValue.json(missing[:SAMPLE_IDS]),
                "purchase_event_revenue": dg.MetadataValue.float(float(event_revenue)),
                "fct_carts_revenue": dg.MetadataValue.float(float(mart_revenue)),
                "revenue_difference": dg.MetadataValue.text(str(mart_revenue - event_revenue)),
                "revenue_drift": dg.MetadataValue.float(drift),
                "drift_warn_above": dg.MetadataValue.float(band.warn),
                "drift_fail_above": dg.MetadataValue.float(band.fail),
            },
        )
    yield from _per_day(context, FCT_CARTS, "purchase_events_reconcile", outcomes)


fct_carts_reconcile = _daily_check(
    _check_purchases_reconcile, asset=FCT_CARTS, name="purchase_events_reconcile", additional_deps=[STG_EVENTS],
    description="Each day's carts reconciled with the clickstream: the cart ids of purchase events in "
    "staging.stg_events must be exactly the carts of marts.fct_carts for the day (count and ids; ERROR "
    "otherwise), and the revenue sum(price x quantity) of those events must agree with sum(cart_value). "
    "Carts are priced at the product snapshot valid at checkout, events at the price paid, so revenue may "
    "drift when a snapshot missed a price change: WARN above ECOMMERCE_REVENUE_DRIFT_WARN (1%), ERROR "
    "above ECOMMERCE_REVENUE_DRIFT_FAIL (5%). Protects every sales number built on fct_carts. Blocking.",
)


# --- 5. daily sales against cart lines --------------------------------------------------------


def _check_daily_sales_reconcile(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator:
    (start, end), days = _window_days(context)
    window = [start, end]
    with warehouse.get_connection() as con:
        marts = _by_day(con, "SELECT sales_date, total_carts, total_items_sold, revenue FROM marts.fct_daily_sales "
                        "WHERE sales_date >= ? AND sales_date < ?", window, "carts", "items", "revenue")
        lines = _by_day(con, "SELECT cart_date, sum(quantity), sum(line_value) FROM intermediate.int_cart_lines "
                        "WHERE cart_date >= ? AND cart_date < ? GROUP BY 1", window, "items", "revenue")
        items = _by_day(con, "SELECT cart_date, count(DISTINCT cart_id), sum(quantity) FROM staging.stg_cart_items "
                        "WHERE cart_date >= ? AND cart_date < ? GROUP BY 1", window, "carts", "items")
    outcomes = {}
    for day in days:
        mart = marts.get(day, {"carts": 0, "items": 0, "revenue": Decimal(0)})
        line, item = lines.get(day, {"items": 0, "revenue": Decimal(0)}), items.get(day, {"carts": 0, "items": 0})
        expected = {
            "revenue (int_cart_lines.line_value)": line["revenue"],
            "items (int_cart_lines.quantity)": line["items"],
            "items (stg_cart_items.quantity)": item["items"],
            "carts (stg_cart_items)": item["carts"],
        }
        actual = {
            "revenue (int_cart_lines.line_value)": mart["revenue"],
            "items (int_cart_lines.quantity)": mart["items"],
            "items (stg_cart_items.quantity)": mart["items"],
            "carts (stg_cart_items)": mart["carts"],
        }
        mismatches = exact_mismatches(expected, actual)
        outcomes[day] = Outcome(
            Severity.ERROR if mismatches else None,
            (f"fct_daily_sales differs from the cart lines on {', '.join(mismatches)}" if mismatches else
             f"fct_daily_sales matches the cart lines: {mart['carts']} carts, {mart['items']} items, revenue {mart['revenue']}"),
            {
                "fct_daily_sales_revenue": dg.MetadataValue.text(str(mart["revenue"])),
                "int_cart_lines_revenue": dg.MetadataValue.text(str(line["revenue"])),
                "fct_daily_sales_items": dg.MetadataValue.int(int(mart["items"])),
                "stg_cart_items_items": dg.MetadataValue.int(int(item["items"])),
                "fct_daily_sales_carts": dg.MetadataValue.int(int(mart["carts"])),
                "stg_cart_items_carts": dg.MetadataValue.int(int(item["carts"])),
                "has_fct_daily_sales_row": dg.MetadataValue.bool(day in marts),
                "mismatches": dg.MetadataValue.json(
                    {name: {"expected": str(exp), "fct_daily_sales": str(act)} for name, (exp, act) in mismatches.items()}
                ),
            },
        )
    yield from _per_day(context, FCT_DAILY_SALES, "reconciles_with_cart_lines", outcomes)


fct_daily_sales_reconcile = _daily_check(
    _check_daily_sales_reconcile, asset=FCT_DAILY_SALES, name="reconciles_with_cart_lines",
    additional_deps=[INT_CART_LINES, STG_CART_ITEMS],
    description="Each day of marts.fct_daily_sales reconciled with the layers below it: revenue must equal "
    "sum(line_value) of intermediate.int_cart_lines to the cent, items sold the quantities of "
    "int_cart_lines and staging.stg_cart_items, carts the distinct carts of stg_cart_items. Any difference "
    "is an ERROR: the daily revenue reported to the business would not add up. Blocking.",
)


CHECKS = [
    events_reject_rate,
    events_duplicate_rate,
    events_volume,
    carts_reject_rate,
    carts_volume,
    products_reject_rate,
    users_reject_rate,
    fct_carts_reconcile,
    fct_daily_sales_reconcile,
]
