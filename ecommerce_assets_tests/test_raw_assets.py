"""The raw assets, materialised by Dagster for real, from files and from a real HTTP server."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from ecommerce_assets.assets import RAW_ASSETS, raw_carts, raw_events, raw_products, raw_users
from ecommerce_assets.definitions import defs
from ecommerce_assets.metadata import partition_counts
from ecommerce_assets.resources import FakeStore, Landing, Warehouse
from ecommerce_assets.sources.fakestore_local import LocalFakeStore
from ecommerce_assets.sources.fakestore_server import Faults, running_server
from ecommerce_assets.sources.landing import carts_path, event_day_dir, products_path, users_path

from .conftest import FAKESTORE_PRODUCTS, FAKESTORE_USERS, write_json

DAY = date(2026, 11, 20)
NEXT_DAY = date(2026, 11, 21)


def resources(tmp_path: Path, landing: Path, base_url: str | None = None) -> dict:
    return {
        "warehouse": Warehouse(database=str(tmp_path / "wh" / "ecommerce.duckdb")),
        "fakestore": FakeStore(base_url=base_url, landing_dir=str(landing), max_attempts=3),
        "landing": Landing(path=str(landing)),
    }


def query(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "wh" / "ecommerce.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def metadata_of(result: dg.ExecuteInProcessResult, asset_key: list[str]) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset_key)]
    assert events, f"no materialization of {asset_key}"
    return events[-1].materialization.metadata


def test_snapshots_land_valid_records_and_quarantine_the_rest(tmp_path, fakestore_landing):
    bad_product = {**FAKESTORE_PRODUCTS[0], "id": 9, "price": -3}
    bad_user = {**FAKESTORE_USERS[0], "id": 7, "email": "not-an-email", "password": "hunter2-secret"}
    write_json(products_path(fakestore_landing), FAKESTORE_PRODUCTS + [bad_product])
    write_json(users_path(fakestore_landing), FAKESTORE_USERS + [bad_user])

    result = dg.materialize([raw_products, raw_users], resources=resources(tmp_path, fakestore_landing))

    assert result.success
    assert query(tmp_path, "SELECT id, title, price FROM raw.products ORDER BY id") == [
        (1, "Backpack ", 109.95), (2, "Gold Ring", 695.0), (3, "SSD 1TB", 64.5)
    ]
    assert query(tmp_path, "SELECT record_key, field, rule FROM raw.products_rejected") == [("9", "price", "greater_than_equal")]
    assert query(tmp_path, "SELECT record_key, field, rule FROM raw.users_rejected") == [("7", "email", "string_pattern_mismatch")]
    [(source, payload)] = query(tmp_path, "SELECT source, payload FROM raw.users_rejected")
    assert source.endswith("users.json") and "password" not in json.loads(payload)
    meta = metadata_of(result, ["raw", "products"])
    assert meta["dagster/row_count"].value == 3 and meta["rejected"].value == 1
    assert [c.name for c in meta["dagster/column_schema"].schema.columns][:3] == ["id", "title", "price"]
    assert "Gold Ring" in meta["preview"].value


def test_passwords_never_land_anywhere(tmp_path, fakestore_landing):
    dg.materialize([raw_users], resources=resources(tmp_path, fakestore_landing))
    columns = query(tmp_path, "SELECT column_name FROM information_schema.columns WHERE table_name LIKE 'users%'")
    assert "password" not in {c for (c,) in columns}
    warehouse_bytes = (tmp_path / "wh" / "ecommerce.duckdb").read_bytes()
    for user in FAKESTORE_USERS:
        assert user["password"].encode() not in warehouse_bytes


def test_carts_over_http_per_partition_with_retries(tmp_path, fakestore_landing):
    store = LocalFakeStore(fakestore_landing)
    with running_server(store, faults=Faults(fail_first=1, retry_after=0.01)) as base_url:
        res = resources(tmp_path, fakestore_landing, base_url=base_url)
        first = dg.materialize([raw_carts], resources=res, partition_key=DAY.isoformat())
        rows = query(tmp_path, "SELECT * EXCLUDE (_loaded_at) FROM raw.carts ORDER BY id")
        again = dg.materialize([raw_carts], resources=res, partition_key=DAY.isoformat())
        assert query(tmp_path, "SELECT * EXCLUDE (_loaded_at) FROM raw.carts ORDER BY id") == rows
        dg.materialize([raw_carts], resources=res, partition_key="2026-11-19")

    assert first.success and again.success
    assert [(r[0], r[1], str(r[2]), r[4]) for r in rows] == [
        (2, 1, "2026-11-20 00:00:00", DAY),
        (3, 2, "2026-11-20 13:05:00", DAY),
    ]
    assert rows[1][3] == [{"product_id": 1, "quantity": 1}, {"product_id": 3, "quantity": 4}]
    assert query(tmp_path, "SELECT id FROM raw.carts ORDER BY id") == [(1,), (2,), (3,)]
    assert "startdate=2026-11-20" in metadata_of(first, ["raw", "carts"])["source"].value


def test_carts_breaking_the_contract_are_quarantined_with_their_url(tmp_path, fakestore_landing):
    carts = json.loads(carts_path(fakestore_landing, DAY).read_text())
    carts.append({"id": 8, "userId": 1, "date": "2026-11-20T10:00:00.000Z", "products": [{"productId": 1, "quantity": 0}]})
    write_json(carts_path(fakestore_landing, DAY), carts)
    with running_server(LocalFakeStore(fakestore_landing)) as base_url:
        dg.materialize([raw_carts], resources=resources(tmp_path, fakestore_landing, base_url), partition_key=DAY.isoformat())

    [(key, field, rule, source)] = query(tmp_path, "SELECT record_key, field, rule, source FROM raw.carts_rejected")
    assert (key, field, rule) == ("8", "products.0.quantity", "greater_than_equal")
    assert source.startswith("http://127.0.0.1:") and "/carts?" in source
    assert query(tmp_path, "SELECT count(*) FROM raw.carts") == [(2,)]


def test_a_source_that_gives_up_fails_the_run_and_keeps_the_warehouse(tmp_path, fakestore_landing):
    res_ok = resources(tmp_path, fakestore_landing)
    dg.materialize([raw_products], resources=res_ok)
    before = query(tmp_path, "SELECT * EXCLUDE (_loaded_at) FROM raw.products ORDER BY id")
    with running_server(LocalFakeStore(fakestore_landing), faults=Faults(fail_first=10)) as base_url:
        res = {**res_ok, "fakestore": FakeStore(base_url=base_url, landing_dir=str(fakestore_landing), max_attempts=2)}
        result = dg.materialize([raw_products], resources=res, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.cause
    assert failure.cls_name == "FakeStoreError"
    assert "503" in failure.message and "/products" in failure.message and "2 attempts" in failure.message
    assert query(tmp_path, "SELECT * EXCLUDE (_loaded_at) FROM raw.products ORDER BY id") == before


def test_events_partition_from_the_landing_directory(tmp_path):
    landing = tmp_path / "landing"
    day_dir = event_day_dir(landing, DAY)
    day_dir.mkdir(parents=True)
    good = {"event_id": "e1", "event_time": "2026-11-20T10:00:00Z", "event_type": "page_view", "user_id": 1,
            "session_id": "s", "page": "/", "device": "desktop"}
    (day_dir / "part-00.jsonl").write_text("\n".join([json.dumps(good), json.dumps(good), "{oops"]) + "\n")
    (day_dir / "part-01.JSONL").write_text(json.dumps({**good, "event_id": "e2"}) + "\n")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([raw_events], resources=resources(tmp_path, landing), partition_key=DAY.isoformat(),
                            instance=instance)

    meta = metadata_of(result, ["raw", "events"])
    assert (meta["dagster/row_count"].value, meta["rejected"].value, meta["duplicates"].value) == (1, 1, 1)
    assert meta["reject_rate"].value == 0.5  # as the check measures it: a duplicate is no refusal
    assert query(tmp_path, "SELECT event_id, event_date FROM raw.events") == [("e1", DAY)]
    warnings = [e.user_message for e in instance.all_logs(result.run_id)
                if e.level == logging.WARNING and "not read" in e.user_message]
    assert len(warnings) == 1 and "part-01.JSONL" in warnings[0]

    # The next day: the table's count and the partition's own.
    next_dir = event_day_dir(landing, NEXT_DAY)
    next_dir.mkdir(parents=True)
    at = {"event_time": "2026-11-21T10:00:00Z"}
    (next_dir / "part-00.jsonl").write_text(
        "\n".join(json.dumps({**good, **at, "event_id": f"n{i}"}) for i in range(2)) + "\n")
    result = dg.materialize([raw_events], resources=resources(tmp_path, landing), partition_key=NEXT_DAY.isoformat())
    meta = metadata_of(result, ["raw", "events"])
    assert (meta["dagster/row_count"].value, meta["dagster/partition_row_count"].value) == (3, 2)


def test_a_landing_directory_without_an_events_folder_fails_naming_it(tmp_path):
    result = dg.materialize([raw_events], resources=resources(tmp_path, tmp_path / "nope"),
                            partition_key=DAY.isoformat(), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert f"no events folder at {tmp_path / 'nope' / 'events'}" in failure.description
    assert "ECOMMERCE_LANDING_DIR" in failure.description


def test_a_range_run_reports_each_days_rows():
    two_days = (DAY, NEXT_DAY + timedelta(days=1))
    assert partition_counts({DAY: 1, NEXT_DAY: 2}, two_days)["rows_by_day"].value == {"2026-11-20": 1, "2026-11-21": 2}
    assert partition_counts({DAY: 0}, (DAY, NEXT_DAY)) == {"dagster/partition_row_count": dg.MetadataValue.int(0)}
    assert partition_counts(None, None) == {}


def test_every_asset_has_description_owner_group_kinds_and_table_metadata():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert {k.to_user_string() for k in keys} >= {"raw/products", "raw/users", "raw/carts", "raw/events"}
    for key in keys:
        spec = graph.get(key)
        assert spec.description and len(spec.description) > 20, key
        assert spec.owners == ["team:analytics-engineering"], key
        assert spec.group_name, key
        assert "duckdb" in spec.kinds and ("python" in spec.kinds or "dbt" in spec.kinds), key
        assert "dagster/table_name" in spec.metadata and "dagster/column_schema" in spec.metadata, key


def test_partitioned_raw_assets_share_one_daily_partitioning_and_run_ranges_as_one():
    partitioned = [a for a in RAW_ASSETS if a.partitions_def is not None]
    assert {a.key.to_user_string() for a in partitioned} == {"raw/carts", "raw/events"}
    assert len({id(a.partitions_def) for a in partitioned}) == 1
    assert all(a.backfill_policy == dg.BackfillPolicy.single_run() for a in partitioned)


def test_any_selection_can_take_a_partition_range_from_the_cli():
    # `dagster asset materialize --partition-range` refuses a selection holding an asset
    # without a single-run policy, such as `+key:"marts/fct_daily_sales"` with its snapshots.
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), key.to_user_string()


def test_a_rejected_record_holding_a_lone_surrogate_is_kept_and_the_rest_loads(tmp_path, fakestore_landing):
    # JSON may escape half of a UTF-16 pair; Python reads it as a string UTF-8 cannot encode.
    text = json.dumps(FAKESTORE_PRODUCTS + [{**FAKESTORE_PRODUCTS[0], "id": 9, "title": "ba\\ud800d"}])
    products_path(fakestore_landing).write_text(text.replace("ba\\\\ud800d", "ba\\ud800d"))

    result = dg.materialize([raw_products], resources=resources(tmp_path, fakestore_landing))

    assert result.success
    assert query(tmp_path, "SELECT count(*) FROM raw.products") == [(3,)]
    [(key, rule, payload)] = query(tmp_path, "SELECT record_key, rule, payload FROM raw.products_rejected")
    assert (key, rule) == ("9", "string_unicode") and json.loads(payload)["title"] == "ba\ud800d"


def test_a_snapshot_delivered_empty_keeps_the_rows_held(tmp_path, fakestore_landing):
    res = resources(tmp_path, fakestore_landing)
    dg.materialize([raw_products], resources=res)
    before = query(tmp_path, "SELECT * FROM raw.products ORDER BY id")
    write_json(products_path(fakestore_landing), [{**FAKESTORE_PRODUCTS[0], "price": -1}])

    result = dg.materialize([raw_products], resources=res, raise_on_error=False)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.cause
    assert failure.cls_name == "EmptySnapshotError"
    assert "1 record(s), all refused, first: price" in failure.message and "the 3 rows held are kept" in failure.message
    assert query(tmp_path, "SELECT * FROM raw.products ORDER BY id") == before
    assert query(tmp_path, "SELECT count(*) FROM raw.products_rejected") == [(0,)]


def test_a_password_spelt_otherwise_lands_nowhere(tmp_path, fakestore_landing):
    users = [{**FAKESTORE_USERS[0], "id": 5, "Password": "Sp3lt-0therwise", "email": "not-an-email"}]
    write_json(users_path(fakestore_landing), FAKESTORE_USERS + users)

    dg.materialize([raw_users], resources=resources(tmp_path, fakestore_landing))

    assert query(tmp_path, "SELECT record_key FROM raw.users_rejected") == [("5",)]
    assert b"Sp3lt-0therwise" not in (tmp_path / "wh" / "ecommerce.duckdb").read_bytes()
