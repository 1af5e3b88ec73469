"""The Fake Store read from the landing directory: the source when no base URL is configured."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ecommerce_assets.contracts import without_secrets
from ecommerce_assets.sources.fakestore import FakeStoreError, Fetched, decode_json
from ecommerce_assets.sources.landing import carts_dir, carts_path, products_path, users_path


def read_array(path: Path) -> list[Any]:
    """The JSON array a file holds; a broken file is a source failure like a broken response."""
    try:
        records = decode_json(path.read_bytes())
    except ValueError as error:
        raise FakeStoreError(f"{path} is not valid JSON ({error})", url=str(path)) from error
    if not isinstance(records, list):
        raise FakeStoreError(f"{path} holds a JSON {type(records).__name__}, not an array", url=str(path))
    return records


def cart_file_day(path: Path) -> date | None:
    """The day a `carts/date=YYYY-MM-DD.json` file holds, None for any other file."""
    if not (path.is_file() and path.name.startswith("date=") and path.name.endswith(".json")):
        return None
    try:
        return date.fromisoformat(path.name[len("date="):-len(".json")])
    except ValueError:
        return None


def find_by_id(records: list[Any], id: int) -> dict | None:
    return next((r for r in records if isinstance(r, dict) and r.get("id") == id), None)


class LocalFakeStore:
    """`FakeStoreSource` over `products.json`, `users.json` and `carts/date=YYYY-MM-DD.json`."""

    def __init__(self, landing_dir: Path) -> None:
        self.landing_dir = Path(landing_dir)

    def products(self) -> Fetched:
        return self._required_array(products_path(self.landing_dir))

    def users(self) -> Fetched:
        fetched = self._required_array(users_path(self.landing_dir))
        return Fetched(fetched.source, without_secrets(fetched.records))

    def carts(self, start: date, end: date) -> Fetched:
        """The carts of the day files in [start, end); a missing day file is a day without carts."""
        if end < start:
            raise ValueError(f"empty window: end {end} is before start {start}")
        days = (start + timedelta(days=n) for n in range((end - start).days))
        paths = [p for p in (carts_path(self.landing_dir, day) for day in days) if p.is_file()]
        records = [record for path in paths for record in read_array(path)]
        source = ",".join(str(p) for p in paths) or str(carts_dir(self.landing_dir))
        return Fetched(source=source, records=records)

    def filed_carts(self) -> list[tuple[date, Any]]:
        """Every cart of every day file with the day it is filed under, in day order."""
        folder = carts_dir(self.landing_dir)
        if not folder.is_dir():
            return []
        days = sorted((day, path) for path in folder.iterdir() if (day := cart_file_day(path)) is not None)
        return [(day, record) for day, path in days for record in read_array(path)]

    def all_carts(self) -> list[Any]:
        """Every cart of every day file, in day order."""
        return [record for _, record in self.filed_carts()]

    def product(self, id: int) -> dict | None:
        return find_by_id(self.products().records, id)

    def user(self, id: int) -> dict | None:
        return find_by_id(self.users().records, id)

    def cart(self, id: int) -> dict | None:
        return find_by_id(self.all_carts(), id)

    def close(self) -> None:
        pass  # files are opened and closed per read

    @staticmethod
    def _required_array(path: Path) -> Fetched:
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: run `ecommerce-assets generate` first to create the synthetic shop"
            )
        return Fetched(source=str(path), records=read_array(path))
