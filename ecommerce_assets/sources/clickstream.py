"""One UTC day of the synthetic shop's clickstream, built column by column.

Sessions are drawn first (user, device, start, category of interest, page views). Page
views, cart events and checkouts hang off them as offsets inside the session, so no gap
inside a session reaches 30 minutes and every purchase line is a cart line that was added
and not removed; a user's sessions are more than 30 minutes apart, so the collector's
sessions are the ones a 30-minute sessionisation finds. Dirt is appended as extra rows.
DuckDB's `to_json` renders the lines from an Arrow table; a day is built in chunks of half
a million events, the next chunk generated while the last one is written, so memory stays
flat at any scale. Never a Python loop per event.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ecommerce_assets.contracts import DEVICES, EVENT_TYPES, PRODUCT_PAGE_PREFIX
from ecommerce_assets.sources import landing

if TYPE_CHECKING:
    from ecommerce_assets.sources.synthetic import DirtRates

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# The collector opens a new session after 30 minutes of silence (a gap of 30:00 or more, as
# int_sessions splits them), so gaps inside a session stay below that.
MAX_GAP_MS = 29 * 60_000 + 30_000
# A user's sessions are further apart than the silence that ends a session (30 minutes: a
# second more, so no natural gap sits on the boundary that int_sessions' tests probe).
SESSION_GAP_MS = 30 * 60_000 + 1_000
CHUNK_EVENTS = 500_000
MAX_VIEWS = 400
GZIP_LEVEL = 1  # collector-style gzip: fast, about 5x smaller than the text

# Session starts per UTC hour: quiet at night, peak in the evening.
HOURLY = np.array([2.2, 1.4, 0.9, 0.7, 0.7, 1.0, 1.8, 2.8, 3.6, 4.1, 4.4, 4.6,
                   5.0, 4.9, 4.7, 4.7, 5.0, 5.5, 6.2, 6.9, 7.2, 6.6, 5.0, 3.4])
HOURLY_P = HOURLY / HOURLY.sum()
# Volume by weekday, Monday first; weekends are busier, the mean is 1.
WEEKDAY = (0.94, 0.92, 0.93, 0.96, 1.01, 1.13, 1.11)

DEVICE_MIX = (0.37, 0.55, 0.08)  # desktop, mobile, tablet: the order of contracts.DEVICES
P_PREFERRED_DEVICE = 0.8
P_PRODUCT_PAGE = 0.6
P_FOCUS = 0.7  # a product or category page from the session's category of interest
OTHER_PAGE_P = (0.30, 0.30, 0.25, 0.10, 0.05)  # home, category, search, cart, checkout
P_ADD = 0.06
QUANTITY_P = (0.80, 0.13, 0.04, 0.02, 0.01)  # quantities 1..5
P_REMOVE = 1 / 3
P_BUY = 0.45  # of sessions with a non-empty cart: purchase lines ~ 0.3 x adds
# Clean events per page view with the knobs above (measured); sizes a chunk's sessions.
EVENTS_PER_VIEW = 1.068

SEARCH_TERMS = ("backpack", "jacket", "rain+jacket", "t-shirt", "hoodie", "dress", "ring",
                "gold", "silver", "bracelet", "earrings", "ssd", "hard+drive", "monitor",
                "usb", "gaming", "headphones", "cotton", "winter+coat", "gift")

_OTHER_PAGE_CDF = np.cumsum(OTHER_PAGE_P) / sum(OTHER_PAGE_P)
_SEARCH_CDF = np.cumsum(1 / np.arange(1, len(SEARCH_TERMS) + 1) ** 1.2)
_SEARCH_CDF /= _SEARCH_CDF[-1]

TYPE_NAMES = (*EVENT_TYPES, "click")  # the last one only on invalid rows
DEVICE_NAMES = (*DEVICES, "smart_tv")
PAGE_VIEW, ADD, REMOVE, PURCHASE, UNKNOWN_TYPE = range(5)
UNKNOWN_DEVICE = 3
FIELDS = ("event_id", "event_time", "event_type", "user_id", "session_id", "product_id",
          "price", "quantity", "cart_id", "page", "device")
F = {name: code for code, name in enumerate(FIELDS)}
# Random stream tags (synthetic.py holds the others): a day's chunks, a day's volume.
_EVENTS, _VOLUME = 5, 8
DIRT_KINDS = ("duplicate", "null_field", "malformed", "late", "invalid_value")

_HEX = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), np.uint16)

_RENDER_SQL = """
SELECT CASE WHEN cut IS NULL THEN j ELSE left(j, CAST(floor(length(j) * cut) AS BIGINT)) END
       || chr(10) AS line
