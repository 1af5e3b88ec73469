"""Contract enforcement at two speeds, from one definition.

API records are few: each is validated by its pydantic model. Events are many: the
pydantic `Event` model is compiled into SQL predicates that DuckDB evaluates over the
raw lines, so no Python object is built per valid row; pydantic then explains each
rejected line (field, rule, reason). The compiler reads the model's annotations and
constraints, so a rule added to the contract is enforced on both paths, and one it
cannot translate is an error rather than a silent gap.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import annotated_types as at
from pydantic import AllowInfNan, BaseModel, Strict, ValidationError

from ecommerce_assets.contracts import (
    EVENT_TYPE_FIELD,
    INT64_MAX,
    INT64_MIN,
    ISO_8601_TIMESTAMP,
    PAGE_FIELD,
    RequiredWhen,
)
from ecommerce_assets.json_text import REPEATED_KEYS, decode_json

# JSON value types DuckDB's json_type reports, per Python type in a strict contract.
JSON_TYPES: dict[type, tuple[str, ...]] = {
    str: ("VARCHAR",),
    int: ("BIGINT", "UBIGINT"),
    float: ("BIGINT", "UBIGINT", "DOUBLE"),
    datetime: ("VARCHAR",),
}
SQL_TYPES: dict[type, str] = {str: "VARCHAR", int: "BIGINT", float: "DOUBLE", datetime: "TIMESTAMP"}
# ISO-8601 date-time as a JSON string (quotes included): what both DuckDB and pydantic parse.
COMMON_TIMESTAMP_SHAPE = '"____-__-__T__:__:__.___Z"'
USUAL_TIMESTAMP_FORMAT = '"%Y-%m-%dT%H:%M:%S.%gZ"'
ISO_TIMESTAMP_JSON = f'^"{ISO_8601_TIMESTAMP}"$'


@dataclass(frozen=True)
class Rule:
    """One check: `ok_sql` is true when the record obeys it.

    `check_sql` is the condition itself. A rule on a field's value (`column`, its JSON
    text) holds vacuously when the value is null or missing, unless `on_missing` says the
    rule is about presence itself.
    """

    field: str
    rule: str
    check_sql: str
    column: str | None = None
    on_missing: bool = False

    @property
    def ok_sql(self) -> str:
        if self.column is None or self.on_missing:
            return self.check_sql
        return unless_null(self.column, self.check_sql)

    @property
    def label(self) -> str:
        return f"{self.field}:{self.rule}"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    base: type
    nullable: bool
    literals: tuple[str, ...]
    constraints: tuple[Any, ...]

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.base]


@dataclass(frozen=True)
class Rejection:
    """Why a record was refused, in the shape of the `_rejected` tables."""

    record_key: str | None
    field: str
    rule: str
    reason: str


def unless_null(column: str, check_sql: str) -> str:
    """True when `column` is null, else the check.

    A CASE, not an OR: DuckDB evaluates both sides of an OR on every row, but a CASE
    branch only on the rows that reach it (measured: `field_rules`' ISO-8601 pattern costs
    3x its LIKE when run on every row; the contract's rules over 2M rows, 0.71 -> 0.33 s).
    """
    return f"CASE WHEN {column} IS NULL THEN true ELSE ({check_sql}) END"


def sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return repr(value)


def field_specs(model: type[BaseModel]) -> list[FieldSpec]:
    """The model's fields reduced to what the SQL compiler understands."""
    return [_field_spec(name, info) for name, info in model.model_fields.items()]


def _field_spec(name: str, info: Any) -> FieldSpec:
    annotation, constraints = info.annotation, list(info.metadata)
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"{name}: only `X | None` unions compile to SQL")
        annotation = members[0]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        for item in extra:
            constraints.extend(getattr(item, "metadata", [item]))
    literals: tuple[str, ...] = ()
    if typing.get_origin(annotation) is Literal:
        literals = typing.get_args(annotation)
        annotation = str
    if annotation not in JSON_TYPES:
        raise TypeError(f"{name}: type {annotation!r} does not compile to SQL")
    return FieldSpec(name, annotation, nullable, literals, tuple(constraints))


def raw_column(spec: FieldSpec) -> str:
    """The column holding the field's JSON text (NULL when missing or null)."""
    return f'"raw__{spec.name}"'


def value_column(spec: FieldSpec) -> str:
    """The column holding the field's typed value."""
    return f'"val__{spec.name}"'


def json_paths_sql(specs: list[FieldSpec]) -> str:
    """The JSON paths of the fields, for one `json_extract` of them all."""
    return "[" + ", ".join(sql_literal(f'$."{s.name}"') for s in specs) + "]"


