"""Offset arithmetic and shard lineage of the Kinesis source, in pure Python (no Spark, no boto3).

A micro-batch is a `BatchPlan`: for every known shard the position consumed so far, which shards
are drained, and which shards this batch reads (at most `limit` records each, from their
position). Spark logs the plan as the batch's end offset before the batch runs, so a replayed
batch starts from the same positions. Where a batch ends on each shard is decided by the first
complete read of that shard (the cap, the shard's end or the tip of the stream, whichever comes
first) and recorded as a `ShardOutcome`; the next plan starts where the outcomes say.

Positions are strings: a sequence number (everything up to and including it is consumed),
`TRIM_HORIZON` (nothing consumed, start at the oldest record) or `AT_TIMESTAMP:<epoch ms>`
(nothing consumed, start at the first record that arrived at or after that instant). Sequence
numbers are compared as integers: AWS's are 56-digit strings, moto's small integers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Mapping

TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"
STARTING_POSITIONS = (LATEST, TRIM_HORIZON, AT_TIMESTAMP)
_AT_TIMESTAMP_PREFIX = f"{AT_TIMESTAMP}:"
# initialOffset() is Spark's start of batch 0; plans carry their own positions, so it is a marker.
INITIAL_BATCH = -1


def is_sequence_number(position: str) -> bool:
    return position.isdigit()


def sequence_key(sequence_number: str) -> int:
    """Sort key of a sequence number: AWS's are 56 digits, beyond any float, so compare as int."""
    return int(sequence_number)


def at_timestamp_position(epoch_ms: int) -> str:
    return f"{_AT_TIMESTAMP_PREFIX}{epoch_ms}"


def position_timestamp_ms(position: str) -> int | None:
    if position.startswith(_AT_TIMESTAMP_PREFIX):
        return int(position[len(_AT_TIMESTAMP_PREFIX):])
    return None


def initial_position(starting_position: str, starting_timestamp: datetime | None, now_epoch_s: float) -> str:
    """Where a shard known when the query first starts begins.

    LATEST is pinned to the query's first planning instant (as AT_TIMESTAMP), not left to
    GetShardIterator(LATEST) at read time: a replayed first batch then reads the same records,
    and records put between planning and reading are not skipped.
    """
    if starting_position == TRIM_HORIZON:
        return TRIM_HORIZON
    if starting_position == LATEST:
        return at_timestamp_position(math.ceil(now_epoch_s * 1000))
    if starting_position == AT_TIMESTAMP:
        if starting_timestamp is None:
            raise ValueError("AT_TIMESTAMP needs a starting timestamp")
        moment = starting_timestamp if starting_timestamp.tzinfo else starting_timestamp.replace(tzinfo=timezone.utc)
        return at_timestamp_position(math.floor(moment.timestamp() * 1000))
    raise ValueError(f"unknown starting position {starting_position!r}; expected one of {STARTING_POSITIONS}")


def shard_iterator_request(position: str) -> dict:
    """GetShardIterator arguments that resume right after `position`."""
    if is_sequence_number(position):
        return {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": position}
    if position == TRIM_HORIZON:
        return {"ShardIteratorType": TRIM_HORIZON}
    timestamp_ms = position_timestamp_ms(position)
    if timestamp_ms is not None:
        return {"ShardIteratorType": AT_TIMESTAMP, "Timestamp": datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)}
    raise ValueError(f"not a shard position: {position!r}")


def is_consumed_through(position: str, ending_sequence_number: str | None) -> bool:
    """True when a closed shard has nothing left after `position`."""
    return (
        ending_sequence_number is not None
        and is_sequence_number(position)
        and sequence_key(position) >= sequence_key(ending_sequence_number)
    )