FROM (SELECT cut, CAST(to_json({%s}) AS VARCHAR) AS j FROM chunk)
""" % ", ".join(f"{name}: {name}" for name in FIELDS)


@dataclass(frozen=True)
class ShopDay:
    """What the clickstream needs to know of the catalogue and the users on one day."""

    product_ids: np.ndarray  # int32, products that events may show
    prices: np.ndarray  # float64, valid that day
    product_weights: np.ndarray  # popularity
    product_categories: np.ndarray  # index into category_slugs
    category_slugs: tuple[str, ...]
    user_ids: np.ndarray  # int32
    user_weights: np.ndarray  # activity
    user_devices: np.ndarray  # preferred device, index into DEVICES


@dataclass(frozen=True)
class DayEvents:
    files: list[str]
    lines: int
    clean_events: int
    injected: dict[str, int]
    # One row per clean purchase line: cart_id, user_id, time_ms, product_id, quantity.
    purchases: dict[str, np.ndarray]


def day_volume(events_per_day: int, day: date, seed: int) -> int:
    """Clean events of a day: the weekly rhythm and a little day-to-day noise."""
    noise = np.random.default_rng([seed, _VOLUME, day.toordinal()]).normal(0, 0.02)
    return max(0, round(events_per_day * WEEKDAY[day.weekday()] * (1 + float(np.clip(noise, -0.05, 0.05)))))


def file_names(files_per_day: int, gzip: bool) -> list[str]:
    count = files_per_day or 24
    width = max(2, len(str(count - 1)))
    suffix = ".jsonl.gz" if gzip else ".jsonl"
    return [f"part-{k:0{width}d}{suffix}" for k in range(count)]


def write_day(landing_dir: Path, day: date, shop: ShopDay, n_events: int, dirt: DirtRates,
              seed: int, gzip: bool = False, files_per_day: int = 0) -> DayEvents:
    """Write one day's event files (replacing the day's old ones) and return what was written.

    Files are written under hidden names and renamed at the end, so a sensor never sees a
    half-written day, and a failure leaves the day's old files as they were. While DuckDB
    renders and writes a chunk, the next one is generated."""
    folder = landing.event_day_dir(landing_dir, day)
    folder.mkdir(parents=True, exist_ok=True)
    names = file_names(files_per_day, gzip)
    out = _Output([folder / f".{name}.tmp" for name in names], gzip)
    try:
        written = _write_chunks(out, shop, n_events, dirt, seed, day, len(names))
    except BaseException:
        out.discard()
        raise
    stale = [old for old in landing.event_files(landing_dir, day) if old.name not in names]
    for tmp, name in zip(out.paths, names):
        os.replace(tmp, folder / name)
    for old in stale:
        old.unlink()
    return DayEvents(names, *written)


def _write_chunks(out: _Output, shop: ShopDay, n_events: int, dirt: DirtRates, seed: int, day: date,
                  n_files: int) -> tuple[int, int, dict[str, int], dict[str, np.ndarray]]:
    """Generate the day chunk by chunk into `out`: (lines, clean events, injected dirt, purchases)."""
    pages = _Pages(shop)
    n_chunks = -(-n_events // CHUNK_EVENTS)
    totals = dict.fromkeys(DIRT_KINDS, 0)
    lines = clean = carts = 0
    purchases: list[dict[str, np.ndarray]] = []
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        for chunk in range(n_chunks):
            rng = np.random.default_rng([seed, _EVENTS, day.toordinal(), chunk])
            size = n_events // n_chunks + (chunk < n_events % n_chunks)
            rows, session_ids, bought = _clean_rows(rng, shop, pages, size, day.toordinal() * 10_000_000 + carts,
                                                    _Users(len(shop.user_ids), chunk, n_chunks))
            carts += len(np.unique(bought["cart_id"]))
            purchases.append(bought)
            clean += size_of(rows)
            rows, injected = _with_dirt(rng, rows, dirt)
            lines += size_of(rows)
            totals = {kind: totals[kind] + injected[kind] for kind in DIRT_KINDS}
            file_of = _deliver(rows, n_files)
            table = _arrow(rows, session_ids, pages.names, day)
            if pending:
                pending.result()  # keeps chunks in order and at most two in memory
            pending = writer.submit(out.write, table, np.bincount(file_of, minlength=n_files))
        if pending:
            pending.result()
    out.close()
    bought = {key: np.concatenate([p[key] for p in purchases]) if purchases else np.empty(0, np.int64)
              for key in ("cart_id", "user_id", "time_ms", "product_id", "quantity")}
    return lines, clean, totals, bought


def size_of(rows: dict[str, np.ndarray]) -> int:
    return len(rows["t"])


# --- clean events ---------------------------------------------------------------------


class _Pages:
    """The page dictionary of a day: fixed pages, then one page per product."""

    def __init__(self, shop: ShopDay):
        n_cat = len(shop.category_slugs)
        fixed = ["/", "/cart", "/checkout"]
        fixed += [f"/category/{slug}" for slug in shop.category_slugs]
        fixed += [f"/search?q={term}" for term in SEARCH_TERMS]
        self.home, self.cart, self.checkout, self.category = 0, 1, 2, 3
        self.search = 3 + n_cat
        self.product = len(fixed)
        self.names = pa.array(fixed + [f"{PRODUCT_PAGE_PREFIX}{pid}" for pid in shop.product_ids.tolist()])
        self.cdf = _cdf(shop.product_weights)
        # Per category: its products and their popularity, to browse inside a category.
        self.by_category = [np.flatnonzero(shop.product_categories == c) for c in range(n_cat)]
        self.category_cdf = [_cdf(shop.product_weights[idx]) for idx in self.by_category]
        weights = np.array([shop.product_weights[idx].sum() for idx in self.by_category])
        self.category_p = weights / weights.sum()
        self.user_cdf = _cdf(shop.user_weights)


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights, dtype=np.float64)
    return cdf / cdf[-1] if len(cdf) and cdf[-1] > 0 else cdf


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def _session_lengths(rng: np.random.Generator, n_views: int) -> np.ndarray:
    """Heavy-tailed page views per session (rounded lognormal, median 2), adding up to n_views."""
    if n_views <= 0:
        return np.empty(0, np.int64)
    lengths = np.empty(0, np.int64)
    while lengths.sum() < n_views:
        more = np.clip(np.rint(rng.lognormal(np.log(2.3), 1.1, n_views // 4 + 16)), 1, MAX_VIEWS)
        lengths = np.concatenate([lengths, more.astype(np.int64)])
    total = np.cumsum(lengths)
    n = int(np.searchsorted(total, n_views)) + 1
    lengths = lengths[:n]
    lengths[-1] -= total[n - 1] - n_views
    return lengths


@dataclass(frozen=True)
class _Users:
    """The users a chunk of a day gives sessions to: every `of`-th, from the `chunk`-th (the
    chunks of a day are drawn apart, so each keeps to its own users and their sessions cannot
    meet); all of them when there are fewer users than chunks."""

    count: int
    chunk: int = 0
    of: int = 1

    def own(self, index: np.ndarray) -> np.ndarray:
        if self.count < self.of:
            return index
        mine = index - index % self.of + self.chunk
        return np.where(mine < self.count, mine, mine - self.of)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.own(rng.integers(0, self.count, n))


def _clean_rows(rng: np.random.Generator, shop: ShopDay, pages: _Pages, n_events: int, cart_base: int,
                users: _Users | None = None):
    """The clean events of about n_events, their session ids, and the purchase lines."""
    users = users or _Users(len(shop.user_ids))
    lengths = _session_lengths(rng, round(n_events / EVENTS_PER_VIEW))
    n_sessions, n_views = len(lengths), int(lengths.sum())
    who = users.own(_pick(pages.user_cdf, rng.random(n_sessions)))
    start = rng.choice(24, n_sessions, p=HOURLY_P) * HOUR_MS + rng.integers(0, HOUR_MS, n_sessions)
    focus = rng.choice(len(shop.category_slugs), n_sessions, p=pages.category_p)

    first = np.cumsum(lengths) - lengths
    last = first + lengths - 1
    sess = np.repeat(np.arange(n_sessions, dtype=np.int32), lengths)
    gaps = np.clip(rng.lognormal(np.log(25_000), 1.2, n_views), 500, MAX_GAP_MS).astype(np.int64)
    gaps[first] = 0
    offset = np.cumsum(gaps)
    offset -= offset[first][sess]
    tail = rng.integers(5_000, 90_000, n_sessions)  # after the last view: room for late cart moves
    core_end = offset[last] + tail
    next_gap = np.empty(n_views, np.int64)
    next_gap[:-1] = gaps[1:]
    next_gap[last] = tail

    product = _browse(rng, pages, sess, focus)  # product index, -1 off product pages
    page = _other_pages(rng, pages, sess, focus, product)

    # Cart moves: an add right after its product page, at most one per product and session.
    add = np.flatnonzero((product >= 0) & (rng.random(n_views) < P_ADD))
    _, first_add = np.unique(sess[add].astype(np.int64) * len(shop.product_ids) + product[add], return_index=True)
    add = add[np.sort(first_add)]
    add_sess, add_product = sess[add], product[add]
    add_off = offset[add] + (next_gap[add] * rng.uniform(0.1, 0.9, len(add))).astype(np.int64)
    quantity = rng.choice(np.arange(1, 6, dtype=np.int16), len(add), p=QUANTITY_P)
    removed = rng.random(len(add)) < P_REMOVE
    room = core_end[add_sess] - add_off
    remove_off = add_off + np.maximum(1, (room * rng.uniform(0.05, 1.0, len(add))).astype(np.int64))

    has_cart = np.zeros(n_sessions, bool)
    has_cart[add_sess[~removed]] = True
    buys = has_cart & (rng.random(n_sessions) < P_BUY)
    cart_of = np.zeros(n_sessions, np.int64)
    cart_of[buys] = cart_base + np.arange(1, int(buys.sum()) + 1)
    checkout_off = core_end + rng.integers(10_000, 180_000, n_sessions)
    purchase_off = checkout_off + rng.integers(5_000, 120_000, n_sessions)
    bought = ~removed & buys[add_sess]
    buyers = np.flatnonzero(buys).astype(np.int32)

    # A session that would run past midnight starts earlier, somewhere in the last hour that
    # lets it end in the day: moved to the latest start possible, such sessions all ended at
    # 23:59:59.999, a pile of checkouts in the day's last millisecond. A session longer than
    # a day, which the gap and length caps make all but impossible, is squeezed.
    end = np.where(buys, purchase_off, core_end)
    scale = np.minimum(1.0, (DAY_MS - 1) / np.maximum(end, 1))
    latest = np.maximum(0, DAY_MS - 1 - (end * scale).astype(np.int64))
    late = start > latest
    start[late] = np.maximum(0, latest[late] - rng.integers(0, HOUR_MS, int(late.sum())))
    who, start = _apart(rng, who, start, DAY_MS - 1 - latest, users)
    user, device = shop.user_ids[who], _devices(rng, shop.user_devices[who])

    def at(s: np.ndarray, off: np.ndarray) -> np.ndarray:
        return start[s] + (off * scale[s]).astype(np.int64)

    ids, prices = shop.product_ids, shop.prices
    groups = [
        _rows(sess, at(sess, offset), PAGE_VIEW, np.where(product >= 0, ids[np.maximum(product, 0)], 0),
              np.nan, -1, 0, page),
        _rows(buyers, at(buyers, checkout_off[buyers]), PAGE_VIEW, 0, np.nan, -1, 0, pages.checkout),
        _rows(add_sess, at(add_sess, add_off), ADD, ids[add_product], prices[add_product], quantity, 0,
              pages.product + add_product),
        _rows(add_sess[removed], at(add_sess[removed], remove_off[removed]), REMOVE, ids[add_product[removed]],
              prices[add_product[removed]], quantity[removed], 0, pages.cart),
        _rows(add_sess[bought], at(add_sess[bought], purchase_off[add_sess[bought]]), PURCHASE,
              ids[add_product[bought]], prices[add_product[bought]], quantity[bought],
              cart_of[add_sess[bought]], pages.checkout),
    ]
    rows = _concat(groups)
    rows["user"] = user[rows["sess"]]
    rows["device"] = device[rows["sess"]]
    rows["id"] = _random_ids(rng, size_of(rows))
    p = groups[-1]
    purchases = {"cart_id": p["cart"], "user_id": user[p["sess"]], "time_ms": p["t"],
                 "product_id": p["product"], "quantity": p["quantity"]}
    return rows, _hex(_random_ids(rng, n_sessions)), purchases


def _apart(rng: np.random.Generator, who: np.ndarray, start: np.ndarray, length: np.ndarray, users: _Users,
           rounds: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Sessions moved so that each user's are further apart than the 30 minutes of silence
    that end a session (so a 30-minute sessionisation finds the collector's sessions, not
    several merged into one): each starts no earlier than its user's previous one ended plus
    `SESSION_GAP_MS`. One that no longer fits in its user's day goes, at its own start, to
    another of the chunk's users chosen at random, for a few rounds; the few left (only when
    the users are too few for the volume: about one per 40 sessions a day) keep their start."""
    who, start = who.copy(), start.copy()
    for _ in range(rounds):
        order = np.lexsort((start, who))
        owner, starts, step = who[order], start[order], length[order] + SESSION_GAP_MS
        before = np.cumsum(step) - step
        group_first = np.maximum.accumulate(np.where(np.r_[True, owner[1:] != owner[:-1]], np.arange(len(owner)), 0))
        before -= before[group_first]
        # start_i = max(own start, previous start + its length + gap): a running maximum per user
        moved = before + pd.Series(starts - before).groupby(owner).cummax().to_numpy()
        fits = moved + length[order] <= DAY_MS - 1
        start[order[fits]] = moved[fits]
        spilled = order[~fits]
        if not len(spilled):
            break
        who[spilled] = users.draw(rng, len(spilled))
    return who, start


