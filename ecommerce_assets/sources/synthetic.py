"""The embedded default source: a deterministic synthetic shop.

A Fake Store catalogue, users and carts, and the clickstream (see `clickstream`), written
in the landing layout. Same config and dates, same bytes: every random draw comes from a
numpy generator seeded by the config's seed, a stream tag and, where it varies, the day or
week, so a day never depends on which other days are generated with it.

Prices and addresses change a little every week (replayed from EPOCH), so snapshots have
history to capture. Records that break their contract are extra records: the clickstream
only refers to sound products and users, and clean purchase events reconcile with the
sound carts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ecommerce_assets.sources import clickstream, landing

EPOCH = date(2020, 1, 6)  # a Monday: week 0 of the price and address history
CATEGORIES = ("men's clothing", "jewelery", "electronics", "women's clothing")
CATEGORY_SLUGS = ("mens-clothing", "jewelery", "electronics", "womens-clothing")

# Random streams: one tag per kind of draw, so adding one never shifts another
# (clickstream.py uses 5 and 8).
_PRODUCTS, _PRICES, _USERS, _MOVES, _ADDRESSES, _CARTS = 1, 2, 3, 4, 6, 7


@dataclass(frozen=True)
class DirtRates:
    """Fractions of clean events (or of API records) that get each kind of dirt."""

    duplicate: float = 0.005  # the same event line delivered again (same event_id), same day folder
    null_field: float = 0.002  # a required field set to null
    malformed: float = 0.001  # a line that is not JSON (a clean line cut short)
    late: float = 0.002  # event_time in the previous day, in this day's folder
    invalid_value: float = 0.001  # negative price, quantity 0, unknown event_type or device
    api_record: float = 0.02  # products/users/carts records that break their contract


@dataclass(frozen=True)
class ShopConfig:
    seed: int = 42
    n_products: int = 200
    n_users: int = 2000
    events_per_day: int = 100_000
    dirt: DirtRates = DirtRates()
    gzip: bool = False
    files_per_day: int = 0  # 0 = one file per hour (part-HH.jsonl), else N shards by time of day


@dataclass(frozen=True)
class DayReport:
    day: date
    files: list[str]  # event file names inside the day folder
    lines: int
    clean_events: int
    purchases: int  # clean purchase events (cart lines)
    carts: int  # sound carts, one per checkout; the carts file also holds `dirty_carts`
    injected: dict[str, int]  # exact counts: duplicate, null_field, malformed, late, invalid_value
    dirty_carts: int = 0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "day": self.day.isoformat()}, indent=2) + "\n"


def generate_landing(landing_dir: Path, start: date, end: date,
                     config: ShopConfig = ShopConfig()) -> list[DayReport]:
    """Write [start, end] INCLUSIVE: event files per day, carts per day, and
    products.json/users.json as of `end`."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if config.seed < 0:
        raise ValueError("seed must be >= 0")
    landing_dir = Path(landing_dir)
    reports = [_generate_day(landing_dir, start + timedelta(days=i), config)
               for i in range((end - start).days + 1)]
    _write_json_array(landing.products_path(landing_dir), [_dumps(p) for p in products(config, end)])
    _write_json_array(landing.users_path(landing_dir), [_dumps(u) for u in users(config, end)])
    return reports


def _generate_day(landing_dir: Path, day: date, config: ShopConfig) -> DayReport:
    events = clickstream.write_day(
        landing_dir, day, _shop_day(config, day), clickstream.day_volume(config.events_per_day, day, config.seed),
        config.dirt, config.seed, gzip=config.gzip, files_per_day=config.files_per_day)
    carts = _cart_lines(day, events.purchases)
    dirty = _dirty_carts(config, day, len(carts))
    _write_json_array(landing.carts_path(landing_dir, day), carts + dirty)
    report = DayReport(day=day, files=events.files, lines=events.lines, clean_events=events.clean_events,
                       purchases=len(events.purchases["cart_id"]), carts=len(carts),
                       injected=events.injected, dirty_carts=len(dirty))
    _write_atomic(landing.event_day_dir(landing_dir, day) / "_generation.json", report.to_json().encode())
    return report


# --- catalogue ------------------------------------------------------------------------

