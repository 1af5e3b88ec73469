"""The asset-check report: every check in the definitions and its latest state in the instance.

`ecommerce-assets checks [--format text|json|markdown]` prints it and exits non-zero when
a blocking check's latest result failed, so a script can decide whether today's numbers
can be trusted.

How the instance records checks (Dagster 1.13), and how the report reads it:
- A run plans its checks when it is created: one PLANNED row per check and planned
  partition, even for an unpartitioned check on a partitioned asset.
- The evaluation lands in a *new* row, with a partition only if the check itself is
  partitioned and the run was one partition (or the check yields one evaluation per day,
  as `checks.py` does). A range run otherwise evaluates each check once, with no partition.
  So a PLANNED row whose run evaluated the check, for its partition or once for the whole
  range, is covered by that evaluation and is not a state of its own.
- A per-partition check has a row per partition: the most recent few, and any older one
  whose last result failed or warned. A check of a partitioned asset that is not itself
  partitioned (a dbt test of a daily model, which reads its run's window) has a row per day
  or range its runs covered, the same way: a failed day stays until a run covering it
  passes. The whole history is read, page by page.
- A PLANNED row of a run still queued or in progress is `planned`; of a finished run
  (succeeded, failed or canceled before the check ran) it is `skipped`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (  # not exported at the top level in 1.13
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from ecommerce_assets.jobs import run_partition
from ecommerce_assets.partitions import days_in

FORMATS = ("text", "json", "markdown")
PASSED, FAILED, WARNED, SKIPPED, PLANNED, NEVER_RUN = "passed", "failed", "warned", "skipped", "planned", "never run"
# How many of the most recent partitions (or days and ranges run) the report shows; older
# ones only if they failed. A check's whole history is read, page by page.
HISTORY_PAGE = 1000
RECENT_PARTITIONS = 7
# Metadata that identifies an execution rather than saying anything about the data.
NOISE = {"unique_id", "invocation_id", "dagster/column_schema", "Execution Duration"}


@dataclass(frozen=True)
class CheckRow:
    asset: str
    check: str
    partition: str | None  # a partition, a range run's `start...end`, or None
    status: str  # passed, failed, warned, skipped, planned, never run
    last_result: str | None  # the latest evaluation (passed/failed/warned), also under planned/skipped
    severity: str | None  # of the latest evaluation: ERROR or WARN
    blocking: bool
    metadata: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    when: str | None = None  # ISO-8601 UTC
    run_id: str | None = None


class _Runs:
    """Run lookups, once per run."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self._instance, self._runs = instance, {}

    def get(self, run_id: str) -> dg.DagsterRun | None:
        if run_id not in self._runs:
            self._runs[run_id] = self._instance.get_run_by_id(run_id)
        return self._runs[run_id]


@dataclass(frozen=True)
class _Node:
    blocking: bool
    partitioned: bool  # the check itself
    asset_partitioned: bool


def _node(asset_graph, key: dg.AssetCheckKey) -> _Node:
    check = asset_graph.get(key)
    asset = asset_graph.get(key.asset_key) if asset_graph.has(key.asset_key) else None
    return _Node(check.blocking, check.partitions_def is not None, bool(asset and asset.partitions_def))


def check_history(instance: dg.DagsterInstance, key: dg.AssetCheckKey,
                  status: set[AssetCheckExecutionRecordStatus] | None = None) -> Iterator[AssetCheckExecutionRecord]:
    """Every execution of a check (of those statuses), newest planned first, page by page."""
    cursor = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=HISTORY_PAGE, cursor=cursor, status=status
        )
        yield from page
        if len(page) < HISTORY_PAGE:
            return
        cursor = page[-1].id


def _records(instance: dg.DagsterInstance, key: dg.AssetCheckKey, node: _Node) -> Iterable[AssetCheckExecutionRecord]:
    """Newest first. A check of an unpartitioned asset needs only its newest row and newest evaluation."""
    if node.partitioned or node.asset_partitioned:
        return check_history(instance, key)
    history = instance.event_log_storage.get_asset_check_execution_history
    rows = [*history(key, limit=1), *history(key, limit=1, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)]
    return sorted({r.id: r for r in rows}.values(), key=lambda r: r.id, reverse=True)


