"""Is a click record acceptable? The plain-Python reading of the contract declared in
`clickstream/contract.py` (CLICK_EVENT_FIELDS): no Spark needed, so tests, the producer's ledger
checks and a Lambda function can all apply exactly the rules the streaming job applies.
"""
from __future__ import annotations

import json
import re
from collections.abc import Container
from typing import Any

from fashion_pipeline.clickstream.contract import (
    CLICK_EVENT_FIELDS,
    CLICK_EVENT_TYPES_WITH_PRICE,
    CLICK_EVENT_TYPES_WITH_QUANTITY,
    CLICK_REJECT_INVALID_JSON,
    CLICK_REJECT_OVERSIZED,
    CLICK_REJECT_UNKNOWN_ARTICLE,
    ClickField,
    parse_event_time,
)

_PATTERNS = {f.name: re.compile(f.pattern) for f in CLICK_EVENT_FIELDS if f.pattern}


def click_reject_reason(
    data: bytes, max_event_bytes: int, known_article_ids: Container[str] | None = None
) -> str | None:
    """Why the record `data` is refused, or None when it is a valid click event.

    The first broken rule wins, in the order documented next to CLICK_REJECT_* in clickstream/contract.py.
    `known_article_ids` (the catalogue) is optional: without it articles are checked by form only.
    """
    if len(data) > max_event_bytes:
        return CLICK_REJECT_OVERSIZED
    try:
        event = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return CLICK_REJECT_INVALID_JSON
    if not isinstance(event, dict):
        return CLICK_REJECT_INVALID_JSON
    for spec in CLICK_EVENT_FIELDS:
        value = event.get(spec.name)
        if value is None:
            if not spec.nullable:
                return f"missing_{spec.name}"
        elif not _value_ok(spec, value):
            return f"invalid_{spec.name}"
    event_type = event["event_type"]
    if (event.get("quantity") is not None) != (event_type in CLICK_EVENT_TYPES_WITH_QUANTITY):
        return "invalid_quantity"
    if (event.get("price") is not None) != (event_type in CLICK_EVENT_TYPES_WITH_PRICE):
        return "invalid_price"
    if known_article_ids is not None and event["article_id"] not in known_article_ids:
        return CLICK_REJECT_UNKNOWN_ARTICLE
    return None


def _value_ok(spec: ClickField, value: Any) -> bool:
    if spec.kind in ("string", "timestamp"):
        if not isinstance(value, str):
            return False
        if spec.pattern and not _PATTERNS[spec.name].fullmatch(value):
            return False
        if spec.choices and value not in spec.choices:
            return False
        if spec.kind == "timestamp":
            try:
                parse_event_time(value)  # the pattern admits month 13; the calendar does not
            except ValueError:
                return False
        return True
    if isinstance(value, bool):  # JSON true is not the number 1
        return False
    if spec.kind == "int":
        ok = isinstance(value, int) and -(2**31) <= value < 2**31
    elif spec.kind == "double":
        ok = isinstance(value, (int, float)) and value == value and abs(value) != float("inf")
    else:
        raise TypeError(f"no JSON rule for {spec.name}: {spec.kind}")
    return ok and (not spec.positive or value > 0)
