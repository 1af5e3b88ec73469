"""The marts recomputed independently in pandas, from the raw tables, for row-by-row tests.

Each function implements a business rule as the model descriptions write it
(dbt_project/models/**/_*.yml, /work/shared/PRODUCT.md), never by translating the SQL.
Inputs are DataFrames of `raw.*` as they are stored, plus `snapshots.products_snapshot`:
when a price version starts depends on when the snapshot ran, which raw data cannot tell.

Money is carried as integer cents, so sums are exact; values rounded by a model are
rounded here half away from zero from the exact fraction.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

SESSION_GAP = pd.Timedelta(minutes=30)
# (tier, lowest price) from the highest; a price below every bound is C-Tier.
PRICE_TIERS = (("Star", 200), ("A-Tier", 100), ("B-Tier", 50))
PREMIUM_ABOVE = 100
# dim_user_segments: seed 000's rules, first match wins, with Potential Loyalists
# (R >= 3, F <= 2, M >= 4) added and Hibernating requiring M >= 3; None = any score.
SEGMENT_RULES = (  # (segment, (R lo, R hi), (F lo, F hi), M lo)
    ("Champions", (4, 5), (4, 5), None),
    ("Loyal Customers", (3, 5), (3, 5), None),
    ("Potential Loyalists", (3, 5), (1, 2), 4),
    ("New Customers", (4, 5), (1, 2), None),
    ("Promising", (3, 5), (1, 2), None),
    ("At Risk", (1, 2), (4, 5), None),
    ("Cant Lose Them", (1, 2), (3, 5), None),
    ("Hibernating", (1, 2), (1, 2), 3),
)
CHURN_ACTIONS = {
    "High": "Win-back campaign with a personal offer",
    "Medium": "Re-engagement email with recommendations",
    "Low": "Nurture: cross-sell and loyalty programme",
}
SEGMENT_TIERS = {
    "Champions": "Tier 1", "Loyal Customers": "Tier 1",
    "Potential Loyalists": "Tier 2", "New Customers": "Tier 2",
    "Promising": "Tier 3", "At Risk": "Tier 3",
    "Cant Lose Them": "Tier 4", "Hibernating": "Tier 4", "Lost": "Tier 4",
}


# ------------------------------------------------------------------ helpers

def cents(price: float) -> int:
    """A source price (a double) as DECIMAL(12,2) cents, rounded half away from zero."""
    return int((Decimal(repr(float(price))) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rounded(numerator: int, denominator: int, places: int, scale: int = 1) -> float:
    """numerator / (denominator * scale) rounded half away from zero; 0 when the denominator is 0."""
    if denominator == 0:
        return 0.0
    exact = Fraction(numerator, denominator * scale) * 10**places
    return float(int(exact + Fraction(1, 2))) / 10**places  # non-negative values only


def cart_lines(carts: pd.DataFrame) -> pd.DataFrame:
    """raw.carts exploded to one row per line: cart_id, product_id, quantity."""
    rows = [(cart.id, item["product_id"], item["quantity"])
            for cart in carts.itertuples() for item in cart.products]
    return pd.DataFrame(rows, columns=["cart_id", "product_id", "quantity"], dtype="int64")


def _clean_category(category: str) -> str:
    return category.strip().lower().replace("jewelery", "jewelry")


def _timestamp_text(value: datetime) -> str:
    """A timestamp as DuckDB casts it to text (fraction without trailing zeros)."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return text + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "")


# ------------------------------------------------------------------ prices

def version_at(snapshot: pd.DataFrame, product_id: int, at: datetime) -> pd.Series | None:
    """The product's snapshot version valid at `at`: the one with valid_from <= at < valid_to;
    before the first version, the first one; None for a product never snapshotted."""
    versions = snapshot[snapshot["id"] == product_id].sort_values("dbt_valid_from")
    if versions.empty:
        return None
    valid_to = versions["dbt_valid_to"].fillna(pd.Timestamp.max)
    current = versions[(versions["dbt_valid_from"] <= at) & (at < valid_to)]
    if current.empty and at < versions["dbt_valid_from"].iloc[0]:
        current = versions.head(1)
    return current.iloc[0] if not current.empty else None


def price_at(snapshot: pd.DataFrame, product_id: int, at: datetime) -> int | None:
    """The product's price (cents) valid at `at` (version_at)."""
    version = version_at(snapshot, product_id, at)
    return None if version is None else cents(version["price"])


# ------------------------------------------------------------------ marts

