"""JSON as a source delivered it: a key named twice in one object is noted, not resolved.

Python's json keeps a repeated key's last value silently, DuckDB's reader its first: either
would drop the other. Every reader of records (the Fake Store sources, the explanation of a
refused event) decodes through `decode_json`, and the validators refuse what it notes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

# A JSON object that names a key twice carries this key, listing every value each repeated key was given.
REPEATED_KEYS = "__repeated_keys__"


def _object_noting_repeats(pairs: list[tuple[str, Any]]) -> dict:
    record = dict(pairs)
    if len(record) < len(pairs):
        counts = Counter(key for key, _ in pairs)
        record[REPEATED_KEYS] = {
            key: [value for name, value in pairs if name == key] for key, count in counts.items() if count > 1
        }
    return record


def decode_json(content: bytes | str, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """JSON as delivered, a repeated key noted under `REPEATED_KEYS` rather than resolved.

    Raises ValueError for anything that is not JSON, including nesting too deep to decode.
    `parse_constant` sees NaN and Infinity, which Python's parser takes and JSON does not.
    """
    try:
        return json.loads(content, object_pairs_hook=_object_noting_repeats, parse_constant=parse_constant)
    except RecursionError:
        raise ValueError("nested too deeply to decode") from None


def repeated_key(record: Any, path: str = "") -> tuple[str, str, int] | None:
    """(path, key, times) of the first key a JSON object of the record names twice, at any depth."""
    if isinstance(record, dict):
        if isinstance(repeats := record.get(REPEATED_KEYS), dict) and repeats:
            key, values = next(iter(repeats.items()))
            return ".".join(filter(None, (path, key))), key, len(values)
        items = record.items()
    elif isinstance(record, list):
        items = enumerate(record)
    else:
        return None
    for name, value in items:
        if found := repeated_key(value, ".".join(filter(None, (path, str(name))))):
            return found
    return None