def _devices(rng: np.random.Generator, usual: np.ndarray) -> np.ndarray:
    """Mostly the user's usual device, sometimes another one."""
    other = rng.choice(len(DEVICES), len(usual), p=DEVICE_MIX)
    return np.where(rng.random(len(usual)) < P_PREFERRED_DEVICE, usual, other).astype(np.int8)


def _browse(rng: np.random.Generator, pages: _Pages, sess: np.ndarray, focus: np.ndarray) -> np.ndarray:
    """The product index of each product page view (-1 for other pages): popular products
    more often, and mostly inside the session's category of interest."""
    product = np.full(len(sess), -1, np.int64)
    views = np.flatnonzero(rng.random(len(sess)) < P_PRODUCT_PAGE)
    u = rng.random(len(views))
    product[views] = _pick(pages.cdf, u)
    focused = rng.random(len(views)) < P_FOCUS
    view_focus = focus[sess[views]]
    for c, members in enumerate(pages.by_category):  # a loop over categories, not events
        sel = focused & (view_focus == c)
        if len(members):
            product[views[sel]] = members[_pick(pages.category_cdf[c], u[sel])]
    return product


def _other_pages(rng: np.random.Generator, pages: _Pages, sess: np.ndarray, focus: np.ndarray,
                 product: np.ndarray) -> np.ndarray:
    """Page index of every view: the product's page, or home/category/search/cart/checkout."""
    n = len(sess)
    kind = _pick(_OTHER_PAGE_CDF, rng.random(n))
    n_cat = len(pages.category_p)
    category = np.where(rng.random(n) < P_FOCUS, focus[sess], rng.integers(0, n_cat, n))
    term = _pick(_SEARCH_CDF, rng.random(n))
    other = np.choose(kind, [np.full(n, pages.home), pages.category + category, pages.search + term,
                             np.full(n, pages.cart), np.full(n, pages.checkout)])
    return np.where(product >= 0, pages.product + product, other).astype(np.int32)