def _days(window: str | None) -> frozenset[str]:
    """The days a run's partition or range (`start...end`) covers."""
    if window is None:
        return frozenset()
    start, _, end = window.partition("...")
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end or start)
    except ValueError:
        return frozenset()  # not a day: a key of its own, covering nothing else
    return frozenset(day.isoformat() for day in days_in((first, last + timedelta(days=1))))


def _latest(records: Iterable[AssetCheckExecutionRecord], key_of: Callable[[AssetCheckExecutionRecord], str | None]):
    """Per key (a partition, or the day or range a run covered): the latest execution and
    the latest evaluation. An evaluation whose days a newer evaluation covered entirely
    (a day run again, or inside a range run again) is history, not a state."""
    latest, evaluated, done, covered = {}, {}, set(), set()
    for record in records:  # newest first: a run's evaluations come before its planned rows
        key = key_of(record)
        if record.status is not AssetCheckExecutionRecordStatus.PLANNED:
            done.add((record.run_id, record.partition))
            days = _days(key)
            if key in evaluated or (days and days <= covered):
                continue
            evaluated[key] = record
            covered |= days
        elif {(record.run_id, record.partition), (record.run_id, None)} & done:
            continue  # its run evaluated it: for this partition, or once for its whole range
        latest.setdefault(key, record)
    return latest, evaluated


def _key_of(node: _Node, runs: _Runs) -> Callable[[AssetCheckExecutionRecord], str | None]:
    """A per-partition check's rows are keyed by partition. A check of a partitioned asset
    that is not partitioned itself (a dbt test of a daily model) reads the window its run
    built: its rows are keyed by the run's day or range, so a day that failed stays failing
    until a run covering it passes, whatever later days did."""
    if node.partitioned:
        return lambda record: record.partition
    if node.asset_partitioned:
        def window(record: AssetCheckExecutionRecord) -> str | None:
            run = runs.get(record.run_id)
            return run_partition(run.tags) if run else None
        return window
    return lambda record: None


def _outcome(record: AssetCheckExecutionRecord | None) -> str | None:
    if record is None or record.evaluation is None:
        return None
    if record.evaluation.passed:
        return PASSED
    return WARNED if record.evaluation.severity == dg.AssetCheckSeverity.WARN else FAILED


def _pending(record: AssetCheckExecutionRecord, run: dg.DagsterRun | None) -> tuple[str, str]:
    if run is None:
        return SKIPPED, f"run {record.run_id} was deleted before the check ran"
    if run.is_finished:
        return SKIPPED, f"run {run.run_id} ended {run.status.value} before the check ran"
    return PLANNED, f"run {run.run_id} is {run.status.value}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def _metadata(record: AssetCheckExecutionRecord | None) -> dict[str, str]:
    if record is None or record.evaluation is None:
        return {}
    return {k: str(v.value)[:200] for k, v in record.evaluation.metadata.items() if k not in NOISE}


def _row(key, node, record, evaluation, partition, runs: _Runs) -> CheckRow:
    common = dict(asset=key.asset_key.to_user_string(), check=key.name, blocking=node.blocking)
    if record is None:
        return CheckRow(partition=partition, status=NEVER_RUN, last_result=None, severity=None, **common)
    run = runs.get(record.run_id)
    if record.status is AssetCheckExecutionRecordStatus.PLANNED:
        status, message = _pending(record, run)
    else:
        status, message = _outcome(record), record.evaluation.description
    if partition is None and run is not None and node.asset_partitioned:
        partition = run_partition(run.tags)  # the day or range the run covered
    return CheckRow(
        partition=partition,
        status=status,
        last_result=_outcome(evaluation),
        # A passed result has no severity to show (dagster-dbt marks every result ERROR).
        severity=evaluation.evaluation.severity.value if _outcome(evaluation) in (FAILED, WARNED) else None,
        metadata=_metadata(evaluation),
        message=message,
        when=_iso(record.event.timestamp if record.event else record.create_timestamp),
        run_id=record.run_id,
        **common,
    )


