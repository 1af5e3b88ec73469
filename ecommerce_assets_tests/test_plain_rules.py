"""The contract's rules compiled for plain lines: never laxer than the SQL they stand in for."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

from ecommerce_assets.contracts import EVENT_REQUIREMENTS
from ecommerce_assets.event_batches import plain_rules, reader_schema
from ecommerce_assets.event_contract import EVENT_SPECS, WINDOW_FIELD, event_rules
from ecommerce_assets.event_reading import ReadFile, plain_lines
from ecommerce_assets.line_scanner import PLAIN, scan_chunk
from ecommerce_assets.plain_rules import compile_rules, obeying
from ecommerce_assets.validation import Rule, first_failure_sql, sql_literal

from .test_load_events import event

DAY = date(2026, 11, 20)

# Each field's values worth trying: valid ones, each rule's edge on both sides, null and missing.
VARIANTS = {
    "event_type": ["page_view", "add_to_cart", "purchase", "remove_from_cart", "view", "", "page_vie", "page_views"],
    "device": ["mobile", "tablet", "desktop", "phone", ""],
    "page": ["/", "/products/3", "/products/", "/product", ""],
    "event_id": ["e", ""],
    "session_id": ["s", ""],
    "user_id": [1, 0, -3],
    "product_id": [3, 1, 0],
    "price": [5, 0, 0.0, -0.5, 2.25],
    "quantity": [1, 0],
    "cart_id": [1, 0],
    "event_time": ["2026-11-20T00:00:00.000Z", "2026-11-20T23:59:59.999Z", "2026-11-19T23:59:59.999Z",
                   "2026-11-21T00:00:00.000Z"],
}
ABSENT = object()  # the key left out


def lines_to_try() -> list[str]:
    """Every value of one field (with null and missing) against a few bases, and random mixes of all."""
    bases = [event("b"), event("c", event_type="add_to_cart", page="/products/3", product_id=3, price=5, quantity=1),
             event("p", event_type="purchase", page="/products/3", product_id=3, price=5, quantity=1, cart_id=1)]
    records = []
    for base, (name, values) in itertools.product(bases, VARIANTS.items()):
        for value in [*values, None, ABSENT]:
            records.append({k: v for k, v in {**base, name: value}.items() if v is not ABSENT})
    rng = np.random.default_rng(5)
    for _ in range(3000):
        record = {}
        for name, values in VARIANTS.items():
            choice = [*values, None, ABSENT][rng.integers(len(values) + 2)] if rng.random() < 0.3 else values[0]
            if choice is not ABSENT:
                record[name] = choice
        records.append(record)
    return [json.dumps(record, separators=(",", ":")) for record in records]


def sql_and_compiled_verdicts(lines: list[str]) -> tuple[list[bool], list[bool]]:
    data = np.frombuffer(("\n".join(lines) + "\n").encode(), dtype=np.uint8)
    chunk = scan_chunk(data, 0, len(data), reader_schema(), 1)
    assert (chunk.kinds == PLAIN).all()  # every line is plain: the rules, not the reader, judge them
    table = plain_lines([ReadFile(0, DAY, Path("x"), data, [chunk])], EVENT_SPECS, reader_schema()).table
    rules = event_rules(typed=True)
    with duckdb.connect() as con:
        failures = con.from_arrow(table).query(
            "plain", f"SELECT {first_failure_sql(rules)} FROM (SELECT *, {sql_literal(DAY)} AS file_day FROM plain)"
        ).fetchall()
    return [failure is None for (failure,) in failures], list(obeying(chunk, plain_rules(), DAY))


def test_the_compiled_rules_clear_exactly_the_lines_the_sql_passes():
    lines = lines_to_try()
    sql_passes, cleared = sql_and_compiled_verdicts(lines)
    laxer = [line for line, ok, clear in zip(lines, sql_passes, cleared) if clear and not ok]
    stricter = [line for line, ok, clear in zip(lines, sql_passes, cleared) if ok and not clear]
    assert laxer == [] and stricter == []
    assert 0.1 < sum(sql_passes) / len(lines) < 0.9  # both verdicts well represented


def test_a_rule_the_program_cannot_compile_clears_no_line():
    sql_rules = [*event_rules(typed=True), Rule("page", "pattern", "regexp_full_match(\"val__page\", '/.*')")]
    rules = compile_rules(EVENT_SPECS, EVENT_REQUIREMENTS, WINDOW_FIELD, reader_schema(), sql_rules)
    data = np.frombuffer((json.dumps(event("ok")) + "\n").encode(), dtype=np.uint8)
    chunk = scan_chunk(data, 0, len(data), reader_schema(), 1)
    assert not rules.compiled and list(obeying(chunk, rules, DAY)) == [False]
    assert plain_rules().compiled and list(obeying(chunk, plain_rules(), DAY)) == [True]
