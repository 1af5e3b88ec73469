"""The API contracts and their split into rows and rejects, without a warehouse."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ecommerce_assets.contracts import Cart, Product, User, day_window, without_secrets
from ecommerce_assets.loading import load_records, split_records
from ecommerce_assets.raw_tables import PRODUCT_COLUMNS, cart_row, product_row, user_row
from ecommerce_assets.sources.fakestore import REPEATED_KEYS, decode_json
from ecommerce_assets.warehouse import connect

from .conftest import FAKESTORE_PRODUCTS, FAKESTORE_USERS

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


def test_an_id_delivered_twice_in_one_response_is_kept_once_and_the_repeat_quarantined(tmp_path):
    records = [{**PRODUCT, "id": 5, "title": "first"}, {**PRODUCT, "id": 6}, {**PRODUCT, "id": 5, "title": "again"}]

    rows, rejects = split_records(Product, records, "products.json", product_row)

    assert [(row["id"], row["title"]) for row in rows] == [(5, "first"), (6, PRODUCT["title"])]
    assert [(r["record_key"], r["field"], r["rule"]) for r in rejects] == [("5", "id", "duplicate")]
    assert '"again"' in rejects[0]["payload"] and "kept once" in rejects[0]["reason"]
    # Counted as a duplicate, as for events, not as a refusal of the contract.
    with connect(tmp_path / "ecommerce.duckdb") as con:
        result = load_records(con, "products", PRODUCT_COLUMNS, rows, rejects, None)
    assert (result.loaded, result.rejected, result.duplicates) == (2, 0, 1)


@pytest.mark.parametrize(("number", "rule"), [(-(2**63) - 1, "greater_than_equal"), (2**63, "less_than_equal")])
def test_an_integer_must_fit_a_bigint_below_as_above(number, rule):
    user = {**FAKESTORE_USERS[0], "address": {**FAKESTORE_USERS[0]["address"], "number": number}}

    rows, rejects = split_records(User, [user], "users.json", user_row)

    assert rows == [] and [(r["field"], r["rule"]) for r in rejects] == [("address.number", rule)]


@pytest.mark.parametrize("date_value", ["9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"])
def test_a_date_beyond_the_calendar_in_utc_is_refused_not_raised(date_value):
    rows, rejects = split_records(Cart, [{**CART, "date": date_value}], "carts", cart_row, context={"window": WINDOW})

    assert rows == []
    assert [(r["field"], r["rule"]) for r in rejects] == [("date", "value_error")]
    assert "outside the years 1 to 9999" in rejects[0]["reason"]


def test_a_rating_must_be_a_finite_number():
    rows, rejects = split_records(Product, [{**PRODUCT, "rating": {"rate": float("nan"), "count": 3}}], "p", product_row)

    assert rows == [] and [(r["field"], r["rule"]) for r in rejects] == [("rating.rate", "finite_number")]


def test_a_field_under_both_its_spellings_must_hold_one_value():
    records = [
        {**CART, "id": 1, "user_id": 99},
        {**CART, "id": 2, "products": [{"productId": 3, "product_id": 4, "quantity": 1}]},
        {**CART, "id": 3, "user_id": 1, "products": [{"productId": 3, "product_id": 3, "quantity": 1}]},
    ]

    rows, rejects = split_records(Cart, records, "carts", cart_row, context={"window": WINDOW})

    assert [row["id"] for row in rows] == [3]
    assert [(r["record_key"], r["field"]) for r in rejects] == [("1", "<record>"), ("2", "products.0")]
    assert "userId and user_id are the same field and hold different values" in rejects[0]["reason"]
    assert "productId and product_id" in rejects[1]["reason"]


def test_a_key_repeated_in_an_object_is_quarantined_with_every_value_it_was_given():
    body = ('[{"id": 7, "userId": 1, "userId": 2, "date": "2026-11-20T10:00:00Z", "products": [{"productId": 3, "quantity": 1}]},'
            ' {"id": 8, "userId": 1, "date": "2026-11-20T10:00:00Z", "products": [{"productId": 3, "quantity": 1, "quantity": 9}]},'
            ' {"id": 9, "userId": 1, "date": "2026-11-20T10:00:00Z", "products": [{"productId": 3, "quantity": 1}]}]')

    rows, rejects = split_records(Cart, decode_json(body), "carts", cart_row, context={"window": WINDOW})

    assert [row["id"] for row in rows] == [9]
    assert [(r["record_key"], r["field"], r["rule"]) for r in rejects] == [
        ("7", "userId", "duplicate_key"), ("8", "products.0.quantity", "duplicate_key")
    ]
    assert "'userId' appears 2 times" in rejects[0]["reason"]
    assert json.loads(rejects[1]["payload"])["products"][0][REPEATED_KEYS] == {"quantity": [1, 9]}


def test_secret_fields_are_dropped_however_a_source_spells_them():
    record = {"id": 1, "Password": "a", "pass_word": "b", "profile": [{"PASSWD": "c", "passport": "X1"}]}

    assert without_secrets(record) == {"id": 1, "profile": [{"passport": "X1"}]}
    _, rejects = split_records(User, [{**record, "email": "nope"}], "users", user_row)
    assert json.loads(rejects[0]["payload"]) == {"id": 1, "profile": [{"passport": "X1"}], "email": "nope"}