_BRANDS = (("Nordvik", "Harbor Line", "Oakridge", "Ridgeway", "Pine & Co"),
           ("Aurelia", "Solenne", "Luma", "Nagini"),
           ("Voltix", "Datavault", "Silicon Peak", "Brightline", "Acme"),
           ("Lumi", "Vela", "Maren", "Solstice", "Rosa & Lee"))
_STYLES = (("Casual", "Premium", "Classic", "Lightweight", "Cotton", "Winter", "Slim Fit", "Travel"),
           ("Gold Plated", "Sterling Silver", "Rose Gold", "Titanium", "White Gold", "Stainless Steel"),
           ("1TB", "2TB", "4TB", "256GB", "27-inch", "Ultra", "Pro", "Wireless"),
           ("Casual", "Short Sleeve", "Floral", "Lightweight", "Waterproof", "Striped", "Knit", "Summer"))
_ITEMS = (("Backpack", "T-Shirt", "Jacket", "Shirt", "Hoodie", "Chinos", "Sweater", "Rain Parka"),
          ("Bracelet", "Ring", "Earrings", "Necklace", "Pendant", "Bangle"),
          ("Portable External Hard Drive", "SSD", "USB 3.0 Flash Drive", "Gaming Monitor", "Mouse",
           "Noise Cancelling Headphones", "Mechanical Keyboard"),
          ("Rain Jacket", "Boat Neck Top", "Moto Biker Jacket", "Maxi Dress", "Blouse", "Cardigan", "Tunic"))
_BLURBS = ("Perfect for everyday use.", "A gift they will remember.", "Backed by a two-year warranty.",
           "Made to last, season after season.", "Loved by thousands of customers.",
           "Free returns within 30 days.")
# Median price in dollars and spread, per category.
_PRICE_LEVEL = ((30, 0.6), (60, 1.0), (110, 0.8), (25, 0.6))
_CENT_ENDINGS = (99, 95, 50, 49, 30, 15)


@dataclass(frozen=True)
class _Catalogue:
    ids: np.ndarray  # 1..n_products + broken
    broken: np.ndarray  # kind of contract break per record, -1 for sound records
    category: np.ndarray
    titles: list[str]
    descriptions: list[str]
    dollars: np.ndarray  # initial whole-dollar part of the price
    cents: np.ndarray  # fixed ending; -1 for prices that are JSON integers
    rate: np.ndarray
    count: np.ndarray
    weight: np.ndarray  # popularity; 0 for broken records, which no event shows


@lru_cache(maxsize=8)
def _catalogue(seed: int, n_products: int, api_record: float) -> _Catalogue:
    rng = np.random.default_rng([seed, _PRODUCTS])
    n = n_products + int(api_record * n_products + 0.5)
    broken = _broken(rng, n, n - n_products, kinds=4)
    category = rng.permutation(np.arange(n) % len(CATEGORIES))
    median, spread = np.array(_PRICE_LEVEL, float)[category].T
    dollars = np.clip(np.rint(rng.lognormal(np.log(median), spread)), 3, 999).astype(np.int64)
    cents = np.where(rng.random(n) < 0.25, -1, rng.choice(_CENT_ENDINGS, n))
    trailing = rng.random(n) < 0.1  # Fake Store titles sometimes end with a space
    titles, descriptions = [], []
    for i in range(n):  # per catalogue record, not per event
        c = category[i]
        brand, style, item = (str(rng.choice(words[c])) for words in (_BRANDS, _STYLES, _ITEMS))
        titles.append(f"{brand} {style} {item}" + " " * int(trailing[i]))
        descriptions.append(f"{style} {item.lower()} by {brand}. {rng.choice(_BLURBS)}")
    rate = np.round(np.clip(5 - np.abs(rng.normal(0.6, 1.0, n)), 1, 5), 1)
    count = np.clip(rng.lognormal(np.log(140), 0.9, n), 0, 1000).astype(np.int64)
    weight = np.where(broken < 0, 1.0 / (1 + rng.permutation(n)) ** 0.9, 0.0)
    return _Catalogue(np.arange(1, n + 1), broken, category, titles, descriptions, dollars, cents, rate, count,
                      weight)