def raw_sql(position: int, source: str = "j") -> str:
    """The JSON text of the field at `position` in the `json_extract` list `source`: NULL when missing or null."""
    return f"nullif({source}[{position + 1}], 'null')"


def found_keys_sql(specs: list[FieldSpec], source: str = "j") -> str:
    """How many of the fields the record has, null-valued ones included."""
    return " + ".join(f"({source}[{i + 1}] IS NOT NULL)::INTEGER" for i in range(len(specs)))


def value_sql(spec: FieldSpec) -> str:
    """The typed value of a field, computed once from its JSON text."""
    raw = raw_column(spec)
    if spec.base is datetime:
        # The collector's usual shape parses with a fixed format, several times cheaper
        # than the general cast, which takes whatever else ISO-8601 allows. Only the
        # format judges that shape: the cast reads `T24:00` as the next day.
        usual = f"try_strptime({raw}, {sql_literal(USUAL_TIMESTAMP_FORMAT)})"
        general = f"TRY_CAST(({raw} ->> '$') AS TIMESTAMPTZ)::TIMESTAMP"
        return f"CASE WHEN {raw} LIKE {sql_literal(COMMON_TIMESTAMP_SHAPE)} THEN {usual} ELSE {general} END"
    if spec.base is str:
        # Between the quotes, unless an escape needs the JSON parser.
        return f"CASE WHEN contains({raw}, '\\') THEN {raw} ->> '$' ELSE substring({raw}, 2, length({raw}) - 2) END"
    return f"TRY_CAST({raw} AS {spec.sql_type})"


def json_kind_ok(spec: FieldSpec) -> str:
    """True when the JSON text has the type a strict contract wants.

    Reads the text instead of re-parsing it: strings start with a quote, numbers with a
    digit or a minus, and an integer reads back as its own text.
    """
    raw = raw_column(spec)
    if spec.base in (str, datetime):
        return f"left({raw}, 1) = '\"'"
    if spec.base is int:
        # JSON text here is canonical (re-serialised by the parser), so an integer reads
        # back as its own text; a fraction, an exponent or a quoted number does not. JSON
        # allows -0, which is the integer 0.
        return f"({value_column(spec)}::VARCHAR = {raw} OR {raw} = '-0')"
    number = f"(left({raw}, 1) BETWEEN '0' AND '9' OR left({raw}, 1) = '-')"
    # DuckDB's parser also reads NaN and Infinity, and 1e400 overflows to infinity.
    return f"{number} AND isfinite({value_column(spec)})"


# A constraint's rule is named for the attribute holding its bound.
CONSTRAINT_RULES = {at.Ge: "ge", at.Gt: "gt", at.Le: "le", at.Lt: "lt", at.MinLen: "min_length", at.MaxLen: "max_length"}
COMPARISONS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def constraint_rule(spec: FieldSpec, constraint: Any) -> tuple[str, Any] | None:
    """A field's constraint as a rule and its bound (`("ge", 1)`, `("min_length", 1)`), or None
    when the type rule already enforces it; an error for a constraint no rule can check."""
    if isinstance(constraint, Strict) or (isinstance(constraint, AllowInfNan) and not constraint.allow_inf_nan):
        return None  # JSON types are always checked strictly, numbers as finite (`json_kind_ok`)
    if spec.base is int and (
        (isinstance(constraint, at.Le) and constraint.le >= INT64_MAX)
        or (isinstance(constraint, at.Ge) and constraint.ge <= INT64_MIN)
    ):
        return None  # a BIGINT holds no more: the type rule refuses larger integers
    for kind, attribute in CONSTRAINT_RULES.items():
        if isinstance(constraint, kind):
            return attribute, getattr(constraint, attribute)
    raise TypeError(f"{spec.name}: constraint {constraint!r} does not compile to SQL")


def _constraint_sql(spec: FieldSpec, constraint: Any, value: str) -> tuple[str, str] | None:
    if (rule := constraint_rule(spec, constraint)) is None:
        return None
    name, bound = rule
    if name == "min_length":
        return name, f"length({value}) >= {bound}"
    if name == "max_length":
        return name, f"length({value}) <= {bound}"
    return name, f"{value} {COMPARISONS[name]} {bound!r}"


