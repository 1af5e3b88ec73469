"""The shape of every raw table and how a validated record becomes one of its rows.

Column names are snake_case; nested source objects are flattened, except cart lines,
which stay a typed list so a cart remains one row as the source delivers it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ecommerce_assets.contracts import Cart, Product, User

LOADED_AT = {"_loaded_at": "TIMESTAMP"}

PRODUCT_COLUMNS = {
    "id": "BIGINT",
    "title": "VARCHAR",
    "price": "DOUBLE",
    "description": "VARCHAR",
    "category": "VARCHAR",
    "image": "VARCHAR",
    "rating_rate": "DOUBLE",
    "rating_count": "BIGINT",
    **LOADED_AT,
}

USER_COLUMNS = {
    "id": "BIGINT",
    "email": "VARCHAR",
    "username": "VARCHAR",
    "firstname": "VARCHAR",
    "lastname": "VARCHAR",
    "city": "VARCHAR",
    "street": "VARCHAR",
    "street_number": "BIGINT",
    "zipcode": "VARCHAR",
    "lat": "VARCHAR",
    "long": "VARCHAR",
    "phone": "VARCHAR",
    **LOADED_AT,
}

CART_COLUMNS = {
    "id": "BIGINT",
    "user_id": "BIGINT",
    "cart_time": "TIMESTAMP",
    "products": "STRUCT(product_id BIGINT, quantity BIGINT)[]",
    "partition_date": "DATE",
    **LOADED_AT,
}


def utc_naive(value: datetime) -> datetime:
    """Timestamps are stored as UTC without an offset (DuckDB TIMESTAMP, microseconds)."""
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def product_row(product: Product) -> dict:
    return {
        **product.model_dump(exclude={"rating"}),
        "rating_rate": product.rating.rate,
        "rating_count": product.rating.count,
    }


def user_row(user: User) -> dict:
    address = user.address
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "firstname": user.name.firstname,
        "lastname": user.name.lastname,
        "city": address.city,
        "street": address.street,
        "street_number": address.number,
        "zipcode": address.zipcode,
        "lat": address.geolocation.lat,
        "long": address.geolocation.long,
        "phone": user.phone,
    }


def cart_row(cart: Cart) -> dict:
    cart_time = utc_naive(cart.date)
    return {
        "id": cart.id,
        "user_id": cart.user_id,
        "cart_time": cart_time,
        "products": [item.model_dump() for item in cart.products],
        "partition_date": cart_time.date(),
    }