def _broken(rng: np.random.Generator, n: int, k: int, kinds: int) -> np.ndarray:
    """-1 for sound records; for k of them, the kind of contract break."""
    out = np.full(n, -1, np.int64)
    out[rng.choice(n, k, replace=False)] = rng.integers(0, kinds, k)
    return out


def _weekly_history(seed: int, stream: int, as_of: date, rate: float, state: dict, change) -> dict:
    """Replay the weekly changes from EPOCH to as_of: each week a `rate` fraction of records
    changes on a random weekday. Draws are made for every record, so a week's outcome does
    not depend on how much of it is replayed."""
    weeks, weekday = divmod((as_of - EPOCH).days, 7)
    n = len(next(iter(state.values())))
    for week in range(weeks + 1):
        rng = np.random.default_rng([seed, stream, week])
        changing = rng.random(n) < rate
        if week == weeks:
            changing &= rng.integers(0, 7, n) <= weekday
        else:
            rng.integers(0, 7, n)
        fresh = change(rng, state)
        state = {key: np.where(changing, fresh[key], value) for key, value in state.items()}
    return state


def _reprice(rng: np.random.Generator, state: dict) -> dict:
    old = state["dollars"]
    up = rng.random(len(old)) < 0.5
    factor = 1 + np.where(up, 1, -1) * rng.uniform(0.03, 0.2, len(old))
    new = np.maximum(1, np.rint(old * factor)).astype(np.int64)
    return {"dollars": np.where(new == old, np.maximum(1, old + np.where(up, 1, -1)), new)}


@lru_cache(maxsize=64)
def _dollars(seed: int, n_products: int, api_record: float, as_of: date) -> np.ndarray:
    cat = _catalogue(seed, n_products, api_record)
    return _weekly_history(seed, _PRICES, as_of, 0.03, {"dollars": cat.dollars}, _reprice)["dollars"]


def _prices(config: ShopConfig, as_of: date) -> tuple[_Catalogue, np.ndarray]:
    cat = _catalogue(config.seed, config.n_products, config.dirt.api_record)
    dollars = _dollars(config.seed, config.n_products, config.dirt.api_record, as_of)
    return cat, np.round(np.where(cat.cents < 0, dollars, dollars + np.maximum(cat.cents, 0) / 100), 2)


def products(config: ShopConfig, as_of: date) -> list[dict]:
    """The catalogue valid on `as_of`, in the Fake Store JSON shape and with its quirks."""
    cat, prices = _prices(config, as_of)
    out = []
    for i in range(len(cat.ids)):  # per record, not per event
        price = int(prices[i]) if cat.cents[i] < 0 else round(float(prices[i]), 2)
        record = {"id": int(cat.ids[i]), "title": cat.titles[i], "price": price,
                  "description": cat.descriptions[i], "category": CATEGORIES[cat.category[i]],
                  "image": f"https://fakestore.example/img/{cat.ids[i]}.jpg",
                  "rating": {"rate": float(cat.rate[i]), "count": int(cat.count[i])}}
        out.append(_break_product(record, cat.broken[i]))
    return out


def _break_product(record: dict, kind: int) -> dict:
    if kind == 0:
        record["price"] = -abs(record["price"]) or -1
    elif kind == 1:
        record["title"] = ""
    elif kind == 2:
        record["title"] = "   "
    elif kind == 3:
        record["rating"]["rate"] = 7.5
    return record


# --- users ----------------------------------------------------------------------------

_FIRST = ("john", "david", "kevin", "don", "derek", "william", "kate", "jimmie", "miriam", "emma",
          "olivia", "liam", "noah", "ava", "sophia", "lucas", "mia", "ethan", "amelia", "james",
          "harper", "logan", "ella", "mason", "grace", "leo", "chloe", "owen", "zoe", "isaac")