def _rows(sess, t, etype, product, price, quantity, cart, page) -> dict[str, np.ndarray]:
    n = len(sess)

    def col(value, dtype):
        return np.broadcast_to(np.asarray(value, dtype), (n,)).copy() if np.ndim(value) == 0 \
            else np.asarray(value, dtype)

    return {"sess": col(sess, np.int32), "t": col(t, np.int64), "etype": col(etype, np.int8),
            "product": col(product, np.int32), "price": col(price, np.float64),
            "quantity": col(quantity, np.int16), "cart": col(cart, np.int64), "page": col(page, np.int32)}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = [k for k in parts[0] if all(k in p for p in parts)]
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _take(rows: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in rows.items()}


def _random_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.frombuffer(rng.bytes(16 * n), np.uint8).reshape(n, 16)


def _hex(ids: np.ndarray) -> pa.Array:
    return _fixed_width_strings(_HEX[ids].view(np.uint8).reshape(len(ids), 32), None)


# --- dirt -----------------------------------------------------------------------------


def _with_dirt(rng: np.random.Generator, rows: dict[str, np.ndarray], dirt: DirtRates):
    """The clean rows followed by extra rows for each kind of dirt, at the configured rates
    of the clean events, and the count of each kind.
    Every dirty row but a duplicate gets a fresh event id, so duplicates are exactly the
    repeated ids."""
    n = size_of(rows)
    rows = {**rows, "null": np.full(n, -1, np.int8), "cut": np.full(n, np.nan, np.float32), "deliver": rows["t"]}
    counts = {kind: int(getattr(dirt, kind) * n + 0.5) if n else 0 for kind in DIRT_KINDS}
    cart_rows = np.flatnonzero(rows["etype"] != PAGE_VIEW)
    not_purchase = np.flatnonzero(rows["etype"] != PURCHASE)
    parts = [rows]

    def sample(pool: np.ndarray | None, k: int) -> dict[str, np.ndarray]:
        idx = rng.integers(0, n, k) if pool is None else pool[rng.integers(0, len(pool), k)]
        part = _take(rows, idx)
        part["deliver"] = np.minimum(part["t"] + rng.integers(0, 10_000, k), DAY_MS - 1)
        part["id"] = _random_ids(rng, k)
        return part

    if k := counts["duplicate"]:
        dup = _take(rows, rng.integers(0, n, k))
        delay = 1 + rng.exponential(20 * 60_000, k).astype(np.int64)  # redelivered later
        dup["deliver"] = np.minimum(dup["t"] + delay, DAY_MS - 1)
        parts.append(dup)
    if k := counts["null_field"]:
        part = sample(None, k)
        part["null"] = _required_field(rng, part)
        parts.append(part)
    if k := counts["malformed"]:
        part = sample(None, k)
        part["cut"] = rng.uniform(0.15, 0.9, k).astype(np.float32)
        parts.append(part)
    if k := counts["late"]:
        part = sample(not_purchase, k)
        part["t"] = -rng.integers(1_000, 3 * HOUR_MS, k)  # the evening before
        part["deliver"] = rng.integers(0, 2 * HOUR_MS, k)
        parts.append(part)
    if k := counts["invalid_value"]:
        parts.append(_invalid(rng, sample, cart_rows, k))
    return _concat(parts), counts


