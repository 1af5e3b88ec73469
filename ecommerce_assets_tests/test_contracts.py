"""The API contracts and their split into rows and rejects, without a warehouse."""

from __future__ import annotations

from datetime import date

import pytest

from ecommerce_assets.contracts import Cart, Product, day_window
from ecommerce_assets.loading import split_records
from ecommerce_assets.raw_tables import cart_row, product_row

from .conftest import FAKESTORE_PRODUCTS

PRODUCT = FAKESTORE_PRODUCTS[1]
WINDOW = day_window(date(2026, 11, 20))
CART = {"id": 7, "userId": 1, "date": "2026-11-20T10:00:00.000Z", "products": [{"productId": 3, "quantity": 1}]}


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"price": True}, "price", "float_type"),
    ({"price": "64.5"}, "price", "float_type"),
    ({"id": True}, "id", "int_type"),
    ({"id": 3.0}, "id", "int_type"),
    ({"id": 2**63}, "id", "less_than_equal"),
    ({"rating": {"rate": 4.1, "count": False}}, "rating.count", "int_type"),
])
def test_a_product_number_must_be_a_json_number_of_its_kind(change, field, rule):
    rows, rejects = split_records(Product, [{**PRODUCT, **change}], "products.json", product_row)

    assert rows == []
    assert [(r["field"], r["rule"]) for r in rejects] == [(field, rule)]


def test_a_product_price_may_be_an_integer_or_a_fraction():
    rows, rejects = split_records(Product, [{**PRODUCT, "id": 1, "price": 695}, {**PRODUCT, "id": 2, "price": 109.95}],
                                  "products.json", product_row)

    assert rejects == [] and [row["price"] for row in rows] == [695.0, 109.95]


@pytest.mark.parametrize(("date_value", "rule"), [
    (1795000000, "value_error"),  # a Unix time is not the contract's spelling
    ("2026-11-20", "value_error"),
    ("2026-11-20T10:00:00z", "value_error"),
    ("2026-11-19T23:00:00Z", "value_error"),  # outside the window
])
def test_a_cart_date_is_an_iso_timestamp_inside_its_window(date_value, rule):
    rows, rejects = split_records(Cart, [{**CART, "date": date_value}], "carts", cart_row, context={"window": WINDOW})

    assert rows == [] and [(r["field"], r["rule"]) for r in rejects] == [("date", rule)]


def test_an_id_delivered_twice_in_one_response_is_kept_once_and_the_repeat_quarantined():
    records = [{**PRODUCT, "id": 5, "title": "first"}, {**PRODUCT, "id": 6}, {**PRODUCT, "id": 5, "title": "again"}]

    rows, rejects = split_records(Product, records, "products.json", product_row)

    assert [(row["id"], row["title"]) for row in rows] == [(5, "first"), (6, PRODUCT["title"])]
    assert [(r["record_key"], r["field"], r["rule"]) for r in rejects] == [("5", "id", "duplicate")]
    assert '"again"' in rejects[0]["payload"] and "kept once" in rejects[0]["reason"]
