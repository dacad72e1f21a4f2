"""What each setting accepts, in words: the README table's "allowed" column and the start-up
error of a value out of range say the same.

Usage::

    allowed("concurrency")        # "an integer from 1 to 256"
    allowed("connect_timeout_s")  # "a number above 0, at most 300"
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

import annotated_types

from worker.config.settings import Settings


def allowed(name: str) -> str:
    """What the setting ``name`` (a field of :class:`Settings`) accepts, in words.

    Usage::

        allowed("concurrency")        # "an integer from 1 to 256"
        allowed("connect_timeout_s")  # "a number above 0, at most 300"

    The README's configuration table and the start-up error of a bad value both say this.
    """
    field = Settings.model_fields[name]
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("allowed"), str):
        return str(extra["allowed"])
    if field.annotation is bool:
        return "true or false (also 1/0, yes/no, on/off)"
    if get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(get_args(field.annotation)) + " (any case)"
    kind = "an integer" if field.annotation in (int, int | None) else "a number"
    bounds: dict[str, Any] = {}
    for item in field.metadata:
        for key in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, key.title())):
                bounds[key] = getattr(item, key)
    if "ge" in bounds and "le" in bounds:
        return f"{kind} from {_number(bounds['ge'])} to {_number(bounds['le'])}"
    low = f"above {_number(bounds['gt'])}" if "gt" in bounds else None
    if low is None and "ge" in bounds:
        low = f"at least {_number(bounds['ge'])}"
    high = f"at most {_number(bounds['le'])}" if "le" in bounds else None
    return ", ".join([kind + (f" {low}" if low else ""), *([high] if high else [])])


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"
