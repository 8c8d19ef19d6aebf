"""The DynamoDB side of real-time recommendations, shared by the Lambda fast path and the Spark
streaming job (plain Python and boto3: it runs in the Lambda, on executors and on the driver).

Items (AttributeValue form; every table has one string hash key):

- real-time list, `names.realtime_recommendations_table`, key `user_id` (the shopper key: the
  customer id, or the session id of a guest, i.e. the Kinesis partition key): the serving
  contract's recommendations item (`recs/items.py`) with `source: realtime` and `expires_at`
  (newest event + `realtime.ttl_s`), plus `event_time_ms` (the newest event it was computed from:
  the condition of every write) and `events_digest` (which events: `rule.events_digest`). Every
  attribute but `generated_at` is a function of the events and the inputs, so both engines write
  the same item for the same events.
- event ring, `names.realtime_events_table`, key `user_id`: `events` (list of maps: event_id,
  event_type, article_id, event_time_ms; at most `realtime.ring_length`, see `rule.merge_events`),
  `version` (incremented by every write: optimistic concurrency), `event_time_ms`, `expires_at`.
- trending, `names.trending_table`, key `scope` (`all`; room for per-segment lists later):
  `items` (list of maps: article_id, score; best first), `event_time_ms` (end of the window),
  `generated_at`, `expires_at`. Written by the streaming job with `put_if_newer`.

Conditional writes (`put_if_newer`): a computation as of an older event time never replaces a
newer item, whichever engine wrote it. An equal time may replace it: that is the same events, or
the same newest event with a late one added (the later computation knows more).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from fashion_pipeline.aws import create_missing_dynamodb_tables
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.realtime.rule import (
    RULE_VERSION,
    RankedItem,
    SessionEvent,
    events_digest,
    merge_events,
    score_realtime,
)
from fashion_pipeline.realtime.settings import RealtimeSettings
from fashion_pipeline.recs.items import (
    EXPIRES_AT,
    SOURCE_REALTIME,
    USER_KEY,
    dynamo_number,
    plain_items,
    recommendation_item,
)

TRENDING_KEY, TRENDING_SCOPE_ALL = "scope", "all"
EVENT_TIME_MS, EVENTS_DIGEST, RING_VERSION = "event_time_ms", "events_digest", "version"
BATCH_GET_LIMIT = 100  # keys per BatchGetItem call
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"


class RealtimeStoreError(PipelineError):
    """A DynamoDB call of the real-time path failed after every retry."""


# ---------------------------------------------------------------------------------- items
def realtime_item(shopper_key: str, items: Sequence[RankedItem], events: Sequence[SessionEvent],
                  batch_model_version: str | None, generated_at: str, ttl_s: int) -> dict:
    """The real-time recommendations item of a shopper, computed from `events`."""
    newest_ms = max(e.event_time_ms for e in events)
    version = RULE_VERSION if not batch_model_version else f"{RULE_VERSION}+{batch_model_version}"
    item = recommendation_item(
        shopper_key, [i.as_dict() for i in items], version, generated_at, source=SOURCE_REALTIME,
        expires_at=newest_ms // 1000 + ttl_s,
    )
    item[EVENT_TIME_MS] = {"N": str(newest_ms)}
    item[EVENTS_DIGEST] = {"S": events_digest(events)}
    return item


def ring_item(shopper_key: str, events: Sequence[SessionEvent], version: int, ttl_s: int) -> dict:
    newest_ms = max(e.event_time_ms for e in events)
    return {
        USER_KEY: {"S": shopper_key},
        "events": {"L": [{"M": {
            "event_id": {"S": e.event_id}, "event_type": {"S": e.event_type},
            "article_id": {"S": e.article_id}, EVENT_TIME_MS: {"N": str(e.event_time_ms)},
        }} for e in events]},
        RING_VERSION: {"N": str(version)},
        EVENT_TIME_MS: {"N": str(newest_ms)},
        EXPIRES_AT: {"N": str(newest_ms // 1000 + ttl_s)},
    }


def ring_events(item: Mapping | None, now_s: float) -> tuple[list[SessionEvent], int]:
    """(events, version) of a ring item; an expired ring counts as empty (TTL deletes lazily)."""
    if not item:
        return [], 0
    version = int(item[RING_VERSION]["N"])
    if EXPIRES_AT in item and float(item[EXPIRES_AT]["N"]) <= now_s:
        return [], version
    events = [
        SessionEvent(int(e["M"][EVENT_TIME_MS]["N"]), e["M"]["event_id"]["S"], e["M"]["event_type"]["S"],
                     e["M"]["article_id"]["S"])
        for e in item.get("events", {}).get("L", [])
    ]
    return events, version


def trending_item(items: Sequence[tuple[str, float]], window_end_ms: int, generated_at: str, ttl_s: int,
                  scope: str = TRENDING_SCOPE_ALL) -> dict:
    """The live trending list (what the streaming job writes; tests and the demo write it too)."""
    return {
        TRENDING_KEY: {"S": scope},
        "items": {"L": [{"M": {"article_id": {"S": a}, "score": dynamo_number(s)}} for a, s in items]},
        EVENT_TIME_MS: {"N": str(int(window_end_ms))},
        "generated_at": {"S": generated_at},
        EXPIRES_AT: {"N": str(int(window_end_ms) // 1000 + ttl_s)},
    }


def write_trending(client, settings: RealtimeSettings, items: Sequence[tuple[str, float]], window_end_ms: int,
                   now_s: float, scope: str = TRENDING_SCOPE_ALL) -> bool:
    """Publish a trending list (best first) computed over events up to `window_end_ms`, unless a
    list of a later window is there already. What the streaming job calls after each window."""
    item = trending_item(items, window_end_ms, utc_now_text(now_s), settings.ttl_s, scope)
    return put_if_newer(client, settings.tables.trending, item, key_attribute=TRENDING_KEY)


def trending_list(item: Mapping | None, now_s: float) -> list[tuple[str, float]]:
    if not item or (EXPIRES_AT in item and float(item[EXPIRES_AT]["N"]) <= now_s):
        return []
    return [(e["M"]["article_id"]["S"], float(e["M"]["score"]["N"])) for e in item["items"]["L"]]


def utc_now_text(now_s: float) -> str:
    return datetime.fromtimestamp(now_s, timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------- retries
@dataclass
class Retry:
    """Full-jitter exponential backoff for what botocore does not retry itself (unprocessed keys,
    lost optimistic-concurrency races); `sleep` and `jitter` are injectable for tests."""

    max_attempts: int
    base_delay_s: float
    max_delay_s: float
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    delays: list[float] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: RealtimeSettings, **injected) -> "Retry":
        return cls(settings.write_max_attempts, settings.write_base_delay_s, settings.write_max_delay_s, **injected)

    def pause(self, attempt: int) -> None:
        delay = self.jitter() * min(self.max_delay_s, self.base_delay_s * 2 ** attempt)
        self.delays.append(delay)
        self.sleep(delay)


# ---------------------------------------------------------------------------------- reads
def batch_get(client, keys_by_table: Mapping[str, Iterable[dict]], retry: Retry,
              consistent_tables: Iterable[str] = ()) -> dict[str, list[dict]]:
    """Every item found under the keys, by table: BatchGetItem in calls of at most 100 keys
    (duplicates removed: DynamoDB refuses them), re-asking for unprocessed keys with backoff."""
    consistent = set(consistent_tables)
    pending: list[tuple[str, dict]] = []
    for table, keys in keys_by_table.items():
        seen = set()
        for key in keys:
            marker = tuple(sorted((name, value["S"]) for name, value in key.items()))
            if marker not in seen:
                seen.add(marker)
                pending.append((table, key))
    found: dict[str, list[dict]] = {table: [] for table in keys_by_table}
    while pending:
        chunk, pending = pending[:BATCH_GET_LIMIT], pending[BATCH_GET_LIMIT:]
        request = _batch_get_request(chunk, consistent)
        for attempt in range(retry.max_attempts):
            response = client.batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                found[table].extend(items)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt + 1 < retry.max_attempts:
                retry.pause(attempt)
        else:
            left = sum(len(r["Keys"]) for r in request.values())
            raise RealtimeStoreError(f"{left} keys still unprocessed by BatchGetItem after {retry.max_attempts} attempts")
    return found


def _batch_get_request(chunk: list[tuple[str, dict]], consistent: set[str]) -> dict:
    request: dict[str, dict] = {}
    for table, key in chunk:
        request.setdefault(table, {"Keys": [], **({"ConsistentRead": True} if table in consistent else {})})
        request[table]["Keys"].append(key)
    return request


# ---------------------------------------------------------------------------------- writes
def put_if_newer(client, table: str, item: dict, key_attribute: str = USER_KEY) -> bool:
    """Put `item` unless the table holds a newer one for its key: the condition is on
    `event_time_ms` (the newest event the item was computed from). Returns False when a newer
    item won (nothing written); any other error propagates."""
    try:
        client.put_item(
            TableName=table, Item=item,
            ConditionExpression="attribute_not_exists(#key) OR attribute_not_exists(#stamp) OR #stamp <= :stamp",
            ExpressionAttributeNames={"#key": key_attribute, "#stamp": EVENT_TIME_MS},
            ExpressionAttributeValues={":stamp": item[EVENT_TIME_MS]},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITIONAL_CHECK_FAILED:
            return False
        raise
    return True


def put_ring(client, table: str, item: dict, expected_version: int) -> bool:
    """Write a ring if nobody wrote it since it was read at `expected_version` (0: not there)."""
    condition = "attribute_not_exists(#key)" if expected_version == 0 else "#version = :expected"
    values = {} if expected_version == 0 else {":expected": {"N": str(expected_version)}}
    names = {"#key": USER_KEY} if expected_version == 0 else {"#version": RING_VERSION}
    try:
        client.put_item(TableName=table, Item=item, ConditionExpression=condition,
                        ExpressionAttributeNames=names, **({"ExpressionAttributeValues": values} if values else {}))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITIONAL_CHECK_FAILED:
            return False
        raise
    return True


# ---------------------------------------------------------------------------------- the refresh
DUPLICATE, WRITTEN, STALE, FAILED = "duplicate", "written", "stale", "failed"


@dataclass
class ShopperOutcome:
    shopper_key: str
    status: str  # DUPLICATE (nothing new), WRITTEN, STALE (a newer item won), FAILED
    items: list[RankedItem] = field(default_factory=list)
    error: BaseException | None = None
    written_at_s: float | None = None  # wall clock when the real-time item was written


@dataclass(frozen=True)
class ScoringInputs:
    """What the rule needs besides the events, fetched for many shoppers at once."""

    neighbors: dict[str, list[tuple[str, float]]]  # article -> neighbours (known articles only)
    batch: dict[str, dict]  # shopper key -> nightly item (registered customers the batch knows)
    trending: list[tuple[str, float]]


def fetch_inputs(client, settings: RealtimeSettings, shopper_keys: Iterable[str], articles: Iterable[str],
                 retry: Retry, now_s: float) -> ScoringInputs:
    """Neighbours of `articles`, the nightly items of the shoppers and the trending list, in one
    BatchGetItem round (several calls past 100 keys). Guests (session ids) are not looked up."""
    tables = settings.tables
    found = batch_get(client, {
        tables.neighbors: [{"article_id": {"S": a}} for a in sorted(set(articles))],
        tables.batch: [{USER_KEY: {"S": k}} for k in sorted(set(shopper_keys)) if is_customer_key(k)],
        tables.trending: [{TRENDING_KEY: {"S": TRENDING_SCOPE_ALL}}],
    }, retry)
    neighbors = {  # the item-neighbours item (recs/items.py neighbor_item) as (article, cosine) pairs
        item["article_id"]["S"]: [(n["M"]["article_id"]["S"], float(n["M"]["score"]["N"]))
                                  for n in item.get("neighbors", {}).get("L", [])]
        for item in found[tables.neighbors]
    }
    batch = {item[USER_KEY]["S"]: item for item in found[tables.batch]}
    trending = trending_list(next(iter(found[tables.trending]), None), now_s)
    return ScoringInputs(neighbors, batch, trending)


def is_customer_key(shopper_key: str) -> bool:
    """Customer ids are 64 hex; a guest's key is its session UUID (it has dashes)."""
    return len(shopper_key) == 64 and "-" not in shopper_key


