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
from datetime import datetime
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


def ntile(n: int, buckets: int = 5) -> np.ndarray:
    """NTILE over n ordered rows: the first n % buckets buckets hold one extra row."""
    size, extra = divmod(n, buckets)
    return np.repeat(np.arange(1, buckets + 1), [size + (i < extra) for i in range(buckets)])


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

def price_at(snapshot: pd.DataFrame, product_id: int, at: datetime) -> int | None:
    """The product's price (cents) valid at `at`: the version with valid_from <= at < valid_to;
    before the first version, the first version's; None for a product never snapshotted."""
    versions = snapshot[snapshot["id"] == product_id].sort_values("dbt_valid_from")
    if versions.empty:
        return None
    valid_to = versions["dbt_valid_to"].fillna(pd.Timestamp.max)
    current = versions[(versions["dbt_valid_from"] <= at) & (at < valid_to)]
    if current.empty and at < versions["dbt_valid_from"].iloc[0]:
        current = versions.head(1)
    return cents(current["price"].iloc[0]) if not current.empty else None


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


def fct_daily_sales(carts: pd.DataFrame) -> pd.DataFrame:
    """One row per day with a cart, from fct_carts() rows."""
    days = carts.groupby("cart_date").agg(
        total_carts=("cart_id", "count"),
        unique_customers=("user_id", "nunique"),
        total_items_sold=("total_items", "sum"),
        revenue_cents=("value_cents", "sum"),
    ).reset_index().rename(columns={"cart_date": "sales_date"})
    days["revenue"] = days["revenue_cents"] / 100
    days["avg_items_per_cart"] = [rounded(i, c, 2) for i, c in zip(days.total_items_sold, days.total_carts)]
    days["avg_carts_per_customer"] = [rounded(c, u, 2) for c, u in zip(days.total_carts, days.unique_customers)]
    days["avg_cart_value"] = [rounded(r, c, 2, scale=100) for r, c in zip(days.revenue_cents, days.total_carts)]
    return days


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


def _score(customers: pd.DataFrame, column: str, best_high: bool) -> pd.Series:
    """Quintile 1..5 of `column`, 5 best; ties broken by user_id ascending."""
    ordered = customers.sort_values([column, "user_id"], ascending=[best_high, True])
    return pd.Series(ntile(len(ordered)), index=ordered.index)


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


def sessionise(events: pd.DataFrame, gap: pd.Timedelta = SESSION_GAP) -> pd.Series:
    """A session number per event: a user's events of a day, split where more than
    `gap` (30 minutes) passes between two consecutive events."""
    ordered = events.sort_values(["user_id", "event_date", "event_time", "event_id"])
    delay = ordered.groupby(["user_id", "event_date"])["event_time"].diff()
    starts = delay.isna() | (delay > gap)
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
