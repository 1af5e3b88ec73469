"""Dagster resources: the warehouse and the two sources, configured from `Settings`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ecommerce_assets.locking import exclusive
from ecommerce_assets.settings import Settings
from ecommerce_assets.warehouse import configure_session
from ecommerce_assets.sources.fakestore import FakeStoreClient, FakeStoreSource
from ecommerce_assets.sources.fakestore_local import LocalFakeStore


class Warehouse(DuckDBResource):
    """The DuckDB warehouse file. Sessions run in UTC with a bounded memory budget; a
    connection holds the warehouse's write lock, so writers take turns (`locking`)."""

    memory_limit: str = Field(default="1GB", description="DuckDB memory_limit; larger work spills to disk.")

    def writing(self):
        """Hold the write lock (e.g. around a dbt subprocess that opens the file itself)."""
        return exclusive(self.database)

    @contextmanager
    def get_connection(self):
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with self.writing(), super().get_connection() as con:
            # DuckDBResource closes only on success: a connection a failure leaves open
            # outlives the lock, held by the traceback, and bars dbt from the file.
            try:
                configure_session(con, self.memory_limit)
                yield con
            finally:
                con.close()


class FakeStore(dg.ConfigurableResource):
    """Products, users and carts: a Fake Store API at `base_url`, or, unset, the synthetic shop."""

    base_url: str | None = Field(default=None, description="Fake Store API base URL; unset: the synthetic shop.")
    landing_dir: str = Field(description="Where the synthetic shop's Fake Store files live.")
    read_timeout: float = Field(default=30.0, description="Seconds any one wait for the server's bytes may take.")
    total_timeout: float = Field(default=120.0, description="Seconds an attempt may take from request to the body's last byte.")
    max_attempts: int = Field(default=5, description="Attempts per request before the run fails, naming URL and status.")

    def source(self) -> FakeStoreSource:
        if self.base_url:
            return FakeStoreClient(self.base_url, read_timeout=self.read_timeout, total_timeout=self.total_timeout,
                                   max_attempts=self.max_attempts)
        return LocalFakeStore(Path(self.landing_dir))


class Landing(dg.ConfigurableResource):
    """The landing directory the clickstream collector drops event files into."""

    path: str = Field(description="Root of the landing directory.")

    @property
    def root(self) -> Path:
        return Path(self.path)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": Warehouse(database=str(settings.duckdb_path)),
        "fakestore": FakeStore(base_url=settings.fakestore_base_url, landing_dir=str(settings.landing_dir)),
        "landing": Landing(path=str(settings.landing_dir)),
    }