def field_rules(spec: FieldSpec, typed: bool = False) -> list[Rule]:
    """Type, presence, literal and constraint rules of one field, in pydantic's order.

    `typed`: the rules over values a reader has already typed from JSON of the field's own
    type (`line_scanner`'s plain lines), where the value is NULL exactly when the JSON
    text is missing or null: presence reads the value, and the type rule holds.
    """
    raw, value = _presence_column(spec, typed), value_column(spec)
    rules = []
    if not spec.nullable:
        rules.append(Rule(spec.name, "missing", f"{raw} IS NOT NULL", raw, on_missing=True))
    if not typed:
        rules.append(Rule(spec.name, "type", _type_ok(spec), raw))
    if spec.literals:
        allowed = ", ".join(sql_literal(v) for v in spec.literals)
        rules.append(Rule(spec.name, "literal", f"{value} IN ({allowed})", raw))
    for constraint in spec.constraints:
        if compiled := _constraint_sql(spec, constraint, value):
            rules.append(Rule(spec.name, *compiled, raw))
    return rules


def _presence_column(spec: FieldSpec, typed: bool) -> str:
    """The column that is NULL exactly when the field is missing or null: its JSON text, or a
    typed value (a reader's, from JSON of the field's own type)."""
    return value_column(spec) if typed else raw_column(spec)


def _type_ok(spec: FieldSpec) -> str:
    raw, type_ok = raw_column(spec), json_kind_ok(spec)
    if spec.base is datetime:
        # The collector's usual shape is a cheap LIKE; anything else meets the full pattern.
        iso = f"CASE WHEN {raw} LIKE {sql_literal(COMMON_TIMESTAMP_SHAPE)} THEN true ELSE regexp_full_match({raw}, {sql_literal(ISO_TIMESTAMP_JSON)}) END"
        type_ok += f" AND {iso} AND {value_column(spec)} IS NOT NULL"
    return type_ok


def requirement_rule(requirement: RequiredWhen, specs: dict[str, FieldSpec], typed: bool = False) -> Rule:
    event_type, page = value_column(specs[EVENT_TYPE_FIELD]), value_column(specs[PAGE_FIELD])
    types_sql = ", ".join(sql_literal(t) for t in sorted(requirement.event_types))
    applies = f"{event_type} IN ({types_sql})"
    if requirement.page_prefix:
        applies += f" OR starts_with({page}, {sql_literal(requirement.page_prefix)})"
    raw = _presence_column(specs[requirement.field], typed)
    return Rule(requirement.field, "required", f"CASE WHEN {raw} IS NOT NULL THEN true ELSE NOT ({applies}) END")


def window_rule(spec: FieldSpec, day_sql: str) -> Rule:
    """The value lies on its partition's day: `day_sql`, a SQL DATE (each row's own, or a literal)."""
    value = value_column(spec)
    ok = f"{value} >= {day_sql}::TIMESTAMP AND {value} < ({day_sql} + 1)::TIMESTAMP"
    return Rule(spec.name, "window", ok)


def all_rules_sql(rules: list[Rule]) -> str:
    """True when a row obeys every rule (NULL or false otherwise), as one cheap conjunction.

    A field's presence is asserted once: its other rules drop their "unless missing" guard
    when a `missing` rule already requires it, and share one guard otherwise.
    """
    required = {r.column for r in rules if r.on_missing}
    terms: list[str] = []
    guarded: dict[str, list[str]] = {}
    for r in rules:
        if r.column is None or r.on_missing or r.column in required:
            terms.append(f"({r.check_sql})")
        else:
            guarded.setdefault(r.column, []).append(f"({r.check_sql})")
    terms += [unless_null(column, " AND ".join(checks)) for column, checks in guarded.items()]
    return " AND ".join(terms)


def first_failure_sql(rules: list[Rule]) -> str:
    """A CASE that names the first rule a row breaks, NULL when it breaks none.

    Nearly every row obeys the contract: one conjunction settles those, and the rules are
    walked one by one only for the rest (DuckDB evaluates later branches on the rows the
    earlier ones left).
    """
    whens = " ".join(f"WHEN NOT coalesce({r.ok_sql}, false) THEN {sql_literal(r.label)}" for r in rules)
    return f"CASE WHEN {all_rules_sql(rules)} THEN NULL {whens} END"


def duplicate_key_rule(key_count: str, found_keys: str, line: str) -> Rule:
    """No key appears twice at the top of the record.

    DuckDB reads the first of repeated keys and pydantic the last, so a repeated key
    would make the two paths disagree on the value: the record is refused instead. When
    the record has only the contract's keys (`key_count` = `found_keys`), they are
    distinct; the few others get the exact, costlier test.
    """
    exact = f"list_unique(json_keys({line})) = {key_count}"
    return Rule("<record>", "duplicate_key", _only_beyond_the_contract(key_count, found_keys, exact))


