"""Runtime settings read from the environment: the one place each of them is defined."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_DUCKDB_PATH = "data/ecommerce.duckdb"
# dbt-duckdb names the database after the file's stem and the manifest keeps that name:
# a warehouse kept in another folder (a test's, a benchmark's) keeps this file name.
DUCKDB_FILE = Path(DEFAULT_DUCKDB_PATH).name
DEFAULT_LANDING_DIR = "data/landing"
DEFAULT_START_DATE = "2026-01-01"


@dataclass(frozen=True)
class Settings:
    duckdb_path: Path
    landing_dir: Path
    start_date: date
    fakestore_base_url: str | None

    @classmethod
    def from_env(cls) -> Settings:
        raw_start = os.environ.get("ECOMMERCE_START_DATE") or DEFAULT_START_DATE
        try:
            start_date = date.fromisoformat(raw_start)
        except ValueError as error:
            raise ValueError(f"ECOMMERCE_START_DATE={raw_start!r} is not a YYYY-MM-DD date") from error
        return cls(
            duckdb_path=Path(os.environ.get("ECOMMERCE_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH).absolute(),
            landing_dir=Path(os.environ.get("ECOMMERCE_LANDING_DIR") or DEFAULT_LANDING_DIR).absolute(),
            start_date=start_date,
            fakestore_base_url=os.environ.get("FAKESTORE_BASE_URL") or None,
        )
