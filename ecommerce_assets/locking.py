"""One writer at a time on the DuckDB file, across processes.

DuckDB admits one writing process per file. The run queue (`instance/dagster.yaml`)
serialises the runs Dagster launches, but not a CLI materialisation, a test or a second
`dagster dev` started at the same time, and dbt opens the file from its own subprocess. So
every writer (an asset's connection, a whole `dbt build`) holds an exclusive lock on
`<file>.lock`; a second writer waits its turn instead of failing on DuckDB's lock. The lock
is reentrant within a process, so a step that holds it may open connections inside it.

A lock dies with its process, and dbt's does not die with the step that started it: a run
killed with SIGKILL (the OOM killer, `kill -9`) frees `<file>.lock` while its `dbt build`
goes on writing. So the dbt process holds `<file>.dbt.lock` itself for as long as it runs
(`dbt_process`), and a writer that takes the lock also waits for that one to be free.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TIMEOUT_SECONDS = 6 * 3600
log = logging.getLogger(__name__)
_held: dict[str, tuple[int, int]] = {}  # lock path -> (file descriptor, depth)
_guard = threading.RLock()


class WarehouseBusy(TimeoutError):
    """The warehouse stayed locked by another writer for longer than the timeout."""


def lock_path(database: str | Path) -> Path:
    return Path(f"{Path(database).absolute()}.lock")


def dbt_lock_path(database: str | Path) -> Path:
    return Path(f"{Path(database).absolute()}.dbt.lock")


@contextmanager
def exclusive(database: str | Path, timeout: float = DEFAULT_TIMEOUT_SECONDS, on_wait=None) -> Iterator[None]:
    """Hold the warehouse's write lock; wait (polling) while another process holds it."""
    path = str(lock_path(database))
    with _guard:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if not reentered:
        fd = _acquire(database, timeout, on_wait)
        with _guard:
            _held[path] = (fd, 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held[path]
            if depth > 1:
                _held[path] = (fd, depth - 1)
            else:
                del _held[path]
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


@contextmanager
def held_by_dbt(database: str | Path) -> Iterator[None]:
    """Held by a dbt process for its whole life; free as soon as it exits, however it ends.

    Its parent step already holds the write lock, and waited for this one to be free, so
    it is taken at once unless a killed run's dbt still writes."""
    fd = _open(dbt_lock_path(database))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _acquire(database: str | Path, timeout: float, on_wait) -> int:
    """The write lock, once no dbt process of a killed run is writing any more."""
    deadline = time.monotonic() + timeout
    fd = _take(lock_path(database), deadline, timeout, on_wait, "another run is writing")
    try:
        os.close(_take(dbt_lock_path(database), deadline, timeout, on_wait,
                       "the dbt build of a run that was killed is still writing"))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _take(path: Path, deadline: float, timeout: float, on_wait, why: str) -> int:
    fd = _open(path)
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise WarehouseBusy(f"{path}: another writer held the warehouse for over {timeout:g} s ({why})") from None
            if not announced:
                (on_wait or log.warning)(f"waiting for the warehouse: {why} ({path})")
                announced = True
            time.sleep(0.2)