def fct_carts(carts: pd.DataFrame, snapshot: pd.DataFrame) -> pd.DataFrame:
    """One row per raw cart: units, distinct products, and value at the prices of checkout."""
    times = carts.set_index("id")["cart_time"]
    lines = cart_lines(carts)
    lines["unit_cents"] = [price_at(snapshot, p, times[c]) for c, p in zip(lines.cart_id, lines.product_id)]
    lines["line_cents"] = lines["quantity"] * lines["unit_cents"].astype("float")
    totals = lines.groupby("cart_id").agg(
        total_items=("quantity", "sum"),
        unique_products=("product_id", "nunique"),
        value_cents=("line_cents", "sum"),  # a line without a price adds nothing
    )
    out = carts.rename(columns={"id": "cart_id", "partition_date": "cart_date"})
    out = out[["cart_id", "user_id", "cart_date", "cart_time"]].merge(totals, on="cart_id", how="left")
    out = out.fillna({"total_items": 0, "unique_products": 0, "value_cents": 0})
    out = out.astype({"total_items": "int64", "unique_products": "int64", "value_cents": "int64"})
    return out.assign(cart_value=out["value_cents"] / 100)


def fct_daily_sales(carts: pd.DataFrame, first_day: date, last_day: date) -> pd.DataFrame:
    """One row per day from first_day to last_day (the window), from fct_carts() rows: a day
    without carts has zero counts and revenue, and no averages (None)."""
    window = pd.DatetimeIndex(pd.date_range(first_day, last_day, freq="D"), name="sales_date")
    days = carts.groupby("cart_date").agg(
        total_carts=("cart_id", "count"),
        unique_customers=("user_id", "nunique"),
        total_items_sold=("total_items", "sum"),
        revenue_cents=("value_cents", "sum"),
    ).reindex(window, fill_value=0).reset_index()
    days["revenue"] = days["revenue_cents"] / 100

    def average(numerators, denominators, scale=1):
        return [rounded(n, d, 2, scale) if d else None for n, d in zip(numerators, denominators)]

    days["avg_items_per_cart"] = average(days.total_items_sold, days.total_carts)
    days["avg_carts_per_customer"] = average(days.total_carts, days.unique_customers)
    days["avg_cart_value"] = average(days.revenue_cents, days.total_carts, scale=100)
    return days


def fct_category_performance(carts: pd.DataFrame, snapshot: pd.DataFrame) -> pd.DataFrame:
    """One row per category of the current catalogue: price statistics of its current
    products, and units and revenue of every cart line credited to the category the product
    had in the version valid at checkout; ranked by revenue, equal revenues sharing a rank."""
    current = snapshot[snapshot["dbt_valid_to"].isna()].assign(
        category=lambda s: s["category"].map(_clean_category), price_cents=lambda s: s["price"].map(cents))
    catalogue = current.groupby("category")["price_cents"].agg(["count", "sum", "min", "max"])
    times = carts.set_index("id")["cart_time"]
    sold = {}  # category -> [units, cents]
    for line in cart_lines(carts).itertuples():
        version = version_at(snapshot, line.product_id, times[line.cart_id])
        if version is not None:
            totals = sold.setdefault(_clean_category(version["category"]), [0, 0])
            totals[0] += line.quantity
            totals[1] += line.quantity * cents(version["price"])
    out = pd.DataFrame({
        "category": catalogue.index,
        "product_count": catalogue["count"].to_numpy(),
        "avg_price": [rounded(total, n, 2, scale=100) for total, n in zip(catalogue["sum"], catalogue["count"])],
        "min_price": catalogue["min"].to_numpy() / 100,
        "max_price": catalogue["max"].to_numpy() / 100,
        "price_range": (catalogue["max"] - catalogue["min"]).to_numpy() / 100,
        "units_sold": [sold.get(c, [0, 0])[0] for c in catalogue.index],
        "revenue_cents": [sold.get(c, [0, 0])[1] for c in catalogue.index],
    })
    out["revenue"] = out["revenue_cents"] / 100
    # rank = 1 + the categories that earned strictly more
    out["revenue_rank"] = [1 + int((out["revenue_cents"] > r).sum()) for r in out["revenue_cents"]]
    return out


def product_tier(price_cents: int) -> str:
    return next((tier for tier, bound in PRICE_TIERS if price_cents >= bound * 100), "C-Tier")


