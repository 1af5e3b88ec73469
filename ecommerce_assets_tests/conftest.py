"""Shared test fixtures."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ecommerce_assets.sources.landing import carts_path, products_path, users_path


def _product(id: int, title: str, price: float, category: str) -> dict:
    return {
        "id": id,
        "title": title,
        "price": price,
        "description": f"{title.strip()} description",
        "category": category,
        "image": f"https://example.test/img/{id}.jpg",
        "rating": {"rate": 4.1, "count": 120},
    }


def _user(id: int, username: str, city: str) -> dict:
    return {
        "id": id,
        "email": f"{username}@example.test",
        "username": username,
        "password": f"plaintext-{username}",
        "name": {"firstname": username.title(), "lastname": "Doe"},
        "address": {
            "city": city,
            "street": "Main Street",
            "number": id,
            "zipcode": "12345",
            "geolocation": {"lat": "-37.3159", "long": "81.1496"},
        },
        "phone": "1-570-236-7033",
        "__v": 0,
    }


def _cart(id: int, user_id: int, when: str, *items: tuple[int, int]) -> dict:
    products = [{"productId": p, "quantity": q} for p, q in items]
    return {"id": id, "userId": user_id, "date": when, "products": products, "__v": 0}


# A tiny Fake Store with its quirks: ids out of order, int and float prices, a trailing
# space, `jewelery`, plaintext passwords, carts on both edges of the day 2026-11-20.
FAKESTORE_PRODUCTS = [
    _product(2, "Gold Ring", 695, "jewelery"),
    _product(3, "SSD 1TB", 64.5, "electronics"),
    _product(1, "Backpack ", 109.95, "men's clothing"),
]
FAKESTORE_USERS = [_user(1, "johnd", "kilcoole"), _user(2, "mor_2314", "Kilcoole")]
FAKESTORE_CARTS = {
    date(2026, 11, 19): [_cart(1, 1, "2026-11-19T23:59:59.999Z", (1, 2))],
    date(2026, 11, 20): [
        _cart(2, 1, "2026-11-20T00:00:00.000Z", (2, 1)),
        _cart(3, 2, "2026-11-20T13:05:00.000Z", (1, 1), (3, 4)),
    ],
    date(2026, 11, 21): [_cart(4, 2, "2026-11-21T00:00:00.000Z", (3, 1))],
}


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


@pytest.fixture
def fakestore_landing(tmp_path: Path) -> Path:
    """A landing directory holding the tiny Fake Store above (no events)."""
    landing = tmp_path / "landing"
    write_json(products_path(landing), FAKESTORE_PRODUCTS)
    write_json(users_path(landing), FAKESTORE_USERS)
    for day, carts in FAKESTORE_CARTS.items():
        write_json(carts_path(landing, day), carts)
    return landing


@pytest.fixture(scope="session")
def range_shop(tmp_path_factory):
    """A week of a small shop, built through Dagster and dbt: snapshots, the week's
    partitions in one range run, then all-history models. Read it; copy it to change it."""
    from .pipeline import build_all, make_shop, shop_environment

    import dagster as dg

    shop = make_shop(tmp_path_factory.mktemp("range-shop"))
    shop.instance = dg.DagsterInstance.ephemeral()
    with shop_environment(shop) as defs:
        build_all(defs, shop, one_run=True, instance=shop.instance)
    return shop


@pytest.fixture(scope="session")
def day_by_day_shop(tmp_path_factory):
    """The same week built one partition per run."""
    from .pipeline import build_all, make_shop, shop_environment

    shop = make_shop(tmp_path_factory.mktemp("day-by-day-shop"))
    with shop_environment(shop) as defs:
        build_all(defs, shop, one_run=False)
    return shop


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that build the day-by-day week (about 3 minutes, the longest by far) go first.

    `make test` runs the suite on every core (pytest-xdist, work stealing): started first,
    that build runs beside the rest of the suite instead of after it.
    """
    items.sort(key=lambda item: "day_by_day_shop" not in getattr(item, "fixturenames", ()))