def score_shopper(shopper_key: str, events: Sequence[SessionEvent], inputs: ScoringInputs,
                  settings: RealtimeSettings) -> tuple[list[RankedItem], str | None]:
    """The rule on fetched inputs: (items, model version of the nightly list used)."""
    batch = inputs.batch.get(shopper_key)
    articles = {e.article_id for e in events}
    neighbors = {a: inputs.neighbors[a] for a in sorted(articles) if a in inputs.neighbors}
    items = score_realtime(events, neighbors, plain_items((batch or {}).get("items")), inputs.trending, settings.rule)
    return items, (batch["model_version"]["S"] if batch else None)


class RealtimeStore:
    """Refreshes shoppers' real-time lists from new events: ring (fast path only), inputs, rule,
    conditional write. The clock, sleep and jitter are injectable."""

    def __init__(self, client, settings: RealtimeSettings, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random):
        self.client, self.settings = client, settings
        self.clock = clock
        self.retry = Retry.from_settings(settings, sleep=sleep, jitter=jitter)
        self._pool: ThreadPoolExecutor | None = None

    def _for_each_shopper(self, keys: Sequence[str], work: Callable[[str], ShopperOutcome]) -> dict[str, ShopperOutcome]:
        """`work(key)` for every shopper, `write_concurrency` at a time: each shopper's writes wait
        on DynamoDB's round trips, which overlap (boto3 clients are thread-safe). A failure stays
        with its shopper."""
        def guarded(key: str) -> ShopperOutcome:
            try:
                return work(key)
            except Exception as error:  # noqa: BLE001 - reported per record by the caller
                return ShopperOutcome(key, FAILED, error=error)

        if self.settings.write_concurrency <= 1 or len(keys) <= 1:
            return {key: guarded(key) for key in keys}
        if self._pool is None:  # kept for the container's later invocations
            self._pool = ThreadPoolExecutor(self.settings.write_concurrency, thread_name_prefix="realtime-write")
        return dict(zip(keys, self._pool.map(guarded, keys)))

    # -- the fast path: the ring in DynamoDB holds each shopper's recent events
    def refresh_from_new_events(self, new_events: Mapping[str, Sequence[SessionEvent]]) -> dict[str, ShopperOutcome]:
        """Merge each shopper's new events into their ring, and rescore and write those whose ring
        changed (or whose real-time item does not reflect their ring yet). A shopper whose new
        events were all seen before is a DUPLICATE: nothing is written. Errors are per shopper:
        one failing shopper does not fail the others; a failure of the shared reads fails all."""
        tables, now_s = self.settings.tables, self.clock()
        keys = sorted(new_events)
        outcomes: dict[str, ShopperOutcome] = {}
        try:
            found = batch_get(self.client, {
                tables.events: [{USER_KEY: {"S": k}} for k in keys],
                tables.realtime: [{USER_KEY: {"S": k}} for k in keys],
            }, self.retry, consistent_tables=(tables.events, tables.realtime))
        except Exception as error:  # noqa: BLE001 - reported per record by the caller
            return {k: ShopperOutcome(k, FAILED, error=error) for k in keys}
        rings = {item[USER_KEY]["S"]: item for item in found[tables.events]}
        current = {item[USER_KEY]["S"]: item for item in found[tables.realtime]}

        pending: dict[str, tuple[list[SessionEvent], list[SessionEvent], int]] = {}
        for key in keys:
            old_events, version = ring_events(rings.get(key), now_s)
            merged = self._merge(old_events, new_events[key])
            if merged == old_events and _reflects(current.get(key), merged):
                outcomes[key] = ShopperOutcome(key, DUPLICATE)
            else:
                pending[key] = (old_events, merged, version)
        if not pending:
            return outcomes
        try:
            inputs = fetch_inputs(self.client, self.settings, pending,
                                  {e.article_id for _, merged, _ in pending.values() for e in merged}, self.retry, now_s)
        except Exception as error:  # noqa: BLE001
            outcomes.update({k: ShopperOutcome(k, FAILED, error=error) for k in pending})
            return outcomes
        outcomes.update(self._for_each_shopper(list(pending), lambda key: self._store_ring_and_list(
            key, *pending[key], new_events[key], inputs)))
        return outcomes

    def _merge(self, old: Sequence[SessionEvent], new: Sequence[SessionEvent]) -> list[SessionEvent]:
        return merge_events(old, new, self.settings.ring_length, self.settings.ttl_s * 1000)

    def _store_ring_and_list(self, key: str, old_events, merged, version: int, new_events,
                             inputs: ScoringInputs) -> ShopperOutcome:
        tables = self.settings.tables
        for attempt in range(self.retry.max_attempts):
            if merged == old_events or put_ring(self.client, tables.events,
                                               ring_item(key, merged, version + 1, self.settings.ttl_s), version):
                break
            # Another writer changed the ring since it was read: read it again and merge again.
            self.retry.pause(attempt)
            response = self.client.get_item(TableName=tables.events, Key={USER_KEY: {"S": key}}, ConsistentRead=True)
            old_events, version = ring_events(response.get("Item"), self.clock())
            merged = self._merge(old_events, new_events)
            missing = {e.article_id for e in merged} - set(inputs.neighbors)
            if missing:
                extra = fetch_inputs(self.client, self.settings, [], missing, self.retry, self.clock())
                inputs = ScoringInputs({**inputs.neighbors, **extra.neighbors}, inputs.batch, inputs.trending)
        else:
            raise RealtimeStoreError(f"the event ring of {key} kept changing under {self.retry.max_attempts} attempts")
        return self.write_list(key, merged, inputs)

    # -- both engines: score a shopper's events and write the list if it is not older
    def write_list(self, key: str, events: Sequence[SessionEvent], inputs: ScoringInputs) -> ShopperOutcome:
        items, batch_version = score_shopper(key, events, inputs, self.settings)
        item = realtime_item(key, items, events, batch_version, utc_now_text(self.clock()), self.settings.ttl_s)
        if put_if_newer(self.client, self.settings.tables.realtime, item):
            return ShopperOutcome(key, WRITTEN, items, written_at_s=self.clock())
        return ShopperOutcome(key, STALE, items)

    def refresh_from_state(self, events_by_shopper: Mapping[str, Sequence[SessionEvent]]) -> dict[str, ShopperOutcome]:
        """For an engine that keeps the events itself (the streaming job's state, already merged
        with `rule.merge_events`): fetch the inputs, score and write conditionally; no ring."""
        keys = sorted(k for k, events in events_by_shopper.items() if events)
        now_s = self.clock()
        inputs = fetch_inputs(self.client, self.settings, keys,
                              {e.article_id for k in keys for e in events_by_shopper[k]}, self.retry, now_s)
        return self._for_each_shopper(keys, lambda key: self.write_list(key, list(events_by_shopper[key]), inputs))


def _reflects(item: Mapping | None, events: Sequence[SessionEvent]) -> bool:
    """Whether a real-time item was computed from exactly these events (by either engine)."""
    return bool(item) and bool(events) and item.get(EVENTS_DIGEST, {}).get("S") == events_digest(events)


# ---------------------------------------------------------------------------------- tables
def ensure_realtime_tables(client, settings: RealtimeSettings, waiter_delay_s: int = 1) -> list[str]:
    """Create the tables of the real-time path if missing (on-demand, TTL on `expires_at`);
    returns the names created. The nightly tables are `recs.dynamodb.ensure_serving_tables`'."""
    tables = settings.tables
    wanted = {
        tables.realtime: USER_KEY, tables.events: USER_KEY, tables.trending: TRENDING_KEY,
        tables.batch: USER_KEY, tables.neighbors: "article_id",
    }
    return create_missing_dynamodb_tables(client, wanted, EXPIRES_AT, (tables.realtime, tables.events, tables.trending),
                                          waiter_delay_s)


def item_without(item: Mapping[str, Any], *attributes: str) -> dict:
    """A copy without some attributes (e.g. `generated_at`, the one that differs between engines)."""
    return {name: value for name, value in item.items() if name not in attributes}