def _shown(latest: dict, evaluated: dict, recent: int) -> list:
    """A per-day check's most recent partitions, and any older one whose last result was bad."""
    keys = sorted(latest, key=lambda p: p or "", reverse=True)
    bad = {p for p in keys[recent:] if _outcome(evaluated.get(p)) in (FAILED, WARNED)}
    return [p for p in keys if p in keys[:recent] or p in bad]


def check_rows(instance: dg.DagsterInstance, asset_graph, key: dg.AssetCheckKey, runs: _Runs,
               recent: int = RECENT_PARTITIONS) -> list[CheckRow]:
    node = _node(asset_graph, key)
    latest, evaluated = _latest(_records(instance, key, node), _key_of(node, runs))
    if not latest:
        return [_row(key, node, None, None, None, runs)]
    return [_row(key, node, latest[p], evaluated.get(p), p, runs) for p in _shown(latest, evaluated, recent)]


def build_report(instance: dg.DagsterInstance, asset_graph, recent: int = RECENT_PARTITIONS) -> list[CheckRow]:
    """A row per check; for a per-partition check, a row per partition among its `recent`
    latest ones and any older one whose last result failed or warned."""
    runs = _Runs(instance)
    keys = sorted(asset_graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
    rows = [row for key in keys for row in check_rows(instance, asset_graph, key, runs, recent)]
    return sorted(rows, key=lambda r: (r.asset, r.check, r.partition or ""))


def exit_code(rows: Iterable[CheckRow]) -> int:
    """1 when a blocking check's latest result failed (even if a later run skipped it)."""
    return int(any(row.blocking and row.last_result == FAILED for row in rows))


# --- Rendering ---------------------------------------------------------------------------

COLUMNS = ("asset", "check", "partition", "status", "severity", "blocking", "metadata", "when")


def _status_text(row: CheckRow) -> str:
    if row.status in (PLANNED, SKIPPED) and row.last_result:
        return f"{row.status} (last {row.last_result})"
    return row.status


def _cells(row: CheckRow) -> list[str]:
    metadata = ", ".join(f"{k}={v}" for k, v in row.metadata.items())
    cells = [row.asset, row.check, row.partition or "-", _status_text(row), row.severity or "-",
             "yes" if row.blocking else "no", metadata[:80] or "-", row.when or "-"]
    return [" ".join(cell.splitlines()) for cell in cells]  # one line per row, in text as in markdown


def summary(rows: Sequence[CheckRow]) -> str:
    counts = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    blocking = sum(1 for r in rows if r.blocking and r.last_result == FAILED)
    return f"{len(rows)} checks: {parts}; {blocking} blocking failing"


def render_text(rows: Sequence[CheckRow]) -> str:
    table = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table]
    failing = [f"  {r.asset}:{r.check} {r.partition or ''} {r.message or ''}".rstrip()
               for r in rows if r.blocking and r.last_result == FAILED]
    return "\n".join([*lines, "", summary(rows), *(["blocking checks failing:", *failing] if failing else [])])


def render_markdown(rows: Sequence[CheckRow]) -> str:
    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(COLUMNS), line("---" for _ in COLUMNS), *(line(_cells(r)) for r in rows), "", summary(rows)])


def render(rows: Sequence[CheckRow], format: str = "text") -> str:
    if format == "json":
        return json.dumps([asdict(r) for r in rows], indent=2)
    if format == "markdown":
        return render_markdown(rows)
    if format == "text":
        return render_text(rows)
    raise ValueError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")


def main_checks(format: str = "text") -> int:
    """`ecommerce-assets checks`: the report of the project's instance (DAGSTER_HOME)."""
    from ecommerce_assets.definitions import defs

    home = os.environ.get("DAGSTER_HOME")
    if not home or not Path(home).is_dir():
        # Dagster's own message runs to eight lines and suggests a home this project does not use.
        raise ValueError(f"DAGSTER_HOME={home or ''!r} is not a directory: point it at the instance "
                         "whose runs to report (make run and make dev use .dagster_home)")
    with dg.DagsterInstance.get() as instance:
        rows = build_report(instance, defs.resolve_asset_graph())
    print(render(rows, format))
    return exit_code(rows)