@dataclass(frozen=True)
class ShardInfo:
    """One shard as ListShards describes it. `ending` is set once the shard is closed (split or
    merged): its EndingSequenceNumber. moto never returns ChildShards from GetRecords and a closed
    shard's iterator never ends there, so lineage and closure come from ListShards only."""

    shard_id: str
    parents: tuple[str, ...] = ()
    ending: str | None = None

    @classmethod
    def from_list_shards(cls, shard: Mapping) -> "ShardInfo":
        parents = tuple(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p)
        ending = (shard.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")
        return cls(shard["ShardId"], parents, ending)


@dataclass(frozen=True)
class ShardOutcome:
    """How one batch's read of one shard ended, decided once by its first complete read.

    count: records read; last: sequence number of the last one (None when count is 0);
    drained: the shard is closed and everything in it is now consumed; more: the read stopped
    at the cap (or on a run of empty pages) with records left, so the next batch reads on
    without asking Kinesis first. millis_behind_latest: how far behind the shard's tip the read
    ended (Kinesis' MillisBehindLatest of its last page), for monitoring only: two reads that
    end on the same record are the same outcome whatever their lag.
    """

    count: int
    last: str | None
    drained: bool = False
    more: bool = False
    millis_behind_latest: int | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        data = {"count": self.count, "drained": self.drained, "last": self.last, "more": self.more}
        if self.millis_behind_latest is not None:
            data["millis_behind_latest"] = self.millis_behind_latest
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> "ShardOutcome":
        lag = data.get("millis_behind_latest")
        return cls(int(data["count"]), data.get("last"), bool(data.get("drained", False)), bool(data.get("more", False)),
                   None if lag is None else int(lag))


@dataclass(frozen=True)
class ShardState:
    """Where the query stands on every known shard between two batches.

    positions: shard -> position consumed so far (drained shards keep theirs);
    drained: shard -> the EndingSequenceNumber it had when it was drained ("" when unknown).
    """

    positions: Mapping[str, str]
    drained: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchPlan:
    """What one micro-batch reads; its offset form is what Spark logs.

    batch: our own counter (Spark's batch id is not visible to latestOffset); the offset of every
    new batch differs from the previous one even when no position moved, and outcomes are filed
    under it. read: the shards given a partition in this batch. ending: for those read shards
    that were closed when planned, their EndingSequenceNumber.
    """

    batch: int
    stream: str
    limit: int
    state: ShardState
    read: tuple[str, ...] = ()
    ending: Mapping[str, str] = field(default_factory=dict)

    def to_offset(self) -> dict:
        # Spark compares offsets as JSON text: build every dict in sorted key order so that the
        # same plan always serialises to the same text (the runner calls json.dumps without
        # sort_keys).
        return {
            "batch": self.batch,
            "drained": _sorted_dict(self.state.drained),
            "ending": _sorted_dict(self.ending),
            "limit": self.limit,
            "positions": _sorted_dict(self.state.positions),
            "read": sorted(self.read, key=shard_order),
            "stream": self.stream,
        }

    @classmethod
    def from_offset(cls, offset: Mapping) -> "BatchPlan":
        return cls(
            batch=int(offset["batch"]),
            stream=str(offset["stream"]),
            limit=int(offset["limit"]),
            state=ShardState(dict(offset.get("positions") or {}), dict(offset.get("drained") or {})),
            read=tuple(offset.get("read") or ()),
            ending=dict(offset.get("ending") or {}),
        )


def initial_offset(stream: str) -> dict:
    return {"batch": INITIAL_BATCH, "stream": stream}


def is_initial_offset(offset: Mapping) -> bool:
    return int(offset.get("batch", INITIAL_BATCH)) == INITIAL_BATCH


def shard_order(shard_id: str):
    """Shard ids sort by their numeric suffix (shardId-000000000010 after shardId-000000000009)."""
    prefix, _, number = shard_id.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (shard_id, -1)


def _sorted_dict(mapping: Mapping[str, str]) -> dict:
    return {key: mapping[key] for key in sorted(mapping, key=shard_order)}


def first_state(shards: Iterable[ShardInfo], start_position: str) -> ShardState:
    return ShardState({shard.shard_id: start_position for shard in shards}, {})


def advance(plan: BatchPlan, outcomes: Mapping[str, ShardOutcome]) -> ShardState:
    """The state after `plan`'s batch: each read shard moves to its last record and may be drained."""
    missing = [shard for shard in plan.read if shard not in outcomes]
    if missing:
        raise ValueError(f"batch {plan.batch} has no outcome for {missing}")
    positions = dict(plan.state.positions)
    drained = dict(plan.state.drained)
    for shard in plan.read:
        outcome = outcomes[shard]
        if outcome.count:
            if outcome.last is None:
                raise ValueError(f"batch {plan.batch}, {shard}: {outcome.count} records but no last sequence number")
            positions[shard] = outcome.last
        if outcome.drained:
            drained[shard] = plan.ending.get(shard, "")
    return ShardState(positions, drained)


def reconcile(state: ShardState, shards: Iterable[ShardInfo]) -> ShardState:
    """Bring the state in line with the current shard listing.

    - A shard seen for the first time is a child of a split or merge (or was created after the
      query started): all of its records are new, so it starts at TRIM_HORIZON.
    - A shard no longer listed has aged out of the stream's retention: it is forgotten.
    - A drained shard whose EndingSequenceNumber has grown since it was drained is read again:
      on AWS a closed shard never changes, but moto 5.2 keeps routing puts to a split parent.
    """
    listed = {shard.shard_id: shard for shard in shards}
    positions = {shard_id: pos for shard_id, pos in state.positions.items() if shard_id in listed}
    drained = {shard_id: end for shard_id, end in state.drained.items() if shard_id in listed}
    for shard_id, shard in listed.items():
        positions.setdefault(shard_id, TRIM_HORIZON)
        if shard_id in drained and shard.ending is not None:
            recorded = drained[shard_id]
            if recorded == "":
                drained[shard_id] = shard.ending
            elif sequence_key(shard.ending) > sequence_key(recorded):
                del drained[shard_id]
    return ShardState(positions, drained)


def readable_shards(state: ShardState, shards: Iterable[ShardInfo]) -> list[str]:
    """Shards a batch may read: not drained, and every parent still listed is drained.

    Reading a child only after its parents are drained keeps the records of one partition key in
    order across a split or merge (the parent's go in an earlier batch than the child's).
    """
    listed = {shard.shard_id: shard for shard in shards}
    readable = []
    for shard_id, shard in listed.items():
        if shard_id in state.drained:
            continue
        if all(parent in state.drained or parent not in listed for parent in shard.parents):
            readable.append(shard_id)
    return sorted(readable, key=shard_order)


@dataclass(frozen=True)
class ReadChoice:
    """Which readable shards the next batch reads for sure and which need a look first."""

    certain: tuple[str, ...]
    to_probe: tuple[str, ...]


def choose_reads(
    state: ShardState,
    shards: Iterable[ShardInfo],
    last_outcomes: Mapping[str, ShardOutcome],
) -> ReadChoice:
    """A shard is read for sure when the last batch stopped at its cap, or when it is closed and
    not yet drained (only a read can tell that it is empty and drain it); every other readable
    shard is read only if a probe finds a record after its position."""
    listed = {shard.shard_id: shard for shard in shards}
    certain, to_probe = [], []
    for shard_id in readable_shards(state, listed.values()):
        outcome = last_outcomes.get(shard_id)
        if (outcome is not None and outcome.more) or listed[shard_id].ending is not None:
            certain.append(shard_id)
        else:
            to_probe.append(shard_id)
    return ReadChoice(tuple(certain), tuple(to_probe))


def next_plan(previous: BatchPlan | None, stream: str, limit: int, state: ShardState,
              shards: Iterable[ShardInfo], read: Iterable[str]) -> BatchPlan:
    listed = {shard.shard_id: shard for shard in shards}
    read = tuple(sorted(set(read), key=shard_order))
    ending = {shard_id: listed[shard_id].ending for shard_id in read if listed[shard_id].ending is not None}
    batch = 0 if previous is None else previous.batch + 1
    return BatchPlan(batch=batch, stream=stream, limit=limit, state=state, read=read, ending=ending)
