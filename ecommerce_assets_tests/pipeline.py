"""Run the real pipeline in tests: a small synthetic shop, Dagster, dbt, DuckDB.

The warehouse path reaches dbt through ECOMMERCE_DUCKDB_PATH, as in production, so a
shop's runs happen inside `shop_environment`. The DuckDB file is always named
`ecommerce.duckdb`: dbt-duckdb names the database after the file stem and the manifest
keeps that name.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import dagster as dg
import duckdb

from ecommerce_assets import selections
from ecommerce_assets.definitions import build_definitions
from ecommerce_assets.settings import DUCKDB_FILE, Settings
from ecommerce_assets.sources.landing import event_day_dir
from ecommerce_assets.sources.synthetic import ShopConfig, generate_landing

SMALL_SHOP = ShopConfig(events_per_day=3_000, n_products=60, n_users=300)
FIRST_DAY, LAST_DAY = date(2026, 11, 2), date(2026, 11, 8)

# Events of one user, quiet otherwise at that hour, 29:59.999 apart (one session) and then
# exactly 30 minutes apart (a new session: 30 minutes of inactivity end a session).
BOUNDARY_DAY, BOUNDARY_USER = date(2026, 11, 4), 7
BOUNDARY_EVENTS = (  # (time, event_type, product_id)
    ("02:00:00.000", "page_view", 5),
    ("02:29:59.999", "add_to_cart", 5),
    ("02:59:59.999", "page_view", 6),
)


@dataclass
class Shop:
    root: Path
    first_day: date
    last_day: date
    instance: dg.DagsterInstance | None = None  # the instance its build recorded runs in

    @property
    def db(self) -> Path:
        return self.root / DUCKDB_FILE

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def env(self) -> dict[str, str]:
        return {
            "ECOMMERCE_DUCKDB_PATH": str(self.db),
            "ECOMMERCE_LANDING_DIR": str(self.landing),
        }

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql).fetchall()


def make_shop(root: Path, first_day: date = FIRST_DAY, last_day: date = LAST_DAY, config: ShopConfig = SMALL_SHOP) -> Shop:
    shop = Shop(root, first_day, last_day)
    generate_landing(shop.landing, first_day, last_day, config)
    if first_day <= BOUNDARY_DAY <= last_day:
        write_session_boundary(shop.landing)
    return shop


def write_session_boundary(landing: Path) -> None:
    lines = [json.dumps({
        "event_id": f"session-boundary-{n}", "event_time": f"{BOUNDARY_DAY}T{time}Z", "event_type": kind,
        "user_id": BOUNDARY_USER, "session_id": "session-boundary", "product_id": product,
        "price": 19.99 if kind == "add_to_cart" else None, "quantity": 1 if kind == "add_to_cart" else None,
        "cart_id": None, "page": f"/products/{product}", "device": "mobile",
    }) for n, (time, kind, product) in enumerate(BOUNDARY_EVENTS)]
    (event_day_dir(landing, BOUNDARY_DAY) / "session-boundary.jsonl").write_text("\n".join(lines) + "\n")


def copy_shop(shop: Shop, root: Path) -> Shop:
    """An independent copy (warehouse and landing files) to change without touching `shop`."""
    copy = Shop(root, shop.first_day, shop.last_day)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(shop.db, copy.db)
    shutil.copytree(shop.landing, copy.landing)
    return copy


@contextmanager
def shop_environment(shop: Shop) -> Iterator[dg.Definitions]:
    """The project's definitions, configured for this shop (env as in production)."""
    env = {k: v for k, v in shop.env.items() if v}
    with mock.patch.dict(os.environ, env):
        yield build_definitions(Settings.from_env())


def materialize(defs: dg.Definitions, selection: str, partitions: Sequence[date] | None = None,
                instance: dg.DagsterInstance | None = None, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """One run of `selection` (a name from `selections` or a selection string), as the CLI does:
    no partitions, one partition, or a range of partitions in a single run."""
    selection = selections.BY_NAME.get(selection, selection)
    tags = {}
    if partitions:
        tags = {
            "dagster/asset_partition_range_start": min(partitions).isoformat(),
            "dagster/asset_partition_range_end": max(partitions).isoformat(),
        }
    assets = [*(defs.assets or []), *(defs.asset_checks or [])]
    return dg.materialize(
        assets,
        selection=dg.AssetSelection.from_string(selection),
        resources=defs.resources,
        tags=tags,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def build_all(defs: dg.Definitions, shop: Shop, one_run: bool = True, instance: dg.DagsterInstance | None = None) -> None:
    """Snapshots, then the daily graph (one range run, or one run per day), then all history."""
    materialize(defs, "snapshots", instance=instance)
    if one_run:
        materialize(defs, "daily", shop.days(), instance=instance)
    else:
        for day in shop.days():
            materialize(defs, "daily", [day], instance=instance)
    materialize(defs, "history", instance=instance)


# Columns stamped with the wall-clock time of a build or snapshot: equal data, different runs.
BUILD_TIME_COLUMNS = ("_dbt_loaded_at", "_dbt_invocation_id", "valid_from", "valid_to", "product_key")


def data_columns(shop: Shop, name: str, exclude: Sequence[str] = BUILD_TIME_COLUMNS) -> list[str]:
    """A table's columns, in order, without those that record when it was built."""
    return [c for (c,) in shop.query(
        f"SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = '{name}' ORDER BY ordinal_position"
    ) if c not in exclude and not c.startswith(("_loaded", "dbt_", "loaded_at"))]


def table(shop: Shop, name: str, exclude: Sequence[str] = BUILD_TIME_COLUMNS) -> list[tuple]:
    """A whole table, sorted, without the columns that record when it was built."""
    listed = ", ".join(f'"{c}"' for c in data_columns(shop, name, exclude))
    return shop.query(f"SELECT {listed} FROM {name} ORDER BY ALL")
