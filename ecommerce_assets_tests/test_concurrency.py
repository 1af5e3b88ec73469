"""Two writers at once never fail on DuckDB's lock: they take turns."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from ecommerce_assets.locking import WarehouseBusy, dbt_lock_path, exclusive, lock_path
from ecommerce_assets.resources import Warehouse

from .pipeline import copy_shop

REPO = Path(__file__).resolve().parents[1]

HOLD_LOCK = """
import sys, time
from ecommerce_assets.locking import exclusive
with exclusive(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""

RUN_SLICE = """
import sys
from datetime import date
from ecommerce_assets_tests.pipeline import Shop, materialize, shop_environment
shop = Shop(__import__("pathlib").Path(sys.argv[1]), date(2026, 11, 2), date(2026, 11, 8))
with shop_environment(shop) as defs:
    result = materialize(defs, sys.argv[2], [date.fromisoformat(sys.argv[3])])
print("ok" if result.success else "failed", flush=True)
"""


def test_the_lock_makes_a_second_writer_wait_then_go(tmp_path):
    db = tmp_path / "ecommerce.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), "1.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    waited = []
    started = time.monotonic()
    with exclusive(db, on_wait=waited.append):
        elapsed = time.monotonic() - started
        with exclusive(db):  # reentrant within a process
            pass
    holder.wait(timeout=10)
    assert waited and "waiting for the warehouse" in waited[0]
    assert elapsed > 0.5
    assert lock_path(db).exists()


def test_a_writer_gives_up_with_a_clear_error_after_its_timeout(tmp_path):
    db = tmp_path / "ecommerce.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), "3"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(WarehouseBusy, match="another writer"):
        with exclusive(db, timeout=0.5):
            pass
    holder.wait(timeout=10)


def wait_until_locked_by_another_process(db: Path, holder: subprocess.Popen, timeout: float = 120,
                                         lock: Callable[[Path], Path] = lock_path) -> None:
    """Return once another process holds the warehouse's write lock (polled, never held long:
    a writer that meets the probe's brief hold just waits its 0.2 s turn)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and holder.poll() is None:
        fd = os.open(lock(db), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            return
        finally:
            os.close(fd)
        time.sleep(0.05)
    raise AssertionError(f"no other process took the lock on {db} within {timeout} s (exit code {holder.poll()})")


def test_two_runs_writing_at_once_both_succeed_with_the_right_data(range_shop, tmp_path):
    """A dbt build (its subprocess holds the DuckDB file) and a raw load start together."""
    shop = copy_shop(range_shop, tmp_path / "concurrent")
    before = shop.query("SELECT event_date, count(*) FROM raw.events GROUP BY 1 ORDER BY 1")
    daily = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RUN_SLICE), str(shop.root), "tag:partitioning=daily and not group:raw", "2026-11-05"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_until_locked_by_another_process(shop.db, daily)  # the dbt build is under way
    raw = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RUN_SLICE), str(shop.root), "key:raw/events", "2026-11-06"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    outputs = [p.communicate(timeout=300) for p in (daily, raw)]
    for process, (out, err) in zip((daily, raw), outputs):
        assert process.returncode == 0 and out.strip().endswith("ok"), err[-3000:]
    assert "waiting for the warehouse" in outputs[1][1]  # they did collide, and the second waited
    assert shop.query("SELECT event_date, count(*) FROM raw.events GROUP BY 1 ORDER BY 1") == before
    assert shop.query("SELECT count(*) FROM staging.stg_events WHERE event_date = DATE '2026-11-05'")[0][0] > 0


def test_a_killed_runs_dbt_build_keeps_the_warehouse_until_it_ends(range_shop, tmp_path):
    """SIGKILL ends the run's process, not its dbt subprocess, which goes on writing: the next
    writer waits for it instead of failing on DuckDB's lock."""
    shop = copy_shop(range_shop, tmp_path / "killed")
    daily = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RUN_SLICE), str(shop.root), "tag:partitioning=daily and not group:raw", "2026-11-05"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_until_locked_by_another_process(shop.db, daily, lock=dbt_lock_path)  # dbt is writing
    daily.kill()
    daily.wait(timeout=10)
    raw = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUN_SLICE), str(shop.root), "key:raw/events", "2026-11-06"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert raw.returncode == 0 and raw.stdout.strip().endswith("ok"), raw.stderr[-3000:]
    assert "the dbt build of a run that was killed is still writing" in raw.stderr


def test_dbt_holds_its_lock_while_it_runs(tmp_path):
    db = tmp_path / "ecommerce.duckdb"
    fake_dbt = (
        "import sys, time, dbt.cli.main\n"
        "def cli():\n    print('dbt', sys.argv[1:], flush=True); time.sleep(2); return 0\n"
        "dbt.cli.main.cli = cli\n"
        "sys.argv = ['ecommerce-assets-dbt', 'build']\n"
        "from ecommerce_assets.dbt_process import main\nmain()\n"
    )
    dbt = subprocess.Popen([sys.executable, "-c", fake_dbt], env={**os.environ, "ECOMMERCE_DUCKDB_PATH": str(db)},
                           stdout=subprocess.PIPE, text=True)
    assert dbt.stdout.readline().strip() == "dbt ['build']"
    with pytest.raises(WarehouseBusy, match="the dbt build of a run that was killed is still writing"):
        with exclusive(db, timeout=0.3):
            pass
    assert dbt.wait(timeout=10) == 0
    with exclusive(db, timeout=0.3):
        pass


def test_a_failure_inside_a_warehouse_connection_closes_it_before_the_lock_is_released(tmp_path):
    warehouse = Warehouse(database=str(tmp_path / "ecommerce.duckdb"))
    with pytest.raises(ZeroDivisionError):
        with warehouse.get_connection() as con:
            con.execute("CREATE TABLE t AS SELECT 1 AS x")
            1 / 0

    with pytest.raises(duckdb.ConnectionException, match="closed"):
        con.execute("SELECT 1")
    # Another configuration of the same file (as a reader or another process would open it) is free to open.
    with duckdb.connect(str(tmp_path / "ecommerce.duckdb"), read_only=True) as reader:
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]
