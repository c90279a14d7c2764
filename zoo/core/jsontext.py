"""JSON text every reader can parse: Python's `json` writes NaN and Infinity, which JSON does not have
(a browser's JSON.parse, jq and strict parsers refuse the whole file)."""

import json
import math
from typing import Any


def non_finite(obj: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or infinite float in `obj` ("" for obj itself), or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else where
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list | tuple) else ()
    for key, value in items:
        found = non_finite(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """`json.dumps(obj)` that refuses NaN and infinities: ValueError naming the first such key."""
    where = non_finite(obj)
    if where is not None:
        raise ValueError(f"{where or 'the value'} is not a finite number, and JSON has no NaN or Infinity")
    return json.dumps(obj, indent=indent, allow_nan=False)
