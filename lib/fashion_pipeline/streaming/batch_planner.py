"""The driver side of the Kinesis source: which offset latestOffset() returns, and when.

What Spark 4.0 does with a Python stream reader (read in pyspark's
python_streaming_source_runner.py and checked against 4.0.5):

- a fresh query calls latestOffset(), then initialOffset(), then partitions(initial, latest);
- latestOffset() takes no argument; whenever it returns an offset different (as JSON text) from
  the last one Spark logged, Spark logs it and runs a batch up to it, and calls latestOffset()
  again only after that batch is done;
- on a restart from a checkpoint Spark calls partitions(last, last) with the last logged offset
  (AcceptsLatestSeenOffset), replays that batch if it was not committed, then calls
  latestOffset() on the new reader;
- commit(end) comes at the start of the next batch and never after the last one.

So the reader needs to know where the previous batch ended without being told. It keeps every
plan it hands out under the metadata path before returning it (plans/<batch>.json), and the
executors record where each shard's read ended (outcomes/<batch>/<shard>.json). A new reader
starts from the last plan on file: when its outcomes are all there, Spark ran it; when they are
not, Spark may never have logged it (stopped between our write and its own), so the same plan is
offered again, which is right either way. Nothing relies on commit() or on Spark announcing the
last offset, though an announcement is taken when it comes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Mapping, Protocol

from fashion_pipeline.streaming.batch_metadata import BatchMetadataStore
from fashion_pipeline.streaming.errors import KinesisSourceOptionError
from fashion_pipeline.streaming.shard_plan import (
    BatchPlan,
    ShardInfo,
    ShardOutcome,
    ShardState,
    advance,
    choose_reads,
    first_state,
    initial_offset,
    initial_position,
    is_initial_offset,
    next_plan,
    reconcile,
)


class ShardSource(Protocol):
    """What the planner needs from Kinesis."""

    def list_shards(self) -> list[ShardInfo]: ...
    def has_records_after(self, shard_id: str, position: str) -> bool: ...
    def read_to_end(self, plan: BatchPlan, shard_id: str) -> ShardOutcome: ...


@dataclass(frozen=True)
class ShardTask:
    """One partition of a batch: read `shard_id` from `position`, at most `limit` records."""

    batch: int
    shard_id: str
    position: str
    limit: int
    ending: str | None


@dataclass(frozen=True)
class PlannerSettings:
    stream: str
    max_records_per_shard: int
    starting_position: str
    starting_timestamp: datetime | None = None
    # With nothing known to be waiting, ask Kinesis at most this often whether records arrived
    # (Spark polls an idle query every 10 ms under the default trigger).
    probe_interval_s: float = 1.0
    list_shards_interval_s: float = 1.0
    batches_to_retain: int = 100
    metadata_path: str = ""


class BatchPlanner:
    def __init__(self, settings: PlannerSettings, shards: ShardSource, store: BatchMetadataStore,
                 monotonic: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        self._settings = settings
        self._shards = shards
        self._store = store
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._last: BatchPlan | None = None
        self._after_last: tuple[BatchPlan, ShardState, dict[str, ShardOutcome]] | None = None
        self._listing: list[ShardInfo] | None = None
        self._listed_at = float("-inf")
        self._next_probe_at = float("-inf")

    # --- the DataSourceStreamReader calls ---------------------------------------------------

    def initial_offset(self) -> dict:
        return initial_offset(self._settings.stream)

    def latest_offset(self) -> dict:
        if self._last is None:
            stored = self._store.latest_plan()
            if stored is None:
                return self._hand_out(self._first_plan())
            self._check_stream(stored)
            self._last = stored
            if not self._all_outcomes_recorded(stored):
                # Spark may not have logged it; if it has, offering it again changes nothing,
                # and by the next call it is logged and its batch done either way.
                return stored.to_offset()
        return self._plan_after(self._last)

    def partitions(self, start: Mapping, end: Mapping) -> list[ShardTask]:
        if is_initial_offset(end):
            return []
        plan = BatchPlan.from_offset(end)
        self._check_stream(plan)
        self._note_logged(plan)
        if dict(start) == dict(end):
            return []  # Spark announcing its last logged offset, or an empty range
        return [
            ShardTask(plan.batch, shard_id, plan.state.positions[shard_id], plan.limit, plan.ending.get(shard_id))
            for shard_id in plan.read
        ]

    def commit(self, end: Mapping) -> None:
        """Only housekeeping: Spark calls it late (next batch) or never (after the last one)."""
        if is_initial_offset(end):
            return
        keep_from = BatchPlan.from_offset(end).batch - self._settings.batches_to_retain
        if keep_from > 0:
            self._store.purge_before(keep_from)

    # --- planning ---------------------------------------------------------------------------

    def _first_plan(self) -> BatchPlan:
        shards = self._list_shards(force=True)
        start = initial_position(self._settings.starting_position, self._settings.starting_timestamp, self._wall_clock())
        state = first_state(shards, start)
        choice = choose_reads(state, shards, {})
        found = self._probe(choice.to_probe, state, rate_limited=False)
        return next_plan(None, self._settings.stream, self._settings.max_records_per_shard, state, shards,
                         choice.certain + found)

    def _plan_after(self, plan: BatchPlan) -> dict:
        state, outcomes = self._state_after(plan)
        shards = self._list_shards()
        state = reconcile(state, shards)
        choice = choose_reads(state, shards, outcomes)
        found = self._probe(choice.to_probe, state, rate_limited=True)
        if not choice.certain and not found:
            return plan.to_offset()
        return self._hand_out(next_plan(plan, self._settings.stream, self._settings.max_records_per_shard, state,
                                        shards, choice.certain + found))

    def _state_after(self, plan: BatchPlan) -> tuple[ShardState, dict[str, ShardOutcome]]:
        if self._after_last is not None and self._after_last[0] == plan:
            return self._after_last[1], self._after_last[2]
        outcomes = {}
        for shard_id in plan.read:
            outcome = self._store.outcome(plan.batch, shard_id)
            if outcome is None:
                # Spark finished the batch without reading this partition to its end (a
                # foreachBatch that never touched it, a limit): decide its end here, once.
                outcome = self._store.record_outcome(plan.batch, shard_id, self._shards.read_to_end(plan, shard_id))
            outcomes[shard_id] = outcome
        state = advance(plan, outcomes)
        self._after_last = (plan, state, outcomes)
        return state, outcomes

    def _hand_out(self, plan: BatchPlan) -> dict:
        # Outcomes filed under this batch number can only come from a plan Spark never logged.
        self._store.discard_outcomes(plan.batch)
        self._store.save_plan(plan)
        self._last = plan
        self._next_probe_at = float("-inf")
        return plan.to_offset()

    def _note_logged(self, plan: BatchPlan) -> None:
        # What Spark logged is the truth, even over a newer plan of ours it never logged.
        self._last = plan

    def _all_outcomes_recorded(self, plan: BatchPlan) -> bool:
        return all(self._store.outcome(plan.batch, shard_id) is not None for shard_id in plan.read)

    def _list_shards(self, force: bool = False) -> list[ShardInfo]:
        now = self._monotonic()
        if force or self._listing is None or now - self._listed_at >= self._settings.list_shards_interval_s:
            self._listing = self._shards.list_shards()
            self._listed_at = now
        return self._listing

    def _probe(self, shard_ids: Iterable[str], state: ShardState, rate_limited: bool) -> tuple[str, ...]:
        shard_ids = tuple(shard_ids)
        if not shard_ids:
            return ()
        now = self._monotonic()
        if rate_limited and now < self._next_probe_at:
            return ()
        self._next_probe_at = now + self._settings.probe_interval_s
        return tuple(s for s in shard_ids if self._shards.has_records_after(s, state.positions[s]))

    def _check_stream(self, plan: BatchPlan) -> None:
        if plan.stream != self._settings.stream:
            raise KinesisSourceOptionError(
                f"the Kinesis source metadata at {self._settings.metadata_path or 'this path'} belongs to stream "
                f"{plan.stream!r}, not {self._settings.stream!r}: give each stream its own checkpoint location"
            )
