"""The landing directory layout: the one place that knows where files live.

    <landing>/events/date=YYYY-MM-DD/*.jsonl[.gz]     clickstream, one folder per UTC day
    <landing>/fakestore/products.json                 synthetic Fake Store catalogue
    <landing>/fakestore/users.json                    synthetic Fake Store users
    <landing>/fakestore/carts/date=YYYY-MM-DD.json    synthetic Fake Store carts of one day
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

EVENT_FILE_SUFFIXES = (".jsonl", ".jsonl.gz")


def events_root(landing_dir: Path) -> Path:
    return Path(landing_dir) / "events"


def event_day_dir(landing_dir: Path, day: date) -> Path:
    return events_root(landing_dir) / f"date={day.isoformat()}"


def is_hidden(path: Path) -> bool:
    """A file the collector's tooling keeps beside the events (`.part-00.jsonl.tmp`, `_SUCCESS`)."""
    return path.name.startswith((".", "_"))


def is_event_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(EVENT_FILE_SUFFIXES) and not is_hidden(path)


def event_files(landing_dir: Path, day: date) -> list[Path]:
    """The event files of one day, sorted by name (so first delivery wins on duplicates)."""
    folder = event_day_dir(landing_dir, day)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_event_file(p))


def unrecognised_files(landing_dir: Path, day: date) -> list[Path]:
    """Files in a day's folder that are neither event files nor hidden: never read, so worth a warning
    (`part-01.JSONL`, `events.json`, `part-02.jsonl.zst`)."""
    folder = event_day_dir(landing_dir, day)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not is_hidden(p) and not is_event_file(p))


def day_of_event_dir(folder: Path) -> date | None:
    """The day a `date=YYYY-MM-DD` folder holds, or None for anything else."""
    name = Path(folder).name
    if not name.startswith("date="):
        return None
    try:
        return date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return None


def fakestore_dir(landing_dir: Path) -> Path:
    return Path(landing_dir) / "fakestore"


def products_path(landing_dir: Path) -> Path:
    return fakestore_dir(landing_dir) / "products.json"


def users_path(landing_dir: Path) -> Path:
    return fakestore_dir(landing_dir) / "users.json"


def carts_dir(landing_dir: Path) -> Path:
    return fakestore_dir(landing_dir) / "carts"


def carts_path(landing_dir: Path, day: date) -> Path:
    return carts_dir(landing_dir) / f"date={day.isoformat()}.json"