def dim_products(snapshot: pd.DataFrame) -> pd.DataFrame:
    """One row per product version of the snapshot, with its price tier."""
    price_cents = snapshot["price"].map(cents)
    return pd.DataFrame({
        "product_key": [hashlib.md5(f"{p}{_timestamp_text(v)}".encode()).hexdigest()
                        for p, v in zip(snapshot["id"], snapshot["dbt_valid_from"])],
        "product_id": snapshot["id"],
        "title": snapshot["title"].str.strip(),
        "category": snapshot["category"].map(_clean_category),
        "price": price_cents / 100,
        "product_tier": price_cents.map(product_tier),
        "is_premium": price_cents > PREMIUM_ABOVE * 100,
        "valid_from": snapshot["dbt_valid_from"],
        "valid_to": snapshot["dbt_valid_to"],
        "is_current": snapshot["dbt_valid_to"].isna(),
    })


def rfm_score(values: pd.Series, best_high: bool) -> pd.Series:
    """Rank-based quintile 1..5, 5 best: 1 + the whole fifths of all customers that score
    strictly worse. Customers with equal values count the same customers below them, so they
    get the same score."""
    ordered = np.sort(values.to_numpy())
    n = len(ordered)
    if best_high:  # worse = lower
        worse = np.searchsorted(ordered, values.to_numpy(), side="left")
    else:  # worse = higher
        worse = n - np.searchsorted(ordered, values.to_numpy(), side="right")
    return pd.Series([1 + 5 * int(w) // n for w in worse], index=values.index)


def _score(customers: pd.DataFrame, column: str, best_high: bool) -> pd.Series:
    return rfm_score(customers[column], best_high)


def segment(r: int, f: int, m: int) -> str:
    for name, (r_lo, r_hi), (f_lo, f_hi), m_lo in SEGMENT_RULES:
        if r_lo <= r <= r_hi and f_lo <= f <= f_hi and (m_lo is None or m >= m_lo):
            return name
    return "Lost"


def dim_user_segments(carts: pd.DataFrame) -> pd.DataFrame:
    """RFM over all history, one row per customer, from fct_carts() rows."""
    customers = carts.groupby("user_id").agg(
        first_order_date=("cart_date", "min"),
        last_order_date=("cart_date", "max"),
        frequency=("cart_id", "count"),
        monetary_cents=("value_cents", "sum"),
    ).reset_index()
    as_of = carts["cart_date"].max() + pd.Timedelta(days=1)
    customers["as_of_date"] = as_of
    customers["recency_days"] = (as_of - customers["last_order_date"]).dt.days
    customers["monetary"] = customers["monetary_cents"] / 100
    customers["recency_score"] = _score(customers, "recency_days", best_high=False)
    customers["frequency_score"] = _score(customers, "frequency", best_high=True)
    customers["monetary_score"] = _score(customers, "monetary_cents", best_high=True)
    scores = customers[["recency_score", "frequency_score", "monetary_score"]].astype(str)
    customers["rfm_score"] = scores.agg("".join, axis=1)
    customers["user_segment"] = [segment(r, f, m) for r, f, m in zip(
        customers.recency_score, customers.frequency_score, customers.monetary_score)]
    customers["segment_tier"] = customers["user_segment"].map(SEGMENT_TIERS)
    return customers


def fct_customer_churn(carts: pd.DataFrame, medium_days: int, high_days: int) -> pd.DataFrame:
    """One row per customer, from fct_carts() rows: days since the last order (from the day
    after the last sale), the mean gap between consecutive order days, and the risk: High
    after more than high_days of silence, Medium after more than medium_days or when silent
    for more than twice the mean gap (no rhythm with one order day), else Low."""
    as_of = carts["cart_date"].max() + pd.Timedelta(days=1)
    rows = []
    for user_id, dates in carts.groupby("user_id")["cart_date"]:
        days = sorted(set(dates))
        mean_gap = Fraction((days[-1] - days[0]).days, len(days) - 1) if len(days) > 1 else None
        silent = (as_of - days[-1]).days
        if silent > high_days:
            risk = "High"
        elif silent > medium_days or (mean_gap is not None and silent > 2 * mean_gap):
            risk = "Medium"
        else:
            risk = "Low"
        rows.append({
            "user_id": user_id, "as_of_date": as_of, "last_order_date": days[-1],
            "days_since_last_order": silent, "orders": len(dates),
            "avg_days_between_orders": None if mean_gap is None else rounded(mean_gap.numerator, mean_gap.denominator, 2),
            "churn_risk": risk, "recommended_action": CHURN_ACTIONS[risk],
        })
    return pd.DataFrame(rows)


def fct_daily_engagement(events: pd.DataFrame, gap: pd.Timedelta = SESSION_GAP) -> pd.DataFrame:
    """One row per day with events: users active that day, in the 7 and in the 30 days ending
    with it; the day's sessions, events per session and mean session seconds."""
    active = events[["user_id", "event_date"]].drop_duplicates()
    sessions = events.assign(session=sessionise(events, gap)).groupby(["event_date", "session"])["event_time"].agg(
        ["size", "min", "max"])
    sessions["ms"] = (sessions["max"] - sessions["min"]) // pd.Timedelta(milliseconds=1)
    days = sessions.groupby("event_date").agg(sessions=("size", "size"), events=("size", "sum"), ms=("ms", "sum"))
    rows = []
    for day, totals in days.iterrows():
        def users_in(n_days: int) -> int:
            inside = (active["event_date"] > day - pd.Timedelta(days=n_days)) & (active["event_date"] <= day)
            return active.loc[inside, "user_id"].nunique()

        rows.append({
            "activity_date": day, "dau": users_in(1), "wau": users_in(7), "mau": users_in(30),
            "sessions": totals["sessions"],
            "events_per_session": rounded(int(totals["events"]), int(totals["sessions"]), 2),
            "avg_session_seconds": rounded(int(totals["ms"]), int(totals["sessions"]), 2, scale=1000),
        })
    return pd.DataFrame(rows)


def sessionise(events: pd.DataFrame, gap: pd.Timedelta = SESSION_GAP) -> pd.Series:
    """A session number per event: a user's events of a day, split where `gap` (30 minutes)
    or more passes between two consecutive events (30 minutes of inactivity end a session)."""
    ordered = events.sort_values(["user_id", "event_date", "event_time", "event_id"])
    delay = ordered.groupby(["user_id", "event_date"])["event_time"].diff()
    starts = delay.isna() | (delay >= gap)
    return starts.cumsum().reindex(events.index)


def event_step(events: pd.DataFrame) -> np.ndarray:
    """The funnel step an event reaches: 3 purchase, 2 add to cart, 1 product-page view, else 0."""
    kind = events["event_type"]
    return np.select(
        [kind == "purchase", kind == "add_to_cart", (kind == "page_view") & events["product_id"].notna()],
        [3, 2, 1], default=0,
    )


def fct_funnel_daily(events: pd.DataFrame, gap: pd.Timedelta = SESSION_GAP) -> pd.DataFrame:
    """Sessions per day by the furthest step they reached, with step conversion rates."""
    steps = events.assign(session=sessionise(events, gap), step=event_step(events))
    furthest = steps.groupby(["event_date", "session"])["step"].max().reset_index()
    days = furthest.groupby("event_date")["step"].agg(
        sessions="size",
        sessions_viewed=lambda s: int((s >= 1).sum()),
        sessions_added=lambda s: int((s >= 2).sum()),
        sessions_purchased=lambda s: int((s >= 3).sum()),
    ).reset_index().rename(columns={"event_date": "funnel_date"})
    for rate, num, den in (("view_rate", "sessions_viewed", "sessions"),
                           ("add_rate", "sessions_added", "sessions_viewed"),
                           ("purchase_rate", "sessions_purchased", "sessions_added"),
                           ("overall_conversion", "sessions_purchased", "sessions")):
        days[rate] = [rounded(n, d, 4) for n, d in zip(days[num], days[den])]
    return days


def fct_market_basket(carts: pd.DataFrame, min_support: float) -> pd.DataFrame:
    """Product pairs (a < b) bought in the same cart, with support >= min_support."""
    baskets = cart_lines(carts)[["cart_id", "product_id"]].drop_duplicates()
    total = baskets["cart_id"].nunique()
    carts_with = baskets.groupby("product_id")["cart_id"].count()
    pairs = baskets.merge(baskets, on="cart_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["product_id_a"] < pairs["product_id_b"]]
    out = pairs.groupby(["product_id_a", "product_id_b"]).size().rename("carts_with_both").reset_index()
    out = out.rename(columns={"product_id_a": "product_a", "product_id_b": "product_b"})
    out["carts_with_a"] = out["product_a"].map(carts_with)
    out["carts_with_b"] = out["product_b"].map(carts_with)
    out["total_carts"] = total
    out["support"] = out["carts_with_both"] / total
    out["confidence_a_to_b"] = out["carts_with_both"] / out["carts_with_a"]
    out["confidence_b_to_a"] = out["carts_with_both"] / out["carts_with_b"]
    out["lift"] = out["support"] / ((out["carts_with_a"] / total) * (out["carts_with_b"] / total))
    return out[out["support"] >= min_support].reset_index(drop=True)
