"""Data contracts: the one definition of every record the sources deliver.

Plain pydantic, nothing of ours imported. Numbers are JSON numbers (`true` is not a
price, `"3"` is not an id) and must fit a BIGINT; a price may be `695` or `109.95` as
the Fake Store sends it. Timestamps are ISO 8601 strings in the one spelling both
pydantic and DuckDB read (`ISO_8601_TIMESTAMP`), never Unix numbers. The event contract
is strict JSON, so the columnar validator (`ecommerce_assets.validation`) can compile
the same rules to SQL and agree with pydantic row for row.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Fields that must never land anywhere, not even in quarantine, however a source spells
# them (`Password`, `pass_word`): names are compared lower-cased, letters only.
SECRET_FIELDS = frozenset({"password", "passwd"})

EVENT_TYPES = ("page_view", "add_to_cart", "remove_from_cart", "purchase")
DEVICES = ("desktop", "mobile", "tablet")
CART_EVENT_TYPES = frozenset({"add_to_cart", "remove_from_cart", "purchase"})
PRODUCT_PAGE_PREFIX = "/products/"

# The warehouse stores integers as BIGINT: a larger JSON integer is refused, not truncated.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, strict=True)]
PositiveId = Annotated[Int64, Field(ge=1)]
Count = Annotated[Int64, Field(ge=0)]
Quantity = Annotated[Int64, Field(ge=1)]
Amount = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
# pydantic alone also takes `t`/`z`, `_` for `T`, `+0200`, `,5` and fractions past
# nanoseconds; DuckDB does not. The contract is the spelling both read.
# Hours and minutes in range, offsets too: DuckDB reads `+00:60` as an hour, and `24:00`
# as the next day.
ISO_8601_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
)
_ISO_8601_TIMESTAMP = re.compile(ISO_8601_TIMESTAMP)


def is_secret(key: Any) -> bool:
    return isinstance(key, str) and "".join(filter(str.isalpha, key)).lower() in SECRET_FIELDS


def without_secrets(record: Any) -> Any:
    """The record with every secret field removed, at any depth."""
    if isinstance(record, dict):
        return {k: without_secrets(v) for k, v in record.items() if not is_secret(k)}
    if isinstance(record, list):
        return [without_secrets(v) for v in record]
    return record


def iso_8601_text(value: Any) -> Any:
    """A timestamp arrives as text in the contract's spelling (checked before pydantic parses it)."""
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 date-time string, got a JSON {type(value).__name__}")
    if not _ISO_8601_TIMESTAMP.fullmatch(value):
        raise ValueError("must be an ISO 8601 date-time such as 2026-11-20T10:00:00.000Z "
                         "(YYYY-MM-DD, T or a space, HH:MM[:SS[.fraction up to 9 digits]], Z or ±HH:MM)")
    return value


def one_spelling(record: Any, *spellings: str) -> Any:
    """A field a source spells two ways (`userId`, `user_id`) must not arrive both ways with
    different values: either reading would silently drop the other."""
    if isinstance(record, dict):
        given = [name for name in spellings if name in record]
        if any(record[name] != record[given[0]] for name in given[1:]):
            raise ValueError(f"{' and '.join(given)} are the same field and hold different values")
    return record