_LAST = ("doe", "morrison", "ryan", "romer", "russell", "hopkins", "hale", "klein", "snyder", "smith",
         "johnson", "brown", "garcia", "miller", "davis", "wilson", "moore", "taylor", "clark", "lewis",
         "walker", "young", "allen", "king", "wright", "scott", "green", "baker", "adams", "nelson")
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "mail.example")
# City, latitude, longitude.
_CITIES = (("Kilcoole", 53.11, -6.07), ("Cullman", 34.17, -86.84), ("San Antonio", 29.42, -98.49),
           ("El Paso", 31.76, -106.49), ("Fresno", 36.74, -119.79), ("Mesa", 33.42, -111.83),
           ("Miami", 25.76, -80.19), ("Fort Wayne", 41.08, -85.14), ("Portland", 45.52, -122.68),
           ("Denver", 39.74, -104.99), ("Austin", 30.27, -97.74), ("Boston", 42.36, -71.06),
           ("Seattle", 47.61, -122.33), ("Tulsa", 36.15, -95.99), ("Omaha", 41.26, -95.93),
           ("Raleigh", 35.78, -78.64), ("Spokane", 47.66, -117.43), ("Madison", 43.07, -89.40))
_STREETS = ("new road", "Lovers Ln", "Frances Ct", "Hunters Creek Dr", "adams St", "prospect st",
            "saddle st", "vally view ln", "avondale ave", "oak lawn ave", "Maple Ave", "Cedar St",
            "Elm Street", "Pine Ridge Rd", "Lakeview Dr", "Sunset Blvd")
_PASSWORD_CHARS = np.array(list("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789$#@!%*"))
_CITY_CASE = (str.lower, str.title, str.upper)


@dataclass(frozen=True)
class _People:
    ids: np.ndarray
    broken: np.ndarray
    first: np.ndarray
    last: np.ndarray
    username: list[str]
    password: list[str]
    phone: list[str]
    device: np.ndarray  # usual device, index into contracts.DEVICES
    weight: np.ndarray  # activity; 0 for broken records, which never act


@lru_cache(maxsize=8)
def _people(seed: int, n_users: int, api_record: float) -> _People:
    rng = np.random.default_rng([seed, _USERS])
    n = n_users + int(api_record * n_users + 0.5)
    broken = _broken(rng, n, n - n_users, kinds=4)
    ids = np.arange(1, n + 1)
    first, last = rng.integers(0, len(_FIRST), n), rng.integers(0, len(_LAST), n)
    pattern = rng.integers(0, 4, n)
    lengths = rng.integers(7, 13, n)
    chars = _PASSWORD_CHARS[rng.integers(0, len(_PASSWORD_CHARS), (n, 12))]
    phones = rng.integers([200, 100, 0], [1000, 1000, 10_000], (n, 3))
    username, password, phone = [], [], []
    for i in range(n):  # per user record, not per event
        f, l = _FIRST[first[i]], _LAST[last[i]]
        username.append((f"{f}{l[0]}", f"{f[:3]}_{l}", f"{f}_{l[0]}", f"{l}")[pattern[i]] + str(ids[i]))
        password.append("".join(chars[i, : lengths[i]]))
        phone.append("1-{:03d}-{:03d}-{:04d}".format(*phones[i]))
    device = rng.choice(3, n, p=clickstream.DEVICE_MIX)
    weight = np.where(broken < 0, rng.lognormal(0, 1.2, n), 0.0)
    return _People(ids, broken, first, last, username, password, phone, device, weight)


def _addresses(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"city": rng.integers(0, len(_CITIES), n), "case": rng.choice(3, n, p=(0.5, 0.35, 0.15)),
            "street": rng.integers(0, len(_STREETS), n), "number": rng.integers(1, 10_000, n),
            "zip5": rng.integers(10_000, 100_000, n), "zip4": rng.integers(0, 10_000, n),
            "dlat": rng.uniform(-0.2, 0.2, n), "dlong": rng.uniform(-0.2, 0.2, n)}


