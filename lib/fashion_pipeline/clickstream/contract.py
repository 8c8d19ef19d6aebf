"""The website's click events, one JSON object per Kinesis record: the wire contract between the
website (and `fashion clicks produce`), the streaming job, the Glue table and the Lambda fast path.

Plain Python on purpose: the Lambda package carries this module without Spark. `schemas.py`
builds the Spark schema (`CLICK_EVENT_SCHEMA`) from `CLICK_EVENT_FIELDS`.

Each Kinesis record's data is one UTF-8 JSON object with
the fields of CLICK_EVENT_FIELDS (compact, in declared order, every field present, null where
empty); its partition key is the customer id, or the session id for a guest, so one shopper's
events stay in order on one shard. Unknown extra fields are ignored by readers (as `from_json`
does). `event_time` is ISO-8601 in UTC with exactly three fractional digits and a `Z`, e.g.
`2020-09-22T14:03:07.123Z`: it sorts as text, Athena and Spark parse it with one pattern, and a
reader never has to guess a zone.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

VIEW, ADD_TO_CART, REMOVE_FROM_CART, PURCHASE = "view", "add_to_cart", "remove_from_cart", "purchase"
CLICK_EVENT_TYPES = (VIEW, ADD_TO_CART, REMOVE_FROM_CART, PURCHASE)
# A quantity belongs to cart and purchase events and a price to purchases; elsewhere they are null.
CLICK_EVENT_TYPES_WITH_QUANTITY = (ADD_TO_CART, REMOVE_FROM_CART, PURCHASE)
CLICK_EVENT_TYPES_WITH_PRICE = (PURCHASE,)
CLICK_DEVICES = ("mobile_app", "mobile_web", "desktop", "tablet")
# The page an event fired on: views on a product page, quick adds on a category page, removals
# in the cart, purchases at checkout.
CLICK_PAGES = ("product", "category", "cart", "checkout")

CLICK_EVENT_TIME_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
# The same text form for Spark's JSON reader (`from_json(..., CLICK_EVENT_SCHEMA, CLICK_EVENT_JSON_OPTIONS)`)
# and for Athena's `parse_datetime`.
CLICK_EVENT_TIME_SPARK_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
CLICK_EVENT_JSON_OPTIONS = {"timestampFormat": CLICK_EVENT_TIME_SPARK_FORMAT}
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CUSTOMER_ID_PATTERN = r"[0-9a-f]{64}"
ARTICLE_ID_PATTERN = r"\d{10}"

# Why a click record is refused (the streaming job's quarantine reason, the Lambda's too):
# oversized first (nothing else is read), then unreadable JSON, then the first declared field that
# is missing or invalid (`missing_<field>`, `invalid_<field>`), then an article not in the catalogue.
CLICK_REJECT_OVERSIZED = "oversized_event"
CLICK_REJECT_INVALID_JSON = "invalid_json"
CLICK_REJECT_UNKNOWN_ARTICLE = "unknown_article_id"


@dataclass(frozen=True)
class ClickField:
    """One field of the click event: its type and the rules its JSON value follows."""

    name: str
    kind: str  # string | timestamp | double | int (schemas.py maps these to Spark types)
    nullable: bool
    description: str
    pattern: str | None = None  # the whole JSON string must match
    choices: tuple[str, ...] = ()
    positive: bool = False  # numbers only: must be > 0


CLICK_EVENT_FIELDS = (
    ClickField("event_id", "string", False, "UUID of the event; a re-sent duplicate has the same one",
               pattern=UUID_PATTERN),
    ClickField("event_type", "string", False, "what the shopper did", choices=CLICK_EVENT_TYPES),
    ClickField("event_time", "timestamp", False, "when, in UTC to the millisecond",
               pattern=CLICK_EVENT_TIME_PATTERN),
    ClickField("customer_id", "string", True, "64 lowercase hex, as in customers.csv; null for a guest",
               pattern=CUSTOMER_ID_PATTERN),
    ClickField("session_id", "string", False, "UUID of the browsing session", pattern=UUID_PATTERN),
    ClickField("article_id", "string", False, "10-digit H&M article id (leading zero kept)",
               pattern=ARTICLE_ID_PATTERN),
    ClickField("price", "double", True, "unit price paid, on H&M's price scale; purchases only",
               positive=True),
    ClickField("quantity", "int", True, "units added, removed or bought; null for a view",
               positive=True),
    ClickField("device", "string", False, "the shopper's device", choices=CLICK_DEVICES),
    ClickField("page", "string", False, "the page type the event fired on", choices=CLICK_PAGES),
    ClickField("referrer", "string", True,
               "how the shopper reached the page: an outside source on a session's first event, "
               "`internal:<page>` afterwards; null when unknown"),
)
CLICK_EVENT_COLUMNS = tuple(f.name for f in CLICK_EVENT_FIELDS)


def format_event_time(moment: datetime) -> str:
    """`2020-09-22T14:03:07.123Z` from an aware datetime (sub-millisecond digits are cut)."""
    if moment.tzinfo is None:
        raise ValueError("event_time must be timezone-aware")
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_event_time(text: str) -> datetime:
    """The aware UTC datetime of an `event_time` text; ValueError when it is not in that form."""
    if not re.fullmatch(CLICK_EVENT_TIME_PATTERN, text):
        raise ValueError(f"event_time {text!r} is not YYYY-MM-DDTHH:MM:SS.sssZ")
    return datetime.strptime(text[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)


def encode_click_event(event: Mapping[str, Any]) -> bytes:
    """The Kinesis record data of one event: every declared field, in order, as compact JSON."""
    record = {name: event[name] for name in CLICK_EVENT_COLUMNS}
    if isinstance(record["event_time"], datetime):
        record["event_time"] = format_event_time(record["event_time"])
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def click_partition_key(event: Mapping[str, Any]) -> str:
    """The customer id, or the session id for a guest: a shopper's events keep their order."""
    return event["customer_id"] or event["session_id"]
