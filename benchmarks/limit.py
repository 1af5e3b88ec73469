"""The limit: the same day's work as plain SQL in one DuckDB connection, no Dagster, no dbt.

The dbt project is rendered once, untimed, for the day's window (`dbt compile`), and each
model and snapshot becomes what its materialization does: a daily incremental model deletes
the window of its partition column (its pre-hook) and inserts its select; a table model is
created or replaced; a snapshot (strategy `check`, hard deletes ignored) closes the open
versions whose checked columns changed and inserts a new version for every key without an
open one, with dbt's timestamps and `dbt_scd_id`. The plain load of the day
(`peer.load_day`) and these statements then run in topological order in one transaction.

Fair as a floor because it is the same SQL over the same data as our run of that day,
starting from the same history, with everything around it taken away: processes, parsing,
Jinja, orchestration, tests, checks and validation. What remains is DuckDB doing the work.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, timedelta
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

from peer import RAW_TABLES, fingerprint, load_day, peer_run
from shop import BenchShop

from ecommerce_assets.dbt_project import window_env
from ecommerce_assets.warehouse import Window, window_filter


def compile_statements(shop: BenchShop, day: date) -> list[str]:
    """The dbt project's models and snapshots for the window [day, day + 1), as plain SQL in
    dependency order. Compiles against the shop's database, whose name the SQL carries."""
    window = (day, day + timedelta(days=1))
    target = shop.root / "limit_target"
    shop.dbt("compile", "--select", "resource_type:model resource_type:snapshot", target=target, env=window_env(*window))
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] in ("model", "snapshot")}
    graph = {uid: [parent for parent in node["depends_on"]["nodes"] if parent in nodes] for uid, node in nodes.items()}
    return [sql for uid in TopologicalSorter(graph).static_order() for sql in node_statements(nodes[uid], window)]


def node_statements(node: dict, window: Window) -> list[str]:
    """What dbt's materialization of `node` executes, as plain SQL."""
    config, relation, select = node["config"], node["relation_name"], node["compiled_code"]
    if config["materialized"] == "table":
        return [f"CREATE OR REPLACE TABLE {relation} AS (\n{select}\n)"]
    if config["materialized"] == "incremental" and config["incremental_strategy"] == "append":
        column = config["meta"]["partition_column"]  # what the delete_partition_window() pre-hook reads
        return [f"DELETE FROM {relation} WHERE {window_filter(column, window)}",
                f"INSERT INTO {relation} BY NAME SELECT * FROM (\n{select}\n)"]
    if config["materialized"] == "snapshot" and config["strategy"] == "check" and config["hard_deletes"] == "ignore":
        return snapshot_statements(relation, select, config["unique_key"], config["check_cols"])
    raise ValueError(f"{node['unique_id']}: no plain SQL for this materialization")


def snapshot_statements(relation: str, select: str, key: str, check_cols: list[str]) -> list[str]:
    """SCD2 with dbt's check strategy: `now()` is the transaction's start, one time for both."""
    changed = " OR ".join(f'old."{c}" IS DISTINCT FROM new."{c}"' for c in check_cols)
    now = "now()::TIMESTAMP"
    scd_id = f"md5(coalesce(cast(new.\"{key}\" as varchar), '') || '|' || coalesce(cast({now} as varchar), ''))"
    return [
        f'UPDATE {relation} AS old SET dbt_valid_to = {now} FROM (\n{select}\n) AS new '
        f'WHERE old."{key}" = new."{key}" AND old.dbt_valid_to IS NULL AND ({changed})',
        f"INSERT INTO {relation} BY NAME SELECT new.*, {scd_id} AS dbt_scd_id, {now} AS dbt_updated_at, "
        f"{now} AS dbt_valid_from, NULL::TIMESTAMP AS dbt_valid_to FROM (\n{select}\n) AS new "
        f'WHERE NOT EXISTS (SELECT 1 FROM {relation} AS old WHERE old."{key}" = new."{key}" AND old.dbt_valid_to IS NULL)',
    ]


def drop_not_null_constraints(con: duckdb.DuckDBPyConnection) -> None:
    """The limit runs no checks, and the model contracts' not-null constraints are checks: the
    plain load keeps the rows our contracts reject (a null event_id among them)."""
    for schema, table, column in con.sql(
            "SELECT schema_name, table_name, unnest(constraint_column_names) FROM duckdb_constraints() "
            "WHERE constraint_type = 'NOT NULL' AND schema_name <> 'raw'").fetchall():
        con.execute(f'ALTER TABLE "{schema}"."{table}" ALTER COLUMN "{column}" DROP NOT NULL')


def limit_run(db: Path, landing: Path, day: date, statements: list[str]) -> dict[str, float]:
    """The plain load of `day` and the compiled statements, in one connection and transaction.
    `db` is named like the database compiled against (ecommerce.duckdb) and holds the history before `day`."""
    with duckdb.connect(str(db)) as con:
        drop_not_null_constraints(con)
    started = time.perf_counter()
    with duckdb.connect(str(db)) as con:
        con.execute("BEGIN TRANSACTION")
        load_day(con, landing, day)
        loaded = time.perf_counter()
        for sql in statements:
            con.execute(sql)
        con.execute("COMMIT")
        transformed = time.perf_counter()
    finished = time.perf_counter()
    return {"seconds": round(finished - started, 2), "load_seconds": round(loaded - started, 2),
            "transform_seconds": round(transformed - loaded, 2)}


def verify(root: Path, first: date = date(2026, 11, 1), days: int = 3, events_per_day: int = 50_000) -> None:
    """On one clean synthetic shop: our daily runs, the peer's and, for the last day, the
    limit's produce the same raw tables and marts. Prints timings and any mismatch, then
    fails if there is one."""
    last = first + timedelta(days=days - 1)
    ours = BenchShop(root / "ours", first - timedelta(days=31)).create()
    ours.generate(first, last, events_per_day, clean=True)
    peer = BenchShop(root / "peer", ours.start_date).create()
    shutil.copytree(ours.landing, peer.landing)
    limit_db = root / "limit" / ours.db.name
    for n in range(days):
        day = first + timedelta(days=n)
        if day == last:
            limit_db.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ours.db, limit_db)
            statements = compile_statements(ours, day)
        timing = ours.whole_graph(day)
        print(f"{day} ours: {timing.process_seconds} s (run {timing.run_seconds} s); peer: {peer_run(peer, day)}", flush=True)
    print(f"{last} limit: {limit_run(limit_db, ours.landing, last, statements)} ({len(statements)} statements)")
    mismatches = 0
    for schema in ("raw", "marts"):
        expected = fingerprint(ours.db, schema)
        got = {"peer": fingerprint(peer.db, schema), "limit": fingerprint(limit_db, schema)}
        for table in RAW_TABLES if schema == "raw" else expected:
            verdicts = {name: prints.get(table) == expected[table] for name, prints in got.items()}
            mismatches += list(verdicts.values()).count(False)
            print(f"{schema}.{table:26} ours {expected[table]:45}", *(
                f"{name} {'equal' if same else 'DIFFERS: ' + str(got[name].get(table))}" for name, same in verdicts.items()))
    if mismatches:
        raise SystemExit(f"{mismatches} mismatches")
