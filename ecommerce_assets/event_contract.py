"""The Event contract as the event load sees it: raw.events' columns and the rules as SQL.

Both compiled from the pydantic `Event` model (`validation`), the one definition.
"""

from __future__ import annotations

from functools import cache

from ecommerce_assets.contracts import EVENT_REQUIREMENTS, Event
from ecommerce_assets.validation import (
    Rule,
    duplicate_key_rule,
    field_rules,
    field_specs,
    requirement_rule,
    strict_json_rule,
    value_column,
    window_rule,
)

EVENTS_TABLE = "events"
WINDOW_FIELD = "event_time"  # the field that must lie on its file's day
EVENT_SPECS = field_specs(Event)
EVENT_COLUMNS = {
    **{spec.name: spec.sql_type for spec in EVENT_SPECS},
    "event_date": "DATE",
    "_source_file": "VARCHAR",
    "_source_line": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}

# Event ids are unique random text, which DuckDB's string compression halves at most: storing
# them as they are took a 10M-event load from 26.5 to 23 CPU-s (16.1 to 13.8 s on 2 cores),
# for a raw.events file half as large again (334 -> 515 MB). The dbt models keep them compressed.
EVENT_STORAGE = {"event_id": "USING COMPRESSION uncompressed"}


def typed_columns_sql() -> str:
    """SQL naming each field's typed value column (`value_column`) as the field itself."""
    return ", ".join(f'{value_column(spec)} AS "{spec.name}"' for spec in EVENT_SPECS)


@cache
def event_rules(typed: bool = False) -> tuple[Rule, ...]:
    """Every rule of the Event contract, as SQL over a line's JSON text (`file_day` the line's day).

    `typed`: over the values `line_scanner` typed from a plain line instead, a JSON object
    of the contract's keys only, each once, each holding JSON of its field's type or null:
    the record rules and the type rules hold by construction, and every other rule is the
    same SQL.
    """
    by_name = {spec.name: spec for spec in EVENT_SPECS}
    rules = [] if typed else [Rule("<record>", "json_invalid", "parsed"), duplicate_key_rule("key_count", "found_keys", "line"),
                              strict_json_rule("key_count", "found_keys", "line")]
    rules += [rule for spec in EVENT_SPECS for rule in field_rules(spec, typed)]
    rules += [requirement_rule(requirement, by_name, typed) for requirement in EVENT_REQUIREMENTS]
    rules.append(window_rule(by_name[WINDOW_FIELD], "file_day"))
    return tuple(rules)