def _required_field(rng: np.random.Generator, part: dict[str, np.ndarray]) -> np.ndarray:
    """One field per row that the contract requires there, to set to null."""
    k = len(part["t"])
    required = np.ones((k, len(FIELDS)), bool)
    cart_event = part["etype"] != PAGE_VIEW
    required[:, F["product_id"]] = part["product"] != 0  # cart events and product pages
    required[:, F["price"]] = cart_event
    required[:, F["quantity"]] = cart_event
    required[:, F["cart_id"]] = part["etype"] == PURCHASE
    return np.argmax(rng.random((k, len(FIELDS))) * required, axis=1).astype(np.int8)


def _invalid(rng: np.random.Generator, sample, cart_rows: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Negative price or quantity 0 on cart events; an unknown event type or device anywhere."""
    kind = rng.integers(0 if len(cart_rows) else 2, 4, k)
    on_cart = kind < 2
    part = _concat([sample(cart_rows, int(on_cart.sum())), sample(None, int((~on_cart).sum()))])
    kind = np.sort(kind)  # rows are ordered like the two samples: cart kinds first
    part["price"] = np.where(kind == 0, -np.maximum(np.abs(part["price"]), 0.01), part["price"])
    part["quantity"] = np.where(kind == 1, 0, part["quantity"]).astype(np.int16)
    part["etype"] = np.where(kind == 2, UNKNOWN_TYPE, part["etype"]).astype(np.int8)
    part["device"] = np.where(kind == 3, UNKNOWN_DEVICE, part["device"]).astype(np.int8)
    return part


def _deliver(rows: dict[str, np.ndarray], n_files: int) -> np.ndarray:
    """Order rows by delivery time in place, clean rows before dirty ones on ties (so a
    duplicate comes after its original); return each row's file, a slice of the day.
    The row number makes every sort key unique: the order cannot depend on the sort used."""
    n = size_of(rows)
    assert n < 1 << 22, "a chunk is too large for the sort key"
    order = np.argsort((rows["deliver"] << 22) | np.arange(n))
    for key, value in rows.items():
        rows[key] = value[order]
    return rows["deliver"] * n_files // DAY_MS


# --- rendering ------------------------------------------------------------------------


def iso_times(day: date, t_ms: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` as an (n, 24) byte array, ms counted from the day's start."""
    day_off, ms = np.divmod(np.asarray(t_ms, np.int64), DAY_MS)
    out = np.empty((len(ms), 24), np.uint8)
    offsets = np.unique(day_off)
    prefixes = np.array([list(f"{(day + timedelta(days=int(o))).isoformat()}T".encode()) for o in offsets],
                        np.uint8).reshape(len(offsets), 11)
    out[:, :11] = prefixes[np.searchsorted(offsets, day_off)]
    h, rest = np.divmod(ms, HOUR_MS)
    m, rest = np.divmod(rest, 60_000)
    s, f = np.divmod(rest, 1000)
    for col, value, width in ((11, h, 2), (14, m, 2), (17, s, 2), (20, f, 3)):
        for i in range(width):  # digit by digit, a loop over columns
            out[:, col + i] = 48 + value // 10 ** (width - 1 - i) % 10
    out[:, [13, 16]] = ord(":")
    out[:, 19] = ord(".")
    out[:, 23] = ord("Z")
    return out


def iso_time_strings(day: date, t_ms: np.ndarray) -> pa.Array:
    return _fixed_width_strings(iso_times(day, t_ms), None)


def _fixed_width_strings(chars: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    n, width = chars.shape
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    bitmap = None if valid is None or valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(np.ascontiguousarray(chars)), bitmap)


def _arrow(rows: dict[str, np.ndarray], session_ids: pa.Array, page_names: pa.Array, day: date) -> pa.Table:
    null = rows["null"]

    def valid(field: str) -> np.ndarray:
        return null != F[field]

    def value(array: np.ndarray, field: str, absent: np.ndarray | None = None) -> pa.Array:
        mask = ~valid(field) if absent is None else (~valid(field) | absent)
        return pa.array(array, mask=mask)

    def dictionary(indices: np.ndarray, names, field: str) -> pa.Array:
        names = names if isinstance(names, pa.Array) else pa.array(list(names))
        return pa.DictionaryArray.from_arrays(value(indices, field), names)

    return pa.table({
        "event_id": _fixed_width_strings(_HEX[rows["id"]].view(np.uint8).reshape(-1, 32), valid("event_id")),
        "event_time": _fixed_width_strings(iso_times(day, rows["t"]), valid("event_time")),
        "event_type": dictionary(rows["etype"], TYPE_NAMES, "event_type"),
        "user_id": value(rows["user"], "user_id"),
        "session_id": dictionary(rows["sess"], session_ids, "session_id"),
        "product_id": value(rows["product"], "product_id", rows["product"] == 0),
        "price": value(rows["price"], "price", np.isnan(rows["price"])),
        "quantity": value(rows["quantity"], "quantity", rows["quantity"] < 0),
        "cart_id": value(rows["cart"], "cart_id", rows["cart"] == 0),
        "page": dictionary(rows["page"], page_names, "page"),
        "device": dictionary(rows["device"], DEVICE_NAMES, "device"),
        "cut": pa.array(rows["cut"], mask=np.isnan(rows["cut"])),
    })


class _Output:
    """The day's files, appended to chunk by chunk; gzip streams stay open across chunks."""

    def __init__(self, paths: list[Path], gzip: bool):
        self.paths = paths
        self.gzip = [zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) for _ in paths] if gzip else None
        self.con = duckdb.connect()
        for path in paths:
            path.write_bytes(b"")

    def write(self, table: pa.Table, per_file: np.ndarray) -> None:
        """Render the rows of a chunk, sorted by file, and append each file's lines."""
        lines = self.con.from_arrow(table).query("chunk", _RENDER_SQL).to_arrow_table().column("line")
        bounds = np.concatenate([[0], np.cumsum(per_file)])
        for k in np.flatnonzero(per_file):
            data = b"".join(_utf8_pieces(lines.slice(int(bounds[k]), int(per_file[k]))))
            self._append(k, self.gzip[k].compress(data) if self.gzip else data)

    def close(self) -> None:
        for k in range(len(self.paths)) if self.gzip else ():
            self._append(k, self.gzip[k].flush())
        self.con.close()

    def discard(self) -> None:
        """Give up: the hidden files go, so a failed day leaves nothing behind."""
        self.con.close()
        for path in self.paths:
            path.unlink(missing_ok=True)

    def _append(self, k: int, data: bytes) -> None:
        with open(self.paths[k], "ab") as handle:
            handle.write(data)


def _utf8_pieces(lines: pa.ChunkedArray) -> list[pa.Buffer]:
    """The raw bytes of a slice of strings, without copying them one by one."""
    pieces = []
    for chunk in lines.chunks:
        if len(chunk) == 0:
            continue
        wide = pa.types.is_large_string(chunk.type)
        offsets = np.frombuffer(chunk.buffers()[1], np.int64 if wide else np.int32)
        begin, end = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
        pieces.append(chunk.buffers()[2][int(begin):int(end)])
    return pieces
