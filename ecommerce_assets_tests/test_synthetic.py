"""The synthetic shop: determinism, Fake Store shapes, realistic clickstream, exact dirt."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pydantic
import pytest

from ecommerce_assets import contracts
from ecommerce_assets.sources import clickstream, landing
from ecommerce_assets.sources.clickstream import DAY_MS, HOUR_MS, _clean_rows, _Pages, day_volume
from ecommerce_assets.sources.synthetic import (
    CATEGORIES,
    DirtRates,
    ShopConfig,
    _shop_day,
    generate_landing,
    products,
    users,
)

FRIDAY, SATURDAY = date(2026, 3, 6), date(2026, 3, 7)
SMALL = ShopConfig(events_per_day=3_000)
MEDIUM = ShopConfig(events_per_day=25_000)  # two days: about 50k events
ALWAYS_REQUIRED = ("event_id", "event_time", "event_type", "user_id", "session_id", "page", "device")


def read_lines(landing_dir: Path, day: date) -> list[str]:
    """Every line of a day, files in name order (the order that decides the first delivery)."""
    out = []
    for path in landing.event_files(landing_dir, day):
        raw = gzip.open(path).read() if path.name.endswith(".gz") else path.read_bytes()
        out += raw.decode().splitlines()
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def classify(lines: list[str], day: date) -> tuple[Counter, list[dict]]:
    """What validating every line with the Event contract finds: the clean events (first
    delivery of each id), and a count per kind of dirt."""
    found: Counter = Counter()
    clean, seen = [], set()
    window = {"window": contracts.day_window(day)}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            found["malformed"] += 1
            continue
        try:
            contracts.Event.model_validate_json(line, context=window)
        except pydantic.ValidationError:
            found[dirt_kind(record, day)] += 1
            continue
        if record["event_id"] in seen:
            found["duplicate"] += 1
        else:
            seen.add(record["event_id"])
            clean.append(record)
    return found, clean


def dirt_kind(record: dict, day: date) -> str:
    if any(record[f] is None for f in ALWAYS_REQUIRED) or any(
        record[rule.field] is None and rule.applies(record["event_type"], record["page"])
        for rule in contracts.EVENT_REQUIREMENTS
    ):
        return "null_field"
    if parse_time(record["event_time"]).date() < day:
        return "late"
    return "invalid_value"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def read_carts(landing_dir: Path, day: date) -> list[dict]:
    return json.loads(landing.carts_path(landing_dir, day).read_text())


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("shop")
    return root, generate_landing(root, FRIDAY, SATURDAY, MEDIUM)


@pytest.fixture(scope="module")
def events(shop) -> dict[date, tuple[Counter, list[dict]]]:
    root, _ = shop
    return {day: classify(read_lines(root, day), day) for day in (FRIDAY, SATURDAY)}


def clean_events(events) -> list[dict]:
    return [e for _, clean in events.values() for e in clean]


# --- determinism and layout -------------------------------------------------------------


def test_same_config_same_bytes(tmp_path):
    generate_landing(tmp_path / "a", FRIDAY, SATURDAY, SMALL)
    generate_landing(tmp_path / "b", FRIDAY, SATURDAY, SMALL)
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b
    assert any(name.endswith(".jsonl") for name in a) and any("carts" in name for name in a)
    generate_landing(tmp_path / "c", FRIDAY, SATURDAY, ShopConfig(seed=7, events_per_day=3_000))
    assert tree(tmp_path / "c") != a


def test_a_day_does_not_depend_on_the_other_days_generated(tmp_path):
    generate_landing(tmp_path / "range", FRIDAY, SATURDAY, SMALL)
    generate_landing(tmp_path / "alone", SATURDAY, SATURDAY, SMALL)
    both, alone = tree(tmp_path / "range"), tree(tmp_path / "alone")
    assert alone and all(both[name] == data for name, data in alone.items())


def test_a_failed_day_leaves_the_old_files_and_no_hidden_ones(tmp_path, monkeypatch):
    generate_landing(tmp_path, SATURDAY, SATURDAY, SMALL)
    before = tree(tmp_path)

    def render_fails(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(clickstream._Output, "write", render_fails)
        with pytest.raises(OSError, match="disk full"):
            generate_landing(tmp_path, SATURDAY, SATURDAY, replace(SMALL, files_per_day=5))
    assert tree(tmp_path) == before

    # Once it succeeds, the new layout replaces the old one: no hour file is left beside it.
    generate_landing(tmp_path, SATURDAY, SATURDAY, replace(SMALL, files_per_day=5))
    assert sorted(p.name for p in landing.event_files(tmp_path, SATURDAY)) == [f"part-{k:02d}.jsonl" for k in range(5)]


def test_hour_files_shards_and_gzip_hold_the_same_lines(tmp_path):
    hourly = generate_landing(tmp_path / "h", SATURDAY, SATURDAY, SMALL)[0]
    assert hourly.files == [f"part-{h:02d}.jsonl" for h in range(24)]
    shards = generate_landing(tmp_path / "s", SATURDAY, SATURDAY, replace(SMALL, files_per_day=5))[0]
    zipped = generate_landing(tmp_path / "g", SATURDAY, SATURDAY, replace(SMALL, gzip=True))[0]
    assert shards.files == [f"part-{k:02d}.jsonl" for k in range(5)]
    assert zipped.files == [f"part-{h:02d}.jsonl.gz" for h in range(24)]
    lines = read_lines(tmp_path / "h", SATURDAY)
    assert len(lines) == hourly.lines
    assert read_lines(tmp_path / "s", SATURDAY) == lines
    for name in zipped.files:  # each one a gzip file of its own, the same lines as the plain one
        plain = landing.event_day_dir(tmp_path / "h", SATURDAY) / name.removesuffix(".gz")
        with gzip.open(landing.event_day_dir(tmp_path / "g", SATURDAY) / name, "rt") as handle:
            assert handle.read() == plain.read_text()


def test_regenerating_a_day_replaces_its_files(tmp_path):
    generate_landing(tmp_path, SATURDAY, SATURDAY, replace(SMALL, gzip=True))
    report = generate_landing(tmp_path, SATURDAY, SATURDAY, SMALL)[0]
    assert [p.name for p in landing.event_files(tmp_path, SATURDAY)] == report.files
    written = json.loads((landing.event_day_dir(tmp_path, SATURDAY) / "_generation.json").read_text())
    assert written["day"] == SATURDAY.isoformat() and written["lines"] == report.lines
    assert written["injected"] == report.injected


def test_files_the_loader_will_not_read_are_named(tmp_path):
    folder = landing.event_day_dir(tmp_path, SATURDAY)
    (folder / "nested").mkdir(parents=True)
    names = ["part-00.jsonl", "part-01.jsonl.gz", "PART-02.JSONL", "events.json", "part-03.jsonl.zst",
             ".part-04.jsonl.tmp", "_SUCCESS", "_generation.json"]
    for name in names:
        (folder / name).write_text("{}\n")
    assert [p.name for p in landing.event_files(tmp_path, SATURDAY)] == ["part-00.jsonl", "part-01.jsonl.gz"]
    assert [p.name for p in landing.unrecognised_files(tmp_path, SATURDAY)] == [
        "PART-02.JSONL", "events.json", "nested", "part-03.jsonl.zst"]
    assert landing.unrecognised_files(tmp_path, SATURDAY + timedelta(days=1)) == []


# --- the clickstream --------------------------------------------------------------------


def test_reported_counts_are_what_validation_finds(shop, events):
    _, reports = shop
    for report in reports:
        found, clean = events[report.day]
        assert set(report.injected) == {"duplicate", "null_field", "malformed", "late", "invalid_value"}
        assert all(report.injected.values())
        assert dict(found) == report.injected
        assert len(clean) == report.clean_events
        assert report.lines == report.clean_events + sum(report.injected.values())
        assert sum(e["event_type"] == "purchase" for e in clean) == report.purchases
        expected = day_volume(MEDIUM.events_per_day, report.day, MEDIUM.seed)
        assert abs(report.clean_events - expected) < 0.02 * expected


def test_dirt_rates_follow_the_config(tmp_path):
    # Judged by what the contract finds in the files, not by the generator's own report.
    dirt = DirtRates(duplicate=0.05, null_field=0, malformed=0.02, late=0, invalid_value=0, api_record=0)
    report = generate_landing(tmp_path, SATURDAY, SATURDAY, ShopConfig(events_per_day=10_000, dirt=dirt))[0]
    found, clean = classify(read_lines(tmp_path, SATURDAY), SATURDAY)
    assert set(found) == {"duplicate", "malformed"}
    assert found["duplicate"] == round(0.05 * len(clean))
    assert found["malformed"] == round(0.02 * len(clean))
    assert dict(found) == {kind: n for kind, n in report.injected.items() if n}
    assert report.dirty_carts == 0


def test_duplicates_come_after_their_original(shop):
    root, _ = shop
    lines = read_lines(root, SATURDAY)
    first_line, duplicates = {}, 0
    for n, line in enumerate(lines):
        match = re.match(r'\{"event_id":"([0-9a-f]{32})"', line)
        if match and match[1] in first_line:
            assert line == lines[first_line[match[1]]]  # an exact copy, delivered later
            duplicates += 1
        elif match:
            first_line[match[1]] = n
    assert duplicates > 0


def test_clean_events_are_well_formed(events):
    for day, (_, clean) in events.items():
        start = datetime.combine(day, datetime.min.time(), timezone.utc)
        for e in clean:
            assert re.fullmatch(r"[0-9a-f]{32}", e["event_id"])
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["event_time"])
            assert start <= parse_time(e["event_time"]) < start + timedelta(days=1)
            on_product_page = e["page"].startswith(contracts.PRODUCT_PAGE_PREFIX)
            if e["event_type"] == "page_view":
                assert (e["product_id"] is not None) == on_product_page
                assert not on_product_page or e["page"] == f"/products/{e['product_id']}"
                assert e["price"] is e["quantity"] is e["cart_id"] is None
            else:
                assert e["price"] > 0 and e["quantity"] >= 1
                assert (e["cart_id"] is not None) == (e["event_type"] == "purchase")


def test_event_type_shares(events):
    shares = Counter(e["event_type"] for e in clean_events(events))
    total = sum(shares.values())
    assert total > 45_000
    assert 0.88 <= shares["page_view"] / total <= 0.96
    assert 0.02 <= shares["add_to_cart"] / total <= 0.04
    assert 0.2 <= shares["purchase"] / shares["add_to_cart"] <= 0.4
    assert 0.25 <= shares["remove_from_cart"] / shares["add_to_cart"] <= 0.42


def test_sessions_are_short_heavy_tailed_and_never_idle_for_30_minutes(events):
    sessions = defaultdict(list)
    for e in clean_events(events):
        sessions[e["session_id"]].append(e)
    lengths = np.array([len(s) for s in sessions.values()])
    assert 2 <= np.median(lengths) <= 3
    assert lengths.max() >= 10 * np.median(lengths)  # a heavy tail
    for session in sessions.values():
        assert len({(e["user_id"], e["device"]) for e in session}) == 1
        times = sorted(parse_time(e["event_time"]) for e in session)
        assert all(b - a < timedelta(minutes=30) for a, b in zip(times, times[1:]))


def test_a_users_sessions_are_30_minutes_apart_so_a_30_minute_sessionisation_finds_them(events):
    by_user = defaultdict(list)
    for e in clean_events(events):
        by_user[(e["user_id"], parse_time(e["event_time"]).date())].append((parse_time(e["event_time"]), e["session_id"]))
    found = collector = 0
    for timeline in by_user.values():
        timeline.sort()
        found += 1 + sum(b[0] - a[0] >= timedelta(minutes=30) for a, b in zip(timeline, timeline[1:]))
        collector += len({session for _, session in timeline})
        # each session's events are consecutive in the user's day: sessions never interleave
        assert sum(a[1] != b[1] for a, b in zip(timeline, timeline[1:])) == len({s for _, s in timeline}) - 1
    assert found == collector > 5_000


def test_sessions_near_midnight_end_in_the_day_without_piling_up_at_its_end():
    shop_day = _shop_day(MEDIUM, SATURDAY)
    rng = np.random.default_rng(7)
    rows, _, bought = _clean_rows(rng, shop_day, _Pages(shop_day), 400_000, 0)
    assert rows["t"].max() < DAY_MS and rows["t"].min() >= 0
    last_hour = rows["t"][rows["t"] >= DAY_MS - HOUR_MS]
    per_second = np.bincount((last_hour - (DAY_MS - HOUR_MS)) // 1000, minlength=3600)
    assert per_second[-1] <= 5 * per_second.mean() + 5, (per_second[-1], per_second.mean())
    assert (bought["time_ms"] == DAY_MS - 1).sum() <= 1


def test_daily_and_weekly_rhythm(shop, events):
    _, reports = shop
    hours = Counter(parse_time(e["event_time"]).hour for e in clean_events(events))
    assert sum(hours[h] for h in (2, 3, 4)) * 3 < sum(hours[h] for h in (19, 20, 21))
    volume = [day_volume(100_000, date(2026, 3, 2) + timedelta(days=d), 42) for d in range(7)]
    assert min(volume[5:]) > max(volume[:5])  # weekends are busier
    assert reports[1].clean_events > reports[0].clean_events  # Saturday over Friday


def test_popularity_is_skewed(events):
    clean = clean_events(events)
    for key in ("product_id", "user_id"):
        counts = sorted(Counter(e[key] for e in clean if e[key] is not None).values(), reverse=True)
        top_tenth = sum(counts[: len(counts) // 10])
        assert top_tenth > 0.25 * sum(counts)


def test_event_prices_are_the_prices_of_the_day(shop, events):
    for day, (_, clean) in events.items():
        price = {p["id"]: p["price"] for p in products(MEDIUM, day)}
        assert all(e["price"] == price[e["product_id"]] for e in clean if e["price"] is not None)


def test_events_refer_to_sound_products_and_users(events):
    sound_products = {p["id"] for p in products(MEDIUM, SATURDAY) if is_valid(contracts.Product, p)}
    sound_users = {u["id"] for u in users(MEDIUM, SATURDAY) if is_valid(contracts.User, u)}
    clean = clean_events(events)
    assert {e["product_id"] for e in clean if e["product_id"]} <= sound_products
    assert {e["user_id"] for e in clean} <= sound_users


# --- carts ------------------------------------------------------------------------------


def test_every_purchase_matches_its_cart(shop, events):
    root, reports = shop
    cart_ids = []
    for report in reports:
        _, clean = events[report.day]
        lines = defaultdict(list)
        for e in clean:
            if e["event_type"] == "purchase":
                lines[e["cart_id"]].append(e)
        carts = read_carts(root, report.day)
        window = {"window": contracts.day_window(report.day)}
        sound = [c for c in carts if is_valid(contracts.Cart, c, window)]
        assert len(sound) == report.carts == len(lines) > 0
        assert len(carts) - len(sound) == report.dirty_carts == int(MEDIUM.dirt.api_record * report.carts + 0.5)  # half up
        for cart in sound:
            purchase = lines.pop(cart["id"])
            assert {(e["product_id"], e["quantity"]) for e in purchase} == {
                (item["productId"], item["quantity"]) for item in cart["products"]}
            assert len(purchase) == len(cart["products"])
            assert {e["user_id"] for e in purchase} == {cart["userId"]}
            assert {e["event_time"] for e in purchase} == {cart["date"]}
            assert cart["__v"] == 0
        assert not lines  # every purchase has its cart
        cart_ids += [c["id"] for c in carts]
    assert len(cart_ids) == len(set(cart_ids))


def is_valid(model, record, context=None) -> bool:
    try:
        model.model_validate(record, context=context)
    except pydantic.ValidationError:
        return False
    return True


# --- products and users -------------------------------------------------------------------


def test_products_have_the_fake_store_shape_and_quirks():
    catalogue = products(ShopConfig(), SATURDAY)
    assert {tuple(p) for p in catalogue} == {
        ("id", "title", "price", "description", "category", "image", "rating")}
    assert {tuple(p["rating"]) for p in catalogue} == {("rate", "count")}
    assert [p["id"] for p in catalogue] == list(range(1, len(catalogue) + 1))
    assert any(isinstance(p["price"], int) for p in catalogue)
    assert any(isinstance(p["price"], float) for p in catalogue)
    assert any(p["title"].endswith(" ") and p["title"].strip() for p in catalogue)
    assert {p["category"] for p in catalogue} == set(CATEGORIES)
    assert "jewelery" in CATEGORIES
    broken = [p for p in catalogue if not is_valid(contracts.Product, p)]
    assert len(catalogue) - len(broken) == 200
    assert len(broken) == 4  # api_record 2 %
    assert products(ShopConfig(), SATURDAY) == catalogue


def test_prices_change_over_time():
    config = ShopConfig()
    before, after = products(config, date(2026, 1, 5)), products(config, date(2026, 4, 6))
    changed = sum(a["price"] != b["price"] for a, b in zip(before, after))
    assert 10 <= changed <= 150  # a few % a week over 13 weeks
    week = [products(config, date(2026, 1, 5) + timedelta(days=d)) for d in range(8)]
    daily = [sum(a["price"] != b["price"] for a, b in zip(x, y)) for x, y in zip(week, week[1:])]
    assert sum(daily) > 0 and max(daily) < 20


def test_users_have_the_fake_store_shape_and_passwords():
    people = users(ShopConfig(), SATURDAY)
    assert {tuple(u) for u in people} == {
        ("id", "email", "username", "password", "name", "address", "phone", "__v")}
    assert all(isinstance(u["password"], str) and len(u["password"]) >= 6 for u in people)
    assert all(isinstance(u["address"]["number"], int) for u in people)
    assert all(isinstance(u["address"]["geolocation"]["lat"], str) for u in people)
    cities = {u["address"]["city"] for u in people}
    assert {"kilcoole", "Kilcoole", "KILCOOLE"} <= cities
    broken = [u for u in people if not is_valid(contracts.User, u)]
    assert len(broken) == 40 and len(people) == 2040
    sound = [u for u in people if u not in broken]
    assert len({u["username"] for u in sound}) == len(sound)


def test_addresses_change_over_time():
    before, after = users(ShopConfig(), date(2026, 1, 5)), users(ShopConfig(), date(2026, 7, 6))
    moved = sum(a["address"] != b["address"] for a, b in zip(before, after))
    assert 100 <= moved <= 600  # about half a percent a week over 26 weeks
    assert all(a["password"] == b["password"] for a, b in zip(before, after))


def test_a_day_with_no_events(tmp_path):
    report = generate_landing(tmp_path, SATURDAY, SATURDAY, ShopConfig(events_per_day=0))[0]
    assert report.lines == report.carts == 0
    assert read_lines(tmp_path, SATURDAY) == [] and read_carts(tmp_path, SATURDAY) == []


def test_end_before_start_is_refused(tmp_path):
    with pytest.raises(ValueError):
        generate_landing(tmp_path, SATURDAY, FRIDAY)
