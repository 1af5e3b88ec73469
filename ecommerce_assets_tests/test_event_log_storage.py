"""The instance's event log keeps its SQLite connections open, and loses nothing by it."""

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from ecommerce_assets.event_log_storage import PooledSqliteEventLogStorage

REPO = Path(__file__).resolve().parents[1]
DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-04")

READ_ELSEWHERE = """
import sys
import dagster as dg
with dg.DagsterInstance.get() as instance:
    records = instance.fetch_materializations(dg.AssetKey("daily_thing"), limit=100).records
    print(sorted(r.partition_key for r in records))
"""


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def daily_thing(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})


@pytest.fixture
def project_instance(tmp_path, monkeypatch):
    """A DagsterInstance built from the project's own instance/dagster.yaml."""
    shutil.copy(REPO / "instance" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        yield instance


def test_the_project_instance_uses_the_pooled_event_log(project_instance):
    assert isinstance(project_instance.event_log_storage, PooledSqliteEventLogStorage)


def test_a_range_run_is_stored_on_a_few_connections_and_read_back_by_another_process(project_instance, tmp_path):
    storage = project_instance.event_log_storage
    opened = []
    sa.event.listen(storage._pooled_engine(), "connect", lambda *_: opened.append(1))

    result = dg.materialize([daily_thing], instance=project_instance,
                            tags={"dagster/asset_partition_range_start": "2026-11-01",
                                  "dagster/asset_partition_range_end": "2026-11-03"})

    assert result.success
    events = project_instance.all_logs(result.run_id)
    assert len(events) > 10
    # The stock storage opens a connection per write, two or three per asset event.
    assert len(opened) <= 3
    elsewhere = subprocess.run([sys.executable, "-c", READ_ELSEWHERE], capture_output=True, text=True,
                               env={"DAGSTER_HOME": str(tmp_path), "PATH": ""}, check=True)
    assert elsewhere.stdout.strip() == "['2026-11-01', '2026-11-02', '2026-11-03']"


def test_connections_commit_in_wal_mode_without_a_sync_per_commit(project_instance):
    with project_instance.event_log_storage.index_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