def _only_beyond_the_contract(key_count: str, found_keys: str, check_sql: str) -> str:
    """`check_sql` for records with keys beyond the contract's (`key_count` > `found_keys`), few and
    costlier to test; true for the rest (and for lines that are not JSON, refused before)."""
    return f"CASE WHEN {key_count} IS NULL OR {key_count} = {found_keys} THEN true ELSE {check_sql} END"


# DuckDB's JSON parser (yyjson, lenient) also takes trailing commas and NaN/Infinity in
# any case; JSON does not. Outside strings, these are the only places they can show.
LENIENT_JSON = r",[ \t\n\r]*[]}]|[nN][aA][nN]|[iI][nN][fF]"
JSON_STRING = r'"([^"\\]|\\.)*"'
TRAILING_COMMA_AT_END = r",[ \t\n\r]*}[ \t\n\r}]*$"


def strict_json_end_sql(line: str) -> str:
    """True unless the record's last members end with a trailing comma (`{"a": 1,}`).

    Cheap enough for every line: most end with `"}`, which rules it out, and the rest meet
    a pattern anchored at the end. With the contract's fields held to their types (nested
    values and non-finite numbers refused there), only keys beyond the contract's can hide
    another leniency: `strict_json_rule`.
    """
    return f"CASE WHEN suffix({line}, '\"}}') THEN true ELSE NOT regexp_matches({line}, {sql_literal(TRAILING_COMMA_AT_END)}) END"


def strict_json_rule(key_count: str, found_keys: str, line: str) -> Rule:
    """A record with keys beyond the contract's is strict JSON: no trailing comma, NaN or Infinity in them.

    Exact: its strings are blanked first, so only the JSON text between them is searched.
    """
    outside_strings = f"regexp_replace({line}, {sql_literal(JSON_STRING)}, '\"\"', 'g')"
    lenient = f"regexp_matches({outside_strings}, {sql_literal(LENIENT_JSON)})"
    return Rule("<record>", "json_invalid", _only_beyond_the_contract(key_count, found_keys, f"NOT {lenient}"))


# --- explaining rejects ---------------------------------------------------------------


def explain(model: type[BaseModel], payload: str | dict, context: dict | None, sql_label: str | None = None) -> Rejection | None:
    """Why pydantic refuses the record, or None if it accepts it.

    `sql_label` is the columnar verdict; it stands as the reason when pydantic accepts
    what SQL refused (a stricter storage rule such as a number too large for BIGINT).
    """
    record, repeated, constant = read_json(payload) if isinstance(payload, str) else (payload, [], None)
    key = record_key(record)
    if constant:  # pydantic's parser takes these, as DuckDB's does
        return Rejection(key, "<record>", "json_invalid", f"<record>: Invalid JSON: {constant} is not a JSON number")
    if repeated:
        name, times = repeated[0]
        return Rejection(key, name, "duplicate_key", f"{name}: the key appears {times} times in the record, so its value is ambiguous")
    try:
        if isinstance(payload, str):
            model.model_validate_json(payload, context=context)
        else:
            model.model_validate(payload, context=context)
    except ValidationError as error:
        return rejection_from_error(error, key)
    if sql_label is None:
        return None
    field, _, rule = sql_label.partition(":")
    return Rejection(key, field, rule, f"{field}: breaks the storage rule '{rule}'")


def read_json(text: str) -> tuple[Any, list[tuple[str, int]], str | None]:
    """The JSON text parsed (None when it is not JSON), the keys repeated at the top of its
    object with how often they appear, in order, and the first NaN or Infinity it holds
    (which Python's parser, unlike JSON, takes)."""
    constants: list[str] = []

    def keep_constant(name: str) -> float:
        constants.append(name)
        return float(name)

    try:
        value = decode_json(text, parse_constant=keep_constant)
    except ValueError:
        return None, [], None
    constant = constants[0] if constants else None
    repeats = value.pop(REPEATED_KEYS, None) if isinstance(value, dict) else None
    return value, [(name, len(values)) for name, values in (repeats or {}).items()], constant


def rejection_from_error(error: ValidationError, key: str | None) -> Rejection:
    problems = error.errors(include_url=False)
    first = problems[0]
    field = ".".join(str(p) for p in first["loc"]) or "<record>"
    reason = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<record>'}: {e['msg']}" for e in problems)
    return Rejection(key, field, first["type"], reason)


def record_key(record: Any) -> str | None:
    """The (parsed) record's id if it has one, to name it in errors."""
    if not isinstance(record, dict):
        return None
    for key in ("event_id", "id"):
        if record.get(key) is not None:
            return str(record[key])
    return None