def as_utc(value: datetime) -> datetime:
    """Naive timestamps are UTC by contract; aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        # pydantic reports only ValueError as a validation error; anything else stops the load.
        raise ValueError("lies outside the years 1 to 9999 once converted to UTC") from None


def check_inside_window(value: datetime, info: ValidationInfo) -> datetime:
    """With a `window` (start, end) in the validation context, the time must lie in [start, end)."""
    window = (info.context or {}).get("window")
    if window is not None:
        start, end = window
        day_start = datetime.combine(start, datetime.min.time(), timezone.utc)
        day_end = datetime.combine(end, datetime.min.time(), timezone.utc)
        if not day_start <= value < day_end:
            raise ValueError(f"outside the partition window [{start}, {end})")
    return value


# --- Fake Store API -------------------------------------------------------------------


class Rating(BaseModel):
    rate: Annotated[float, Field(ge=0, le=5, strict=True, allow_inf_nan=False)]
    count: Count


class Product(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: PositiveId
    title: Annotated[str, Field(min_length=1, pattern=r"\S")]
    price: Amount
    description: str
    category: NonEmptyStr
    image: str
    rating: Rating


class Name(BaseModel):
    firstname: NonEmptyStr
    lastname: NonEmptyStr


class Geolocation(BaseModel):
    lat: str
    long: str


class Address(BaseModel):
    city: NonEmptyStr
    street: str
    number: Int64
    zipcode: str
    geolocation: Geolocation


class User(BaseModel):
    """A shop user. `password` is not a field: it is dropped at the edge (`without_secrets`)."""

    model_config = ConfigDict(extra="ignore")

    id: PositiveId
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    username: NonEmptyStr
    name: Name
    address: Address
    phone: str


class CartItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    product_id: Annotated[PositiveId, Field(validation_alias=AliasChoices("productId", "product_id"))]
    quantity: Quantity

    @model_validator(mode="before")
    @classmethod
    def _product_id_once(cls, record: Any) -> Any:
        return one_spelling(record, "productId", "product_id")


class Cart(BaseModel):
    """A checked-out order. Its date is the sale date and decides its partition."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: PositiveId
    user_id: Annotated[PositiveId, Field(validation_alias=AliasChoices("userId", "user_id"))]
    date: datetime
    products: Annotated[list[CartItem], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _user_id_once(cls, record: Any) -> Any:
        return one_spelling(record, "userId", "user_id")

    @field_validator("date", mode="before")
    @classmethod
    def _date_is_iso_text(cls, value: Any) -> Any:
        return iso_8601_text(value)

    @field_validator("date")
    @classmethod
    def _date_in_window(cls, value: datetime, info: ValidationInfo) -> datetime:
        return check_inside_window(as_utc(value), info)


# --- Clickstream events ---------------------------------------------------------------

# The event's fields a `RequiredWhen` reads: its type and its page.
EVENT_TYPE_FIELD, PAGE_FIELD = "event_type", "page"


class RequiredWhen(NamedTuple):
    """`field` must be present when the event type is one of `event_types`, or when the
    page starts with `page_prefix`. Kept as data so SQL and pydantic share the rule."""

    field: str
    event_types: frozenset[str]
    page_prefix: str | None = None

    def applies(self, event_type: str | None, page: str | None) -> bool:
        if event_type in self.event_types:
            return True
        return self.page_prefix is not None and page is not None and page.startswith(self.page_prefix)

    def describe(self) -> str:
        where = "/".join(sorted(self.event_types)) + " events"
        if self.page_prefix:
            where += f" and on pages under {self.page_prefix}"
        return f"required on {where}"


EVENT_REQUIREMENTS = (
    RequiredWhen("product_id", CART_EVENT_TYPES, page_prefix=PRODUCT_PAGE_PREFIX),
    RequiredWhen("price", CART_EVENT_TYPES),
    RequiredWhen("quantity", CART_EVENT_TYPES),
    RequiredWhen("cart_id", frozenset({"purchase"})),
)


class Event(BaseModel):
    """One clickstream event, as one JSON line of a landing file.

    Strict: JSON types must match (an id is a JSON integer, not "12"). Field order matters:
    the conditional rules read `event_type` and `page`, which are validated first.
    Validate with `context={"window": (day, next_day)}` to enforce the file's day.
    """

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    event_id: NonEmptyStr
    event_type: Literal["page_view", "add_to_cart", "remove_from_cart", "purchase"]
    page: NonEmptyStr
    # Lax only to parse the text `_event_time_is_iso_text` admits: a strict field refuses text once a validator ran.
    event_time: Annotated[datetime, Field(strict=False)]
    user_id: PositiveId
    session_id: NonEmptyStr
    device: Literal["desktop", "mobile", "tablet"]
    product_id: PositiveId | None = Field(default=None, validate_default=True)
    price: Amount | None = Field(default=None, validate_default=True)
    quantity: Quantity | None = Field(default=None, validate_default=True)
    cart_id: PositiveId | None = Field(default=None, validate_default=True)

    @field_validator("event_time", mode="before")
    @classmethod
    def _event_time_is_iso_text(cls, value: Any) -> Any:
        return iso_8601_text(value)

    @field_validator("event_time")
    @classmethod
    def _event_time_in_window(cls, value: datetime, info: ValidationInfo) -> datetime:
        return check_inside_window(as_utc(value), info)

    @field_validator("product_id", "price", "quantity", "cart_id")
    @classmethod
    def _conditionally_required(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            for rule in EVENT_REQUIREMENTS:
                if rule.field == info.field_name and rule.applies(
                    info.data.get(EVENT_TYPE_FIELD), info.data.get(PAGE_FIELD)
                ):
                    raise ValueError(rule.describe())
        return value


def day_window(day: date) -> tuple[date, date]:
    """The half-open window [day, day + 1) of one daily partition."""
    return day, day + timedelta(days=1)
