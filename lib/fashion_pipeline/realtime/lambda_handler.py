"""The Lambda fast path: a batch of Kinesis click records in, shoppers' real-time lists out.

Handler: `fashion_pipeline.realtime.lambda_handler.handler` (built by `fashion lambda package`).
The event is what the Kinesis event source mapping sends (`Records[].kinesis.data` base64,
`sequenceNumber`, `partitionKey`; `eventID` = `shardId:sequenceNumber`), the mapping has
`ReportBatchItemFailures` on, and the response is powertools' partial batch response:
`{"batchItemFailures": [{"itemIdentifier": <sequence number>}, ...]}`.

An invocation:
1. decodes every record and checks it against the click contract (`click_reject_reason`, form
   only: the Lambda holds no catalogue). A record that is not a click event is a poison record:
   it alone is reported, so the mapping retries from it and, after its retries, hands it to the
   on-failure queue; the other records are processed now.
2. groups the valid events by shopper (the partition key: customer id, or session id for a
   guest) and refreshes every shopper at once (`RealtimeStore.refresh_from_new_events`): one
   BatchGetItem for the rings and current lists, one for neighbours, nightly lists and trending,
   then per shopper a conditional ring write and a conditional write of the list.
3. reports, through powertools' `BatchProcessor`, every record of a shopper whose refresh failed
   (throttling beyond the retries, say): the mapping resumes from the first of them, and the
   retry is idempotent because the ring keeps event ids (a redelivered event changes nothing,
   and nothing is written for it). When every record fails, powertools raises, which the mapping
   sees as a function error (and bisects the batch, when configured).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from fashion_pipeline.clickstream.contract import click_partition_key
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.realtime.rule import SessionEvent
from fashion_pipeline.realtime.settings import RealtimeSettings, load_packaged_settings
from fashion_pipeline.realtime.store import FAILED, RealtimeStore, ShopperOutcome

logger = logging.getLogger(__name__)
UNDECODABLE = "invalid_base64"


class PoisonRecordError(Exception):
    """A record that is not a click event: it fails alone, every time."""


class ShopperRefreshError(Exception):
    """The shopper's ring or list could not be written: their records are retried."""


@dataclass(frozen=True)
class DecodedRecord:
    shopper_key: str | None = None  # None when rejected
    reject_reason: str | None = None


@dataclass
class InvocationReport:
    records: int = 0
    rejected: Counter = field(default_factory=Counter)
    shoppers: dict[str, ShopperOutcome] = field(default_factory=dict)
    failed_records: int = 0
    seconds: float = 0.0

    def statuses(self) -> Counter:
        return Counter(outcome.status for outcome in self.shoppers.values())

    def line(self) -> str:
        rejected = ", ".join(f"{r} {n}" for r, n in sorted(self.rejected.items())) or "none"
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(self.statuses().items())) or "none"
        return (f"{self.records} records: rejected {rejected}; shoppers {statuses}; "
                f"{self.failed_records} records reported failed; {self.seconds * 1000:.1f} ms")


class FastPath:
    """The handler's state across invocations of one container: settings, client, processor."""

    def __init__(self, settings: RealtimeSettings, client=None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random):
        self.settings = settings
        self.store = RealtimeStore(client if client is not None else settings.client(), settings, clock, sleep, jitter)
        self.processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
        self.last_report = InvocationReport()
        self.totals: Counter = Counter()  # over every invocation of this container

    def __call__(self, event: dict, context=None) -> dict:
        started = time.perf_counter()
        report = InvocationReport(records=len(event.get("Records", [])))
        decoded: dict[str, DecodedRecord] = {}
        new_events: dict[str, list[SessionEvent]] = defaultdict(list)
        for record in event.get("Records", []):
            kinesis = record["kinesis"]
            parsed, click_event = self._decode(kinesis.get("data", ""))
            decoded[kinesis["sequenceNumber"]] = parsed
            if parsed.reject_reason:
                report.rejected[parsed.reject_reason] += 1
            else:
                new_events[parsed.shopper_key].append(click_event)
        report.shoppers = self.store.refresh_from_new_events(new_events) if new_events else {}

        def record_handler(record: KinesisStreamRecord) -> str:
            parsed = decoded[record.kinesis.sequence_number]
            if parsed.reject_reason:
                raise PoisonRecordError(parsed.reject_reason)
            outcome = report.shoppers[parsed.shopper_key]
            if outcome.status == FAILED:
                raise ShopperRefreshError(f"{parsed.shopper_key}: {outcome.error!r}") from outcome.error
            return outcome.status

        try:
            response = process_partial_response(event, record_handler, self.processor, context)
        finally:
            report.failed_records = len(self.processor.fail_messages)
            report.seconds = time.perf_counter() - started
            self.last_report = report
            self._add_to_totals(report)
            logger.info("fast path: %s", report.line())
        return response

    def _add_to_totals(self, report: InvocationReport) -> None:
        self.totals.update({"invocations": 1, "records": report.records, "rejected": sum(report.rejected.values()),
                            "records reported failed": report.failed_records})
        self.totals.update({f"shoppers {status}": n for status, n in report.statuses().items()})

    def totals_line(self) -> str:
        order = ("invocations", "records", "rejected", "records reported failed", "shoppers written",
                 "shoppers duplicate", "shoppers stale", "shoppers failed")
        return "fast path: " + ", ".join(f"{name} {self.totals.get(name, 0):,}" for name in order)

    def _decode(self, data_b64: str) -> tuple[DecodedRecord, SessionEvent | None]:
        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError):
            return DecodedRecord(reject_reason=UNDECODABLE), None
        reason = click_reject_reason(data, self.settings.max_event_bytes)
        if reason:
            return DecodedRecord(reject_reason=reason), None
        click = json.loads(data)
        return DecodedRecord(shopper_key=click_partition_key(click)), SessionEvent.from_click(click)


_container_fast_path: FastPath | None = None


def handler(event: dict, context) -> dict:
    """The Lambda entry point: settings from the package, one client per container."""
    global _container_fast_path
    if _container_fast_path is None:
        _container_fast_path = FastPath(load_packaged_settings())
    return _container_fast_path(event, context)
