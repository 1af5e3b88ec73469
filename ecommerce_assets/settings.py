"""Runtime settings read from the environment: the one place each of them is defined."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_DUCKDB_PATH = "data/ecommerce.duckdb"
# The warehouse file; dbt reads it too (profiles.yml), from the path the Python steps resolved.
DUCKDB_PATH_ENV = "ECOMMERCE_DUCKDB_PATH"
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
            start_date = parse_day(raw_start)
        except ValueError:
            raise ValueError(f"ECOMMERCE_START_DATE={raw_start!r} is not a YYYY-MM-DD date") from None
        return cls(
            duckdb_path=_absolute(os.environ.get(DUCKDB_PATH_ENV) or DEFAULT_DUCKDB_PATH),
            landing_dir=_absolute(os.environ.get("ECOMMERCE_LANDING_DIR") or DEFAULT_LANDING_DIR),
            start_date=start_date,
            fakestore_base_url=os.environ.get("FAKESTORE_BASE_URL") or None,
        )


def parse_day(text: str) -> date:
    """A YYYY-MM-DD date. Python also reads `20260101` and `2026-W01-1`; a day given here
    has one spelling."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError(f"{text!r} is not a YYYY-MM-DD date")
    return date.fromisoformat(text)


def _absolute(path: str) -> Path:
    """Against the working directory, `~` expanded; symlinks kept (dbt-duckdb names the
    database after the file name it is given)."""
    return Path(path).expanduser().absolute()
