"""The streaming engine's half of the real-time path, without a Spark import (Spark hands pandas
frames and a GroupState in):

- `update_ring`: Spark's per-shopper state (`applyInPandasWithState`) kept with the very function
  the fast path keeps its DynamoDB ring with (`rule.merge_events`): one event per id, the newest
  `ring_length`, none older than the TTL before the newest. A shopper's ring is emitted only when a
  micro-batch changed it; it expires `ttl_s` after the shopper's newest click, in event time (the watermark's).
- `refresh_partition`: on an executor, every changed shopper of one partition is scored by the
  shared rule and written conditionally (`RealtimeStore.refresh_from_state`: inputs by
  BatchGetItem, `put_if_newer`), so nothing goes through the driver.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from fashion_pipeline.realtime.rule import SessionEvent, merge_events
from fashion_pipeline.realtime.settings import RealtimeSettings
from fashion_pipeline.realtime.store import FAILED, RealtimeStore

# A ring travels as JSON text (a list of SessionEvent.as_dict()): pandas-to-Arrow conversion of
# arrays of structs in and out of applyInPandasWithState is not dependable in Spark 4.0.
RING_STATE_SCHEMA = "events_json string"
CHANGED_RINGS_SCHEMA = "shopper_key string, events_json string"
REFRESH_OUTCOMES_SCHEMA = "status string, shoppers bigint"


class RealtimeRefreshError(RuntimeError):
    """Shoppers of a partition could not be written; the task fails and Spark runs it again (the
    writes are conditional, so what was written already is written the same way)."""


@dataclass(frozen=True)
class RingSettings:
    ring_length: int
    ttl_s: int

    @classmethod
    def from_settings(cls, settings: RealtimeSettings) -> "RingSettings":
        return cls(settings.ring_length, settings.ttl_s)


def events_of(frames: Iterator[pd.DataFrame]) -> list[SessionEvent]:
    return [SessionEvent.from_dict(row) for frame in frames for row in frame.to_dict("records")]


def ring_json(events: list[SessionEvent]) -> str:
    return json.dumps([e.as_dict() for e in events], separators=(",", ":"), sort_keys=True)


def ring_from_json(text: str | None) -> list[SessionEvent]:
    return [SessionEvent.from_dict(e) for e in json.loads(text)] if text else []


def update_ring(key: tuple, frames: Iterator[pd.DataFrame], state, ring_settings: RingSettings) -> Iterator[pd.DataFrame]:
    """applyInPandasWithState body for one shopper: `frames` hold the batch's new events
    (event_id, event_type, article_id, event_time_ms)."""
    if state.hasTimedOut:
        state.remove()
        return
    old = ring_from_json(state.get[0]) if state.exists else []
    merged = merge_events(old, events_of(frames), ring_settings.ring_length, ring_settings.ttl_s * 1000)
    if merged:
        # Expires ttl_s after the newest click in event time; never before the watermark, which
        # Spark refuses (a shopper's newest click may be older than another shopper's).
        newest_ms = max(e.event_time_ms for e in merged)
        state.setTimeoutTimestamp(max(newest_ms + ring_settings.ttl_s * 1000, state.getCurrentWatermarkMs() + 1))
    if merged == old:
        return  # every event was seen before: nothing to rescore
    ring = ring_json(merged)
    state.update((ring,))
    yield pd.DataFrame({"shopper_key": [key[0]], "events_json": [ring]})


def refresh_partition(frames: Iterator[pd.DataFrame], settings: RealtimeSettings) -> Iterator[pd.DataFrame]:
    """mapInPandas body over changed rings: score and write each shopper, count the outcomes."""
    store = RealtimeStore(settings.client(), settings)
    counts: Counter = Counter()
    for frame in frames:
        rings = {row["shopper_key"]: ring_from_json(row["events_json"]) for row in frame.to_dict("records")}
        if not rings:
            continue
        outcomes = store.refresh_from_state(rings)
        failed = [o for o in outcomes.values() if o.status == FAILED]
        if failed:
            raise RealtimeRefreshError(
                f"{len(failed)} of {len(outcomes)} shoppers not written, first: {failed[0].shopper_key}: {failed[0].error}")
        counts.update(o.status for o in outcomes.values())
    if counts:  # pyspark 4.0 with pyarrow 26 fails on an empty frame of object columns
        yield pd.DataFrame({"status": list(counts), "shoppers": [counts[s] for s in counts]})