def users(config: ShopConfig, as_of: date) -> list[dict]:
    """The users on `as_of`, in the Fake Store JSON shape, plaintext passwords included."""
    people = _people(config.seed, config.n_users, config.dirt.api_record)
    n = len(people.ids)
    initial = _addresses(np.random.default_rng([config.seed, _ADDRESSES]), n)
    addr = _weekly_history(config.seed, _MOVES, as_of, 0.005, initial, lambda rng, _: _addresses(rng, n))
    out = []
    for i in range(n):  # per record, not per event
        f, l = _FIRST[people.first[i]], _LAST[people.last[i]]
        city, lat, long = _CITIES[addr["city"][i]]
        record = {
            "id": int(people.ids[i]), "email": f"{f}.{l}{people.ids[i]}@{_DOMAINS[people.ids[i] % 4]}",
            "username": people.username[i], "password": people.password[i],
            "name": {"firstname": f, "lastname": l},
            "address": {"city": _CITY_CASE[addr["case"][i]](city), "street": _STREETS[addr["street"][i]],
                        "number": int(addr["number"][i]), "zipcode": f"{addr['zip5'][i]}-{addr['zip4'][i]:04d}",
                        "geolocation": {"lat": f"{lat + addr['dlat'][i]:.4f}",
                                        "long": f"{long + addr['dlong'][i]:.4f}"}},
            "phone": people.phone[i], "__v": 0}
        out.append(_break_user(record, people.broken[i]))
    return out


def _break_user(record: dict, kind: int) -> dict:
    if kind == 0:
        record["email"] = record["email"].replace("@", ".")
    elif kind == 1:
        record["username"] = ""
    elif kind == 2:
        record["name"]["firstname"] = ""
    elif kind == 3:
        record["address"]["city"] = ""
    return record


def _shop_day(config: ShopConfig, day: date) -> clickstream.ShopDay:
    cat, prices = _prices(config, day)
    people = _people(config.seed, config.n_users, config.dirt.api_record)
    sound, active = cat.broken < 0, people.broken < 0
    return clickstream.ShopDay(
        product_ids=cat.ids[sound].astype(np.int32), prices=prices[sound].astype(np.float64),
        product_weights=cat.weight[sound], product_categories=cat.category[sound], category_slugs=CATEGORY_SLUGS,
        user_ids=people.ids[active].astype(np.int32), user_weights=people.weight[active],
        user_devices=people.device[active].astype(np.int8))


# --- carts ----------------------------------------------------------------------------


def _cart_lines(day: date, purchases: dict[str, np.ndarray]) -> list[str]:
    """One JSON object per checkout, built from its purchase events: same user, products,
    quantities, and the purchase time as the cart date."""
    if not len(purchases["cart_id"]):
        return []
    table = pa.table({**{k: purchases[k] for k in ("cart_id", "user_id", "product_id", "quantity")},
                      "line": np.arange(len(purchases["cart_id"])),
                      "date": clickstream.iso_time_strings(day, purchases["time_ms"])})
    con = duckdb.connect()
    con.register("purchases", table)
    rows = con.sql("""
        SELECT to_json({id: cart_id, userId: min(user_id), date: min(date),
                        products: list({productId: product_id, quantity: quantity} ORDER BY line),
                        "__v": 0})
        FROM purchases GROUP BY cart_id ORDER BY cart_id""").fetchall()
    return [row[0] for row in rows]


def _dirty_carts(config: ShopConfig, day: date, n_carts: int) -> list[str]:
    """api_record x carts extra carts that break the contract: a quantity of 0, no products,
    or a product id of 0. No purchase event refers to them."""
    k = int(config.dirt.api_record * n_carts + 0.5)
    rng = np.random.default_rng([config.seed, _CARTS, day.toordinal()])
    shop = _shop_day(config, day)
    times = clickstream.iso_time_strings(day, np.sort(rng.integers(0, clickstream.DAY_MS, k)))
    out = []
    for j in range(k):  # per dirty cart, a handful a day
        items = [{"productId": int(rng.choice(shop.product_ids)), "quantity": int(rng.integers(1, 4))}
                 for _ in range(int(rng.integers(1, 4)))]
        kind = int(rng.integers(0, 3))
        if kind == 0:
            items[0]["quantity"] = 0
        elif kind == 1:
            items = []
        else:
            items[0]["productId"] = 0
        out.append(_dumps({"id": day.toordinal() * 10_000_000 + n_carts + j + 1,
                           "userId": int(rng.choice(shop.user_ids)), "date": times[j].as_py(),
                           "products": items, "__v": 0}))
    return out


# --- files ----------------------------------------------------------------------------


def _dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _write_json_array(path: Path, items: list[str]) -> None:
    body = "[\n" + ",\n".join(items) + "\n]\n" if items else "[]\n"
    _write_atomic(path, body.encode())


def _write_atomic(path: Path, data: bytes) -> None:
    """Write under a hidden name and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
