"""The storefront's click events: what a shopper does on the site becomes one event of the click
contract, sent to the clickstream through the producer's own PutRecords sender (re-sends of failed
records, backoff, one-line errors), exactly as `fashion clicks produce` sends simulated ones."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

from fashion_pipeline.aws import aws_client
from fashion_pipeline.clickstream.contract import ADD_TO_CART, PURCHASE, VIEW
from fashion_pipeline.clickstream.events import ClickEvent
from fashion_pipeline.clickstream.faults import EVENT, OutgoingRecord
from fashion_pipeline.clickstream.producer import ClickstreamError, PutRecordsSender
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.config import Config
from fashion_pipeline.generate.catalogue import PRICE_DIVISOR

DEVICE = "desktop"  # the storefront is a desktop page; the contract has no "web" device
PAGE_BY_EVENT = {VIEW: "product", ADD_TO_CART: "product", PURCHASE: "checkout"}


def hm_price(shop_price: Decimal) -> float:
    """A shop price (16.99) on H&M's price scale, as the contract wants purchases priced: the shop
    lists each price point minus a cent (store/simulate.py `shop_price`), H&M's files divide the
    price point by PRICE_DIVISOR."""
    return round(float(shop_price + Decimal("0.01")) / PRICE_DIVISOR, 6)


def click_event(event_type: str, article_id: str, session_id: str, customer_id: str | None,
                shop_price: Decimal | None = None, referrer: str | None = None,
                now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> ClickEvent:
    return ClickEvent(
        event_id=str(uuid.uuid4()), event_type=event_type, event_time=now(), customer_id=customer_id,
        session_id=session_id, article_id=article_id,
        price=hm_price(shop_price) if event_type == PURCHASE and shop_price is not None else None,
        quantity=1 if event_type in (ADD_TO_CART, PURCHASE) else None,
        device=DEVICE, page=PAGE_BY_EVENT[event_type], referrer=referrer,
    )


class ClickSender:
    """Sends one shopper action at a time; a record Kinesis still refuses after the retries is an
    error the page reports (the shopper's click was not recorded)."""

    def __init__(self, config: Config, client=None):
        self.stream = config.names.clickstream_stream
        self.max_event_bytes = config.clickstream.max_event_bytes
        self._sender = PutRecordsSender(
            client or aws_client("kinesis", config), self.stream, config.clickstream.put_max_attempts,
            config.clickstream.backoff_base_s, config.clickstream.backoff_max_s, endpoint_url=config.aws.endpoint_url)
        self.sent: list[ClickEvent] = []

    def send(self, event: ClickEvent) -> None:
        reason = click_reject_reason(event.to_json(), self.max_event_bytes)
        if reason:  # our own bug: the stream's consumers would quarantine it
            raise ValueError(f"the storefront built a {event.event_type} event the contract refuses: {reason}")
        outcome = self._sender.send([OutgoingRecord(event.to_json(), event.partition_key, EVENT, event.event_id)])
        if outcome.failed:
            _, code = outcome.failed[0]
            raise ClickstreamError(f"Kinesis did not take the {event.event_type} click on {self.stream!r} "
                                   f"after {self._sender.max_attempts} attempts ({code}); try again")
        self.sent.append(event)
