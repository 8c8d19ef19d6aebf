"""The click event contract: encoding, event_time text form, partition key and the validator."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from fashion_pipeline.clickstream.contract import (
    CLICK_EVENT_COLUMNS,
    CLICK_EVENT_FIELDS,
    CLICK_REJECT_INVALID_JSON,
    CLICK_REJECT_OVERSIZED,
    CLICK_REJECT_UNKNOWN_ARTICLE,
    click_partition_key,
    encode_click_event,
    format_event_time,
    parse_event_time,
)
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.schemas import CLICK_EVENT_SCHEMA

CUSTOMER = "a" * 64
MAX_BYTES = 2048
PURCHASE_EVENT = {
    "event_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "event_type": "purchase",
    "event_time": datetime(2020, 9, 22, 14, 3, 7, 123456, tzinfo=timezone.utc), "customer_id": CUSTOMER,
    "session_id": "6fa459ea-ee8a-4ca4-894e-db77e160355e", "article_id": "0706016001", "price": 0.0508,
    "quantity": 1, "device": "desktop", "page": "checkout", "referrer": None,
}


def _reason(event: dict, known=None) -> str | None:
    return click_reject_reason(json.dumps(event).encode(), MAX_BYTES, known)


def _encoded(**changes) -> dict:
    return json.loads(encode_click_event({**PURCHASE_EVENT, **changes}))


def test_encoding_is_compact_ordered_json_with_millisecond_utc_text():
    data = encode_click_event(PURCHASE_EVENT)
    assert b" " not in data
    decoded = json.loads(data)
    assert list(decoded) == list(CLICK_EVENT_COLUMNS) == [f.name for f in CLICK_EVENT_SCHEMA.fields]
    assert decoded["event_time"] == "2020-09-22T14:03:07.123Z"
    assert decoded["referrer"] is None and decoded["article_id"] == "0706016001"
    with pytest.raises(KeyError):
        encode_click_event({k: v for k, v in PURCHASE_EVENT.items() if k != "page"})


def test_event_time_text_round_trips_and_is_in_utc():
    stockholm = timezone(timedelta(hours=2))
    moment = datetime(2020, 9, 22, 16, 3, 7, 123000, tzinfo=stockholm)
    assert format_event_time(moment) == "2020-09-22T14:03:07.123Z"
    assert parse_event_time("2020-09-22T14:03:07.123Z") == moment
    for bad in ("2020-09-22T14:03:07Z", "2020-09-22 14:03:07.123", "2020-09-22T14:03:07.123+00:00"):
        with pytest.raises(ValueError):
            parse_event_time(bad)
    with pytest.raises(ValueError, match="timezone-aware"):
        format_event_time(datetime(2020, 9, 22))


def test_partition_key_is_the_customer_or_the_guest_session():
    assert click_partition_key(PURCHASE_EVENT) == CUSTOMER
    assert click_partition_key({**PURCHASE_EVENT, "customer_id": None}) == PURCHASE_EVENT["session_id"]


def test_a_valid_event_passes_and_each_broken_rule_has_its_reason():
    assert _reason(_encoded()) is None
    assert _reason(_encoded(customer_id=None)) is None  # a guest
    view = _encoded(event_type="view", price=None, quantity=None, page="product", referrer="google")
    assert _reason(view) is None
    cases = {
        "invalid_event_id": _encoded(event_id="not-a-uuid"),
        "invalid_event_type": _encoded(event_type="click"),
        "invalid_event_time": {**_encoded(), "event_time": "2020-13-22T14:03:07.123Z"},
        "invalid_customer_id": _encoded(customer_id="A" * 64),
        "invalid_article_id": _encoded(article_id="706016001"),
        "invalid_price": _encoded(price=0),
        "invalid_quantity": _encoded(quantity=True),
        "invalid_device": _encoded(device="fridge"),
        "invalid_page": _encoded(page="home"),
        "missing_session_id": {k: v for k, v in _encoded().items() if k != "session_id"},
        "missing_event_time": _encoded(event_time=None),
    }
    for reason, event in cases.items():
        assert _reason(event) == reason, reason
    # Quantity and price belong to some event types only.
    assert _reason({**view, "quantity": 1}) == "invalid_quantity"
    assert _reason({**view, "price": 0.02}) == "invalid_price"
    assert _reason(_encoded(price=None)) == "invalid_price"


def test_json_size_and_catalogue_rules():
    assert click_reject_reason(b'{"event_id": "1b4e', MAX_BYTES) == CLICK_REJECT_INVALID_JSON
    assert click_reject_reason(b"[1, 2]", MAX_BYTES) == CLICK_REJECT_INVALID_JSON
    assert click_reject_reason(b"\xff\xfe", MAX_BYTES) == CLICK_REJECT_INVALID_JSON
    big = _encoded(referrer="x" * MAX_BYTES)
    assert _reason(big) == CLICK_REJECT_OVERSIZED
    assert _reason(_encoded(), known={"0706016001"}) is None
    assert _reason(_encoded(), known={"0108775015"}) == CLICK_REJECT_UNKNOWN_ARTICLE
    assert _reason({**_encoded(), "extra": "ignored like from_json does"}) is None


def test_every_declared_field_is_checked():
    required = [f.name for f in CLICK_EVENT_FIELDS if not f.nullable]
    assert required == ["event_id", "event_type", "event_time", "session_id", "article_id", "device", "page"]
    for name in required:
        assert _reason({k: v for k, v in _encoded().items() if k != name}) == f"missing_{name}"
    for name in CLICK_EVENT_COLUMNS:
        assert _reason(_encoded(**{name: ["wrong type"]})) == f"invalid_{name}"
