"""What the producer puts on the stream: each event as a Kinesis record, plus the faults a real
website sends now and then, injected on purpose so the streaming job's handling can be tested and
shown, and reconciled against the ledger (records in = curated + quarantined):

- duplicate: the same event (same bytes, same event_id) sent again, after the batch it went in,
  as a producer does when a response is lost;
- late: an event whose event_time is `late_minutes` behind the time it is sent (it is still valid);
- malformed, one of MALFORMATIONS: `bad_json` (cut off mid-object), `missing_field` (a required
  field left out), `unknown_article` (a well-formed article id not in the catalogue), `oversized`
  (a long referrer pushes it over `max_event_bytes`, yet under Kinesis' 1 MiB, so Kinesis takes
  it and the streaming job must quarantine it).

Duplicates and malformed records come on top of the events; a late event is one of them. Faults
are drawn from their own seeded stream, so the events stay the same whatever the fault shares.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np

from fashion_pipeline.clickstream.contract import CLICK_EVENT_FIELDS, format_event_time
from fashion_pipeline.clickstream.events import ClickEvent, UuidSource

FAULT_STREAM = 52  # random-stream key, apart from the simulator's
EVENT, DUPLICATE, MALFORMED = "event", "duplicate", "malformed"
BAD_JSON, MISSING_FIELD, UNKNOWN_ARTICLE, OVERSIZED = "bad_json", "missing_field", "unknown_article", "oversized"
MALFORMATIONS = (BAD_JSON, MISSING_FIELD, UNKNOWN_ARTICLE, OVERSIZED)
REQUIRED_FIELDS = tuple(f.name for f in CLICK_EVENT_FIELDS if not f.nullable)
OVERSIZE_MARGIN_BYTES = 2048  # an oversized event exceeds max_event_bytes by up to this much


@dataclass(frozen=True)
class FaultShares:
    duplicate_share: float = 0.0
    late_share: float = 0.0
    late_minutes: float = 15.0
    malformed_share: float = 0.0

    def __post_init__(self):
        for name in ("duplicate_share", "late_share", "malformed_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.late_minutes <= 0:
            raise ValueError(f"late_minutes must be positive, got {self.late_minutes}")


@dataclass(frozen=True)
class OutgoingRecord:
    """One Kinesis record and what the ledger says about it."""

    data: bytes
    partition_key: str
    kind: str  # EVENT, DUPLICATE or MALFORMED
    event_id: str | None  # None when the record carries no readable event_id
    malformation: str | None = None
    late: bool = False

    @property
    def size(self) -> int:
        """What Kinesis counts against its limits: data plus partition key."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))

    @property
    def valid(self) -> bool:
        return self.kind != MALFORMED

    def ledger_entry(self) -> dict:
        return {
            "event_id": self.event_id, "sha256": hashlib.sha256(self.data).hexdigest(), "kind": self.kind,
            "valid": self.valid, "malformation": self.malformation, "late": self.late,
            "partition_key": self.partition_key, "bytes": len(self.data),
        }


class FaultInjector:
    """Turns each event into the records to send now, and duplicates to send after the batch."""

    def __init__(self, shares: FaultShares, seed: int, max_event_bytes: int, known_article_ids: Collection[str]):
        self.shares = shares
        self.max_event_bytes = max_event_bytes
        self._known_articles = known_article_ids
        self._rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(FAULT_STREAM, 0)))
        self._ids = UuidSource(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(FAULT_STREAM, 1))))

    def records(self, event: ClickEvent) -> tuple[list[OutgoingRecord], list[OutgoingRecord]]:
        """(records to send now, duplicates to send once the current batch is out)."""
        duplicate, late, malformed, kind = self._rng.random(4)
        if late < self.shares.late_share:
            event = replace(event, event_time=event.event_time - timedelta(minutes=self.shares.late_minutes))
        record = OutgoingRecord(event.to_json(), event.partition_key, EVENT, event.event_id,
                                late=bool(late < self.shares.late_share))
        now = [record]
        if malformed < self.shares.malformed_share:
            now.append(self.malformed(event, MALFORMATIONS[int(kind * len(MALFORMATIONS))]))
        later = [replace(record, kind=DUPLICATE)] if duplicate < self.shares.duplicate_share else []
        return now, later

    def malformed(self, event: ClickEvent, malformation: str) -> OutgoingRecord:
        """A broken record made from `event` under a new event_id (never confused with the event)."""
        fields = event.as_record()
        fields["event_id"] = self._ids.next()
        fields["event_time"] = format_event_time(event.event_time)
        event_id = fields["event_id"]
        if malformation == BAD_JSON:
            whole = _json(fields)
            data = whole[: int(len(whole) * (0.2 + 0.6 * self._rng.random()))]
        elif malformation == MISSING_FIELD:
            missing = REQUIRED_FIELDS[int(self._rng.integers(len(REQUIRED_FIELDS)))]
            del fields[missing]
            event_id = fields.get("event_id")
            data = _json(fields)
        elif malformation == UNKNOWN_ARTICLE:
            fields["article_id"] = self._unknown_article_id()
            data = _json(fields)
        elif malformation == OVERSIZED:
            target = self.max_event_bytes + 1 + int(self._rng.integers(OVERSIZE_MARGIN_BYTES))
            fields["referrer"] = "https://www.example.com/landing?utm_campaign="
            padding = target - len(_json(fields))
            fields["referrer"] += "x" * max(padding, 0)
            data = _json(fields)
        else:
            raise ValueError(f"unknown malformation {malformation!r}; choose one of {MALFORMATIONS}")
        return OutgoingRecord(data, event.partition_key, MALFORMED, event_id, malformation)

    def _unknown_article_id(self) -> str:
        while True:
            candidate = f"{int(self._rng.integers(0, 10**10)):010d}"
            if candidate not in self._known_articles:
                return candidate


def _json(fields: dict) -> bytes:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
