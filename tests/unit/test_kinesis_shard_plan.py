"""Offset arithmetic and shard lineage of the Kinesis source (pure Python)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from fashion_pipeline.streaming.shard_plan import (
    TRIM_HORIZON,
    BatchPlan,
    ShardInfo,
    ShardOutcome,
    ShardState,
    advance,
    at_timestamp_position,
    choose_reads,
    initial_position,
    is_consumed_through,
    next_plan,
    readable_shards,
    reconcile,
    shard_iterator_request,
    shard_order,
)

AWS_SEQ_LOW = "49590338271490256608559692538361571095921575989136588898"
AWS_SEQ_HIGH = "49590338271490256608559692540925702759324208523137515618"


def test_sequence_numbers_compare_as_integers_not_text():
    # As text "9" > "10"; as AWS numbers they exceed any float's precision.
    assert is_consumed_through("10", "9")
    assert not is_consumed_through("9", "10")
    assert is_consumed_through(AWS_SEQ_HIGH, AWS_SEQ_LOW)
    assert not is_consumed_through(AWS_SEQ_LOW, AWS_SEQ_HIGH)
    assert float(AWS_SEQ_LOW) == float(str(int(AWS_SEQ_LOW) + 1))  # why floats would not do
    assert not is_consumed_through(str(int(AWS_SEQ_LOW) + 1), str(int(AWS_SEQ_LOW) + 2))


def test_open_shard_and_unread_positions_are_never_consumed_through():
    assert not is_consumed_through("500", None)
    assert not is_consumed_through(TRIM_HORIZON, "5")
    assert not is_consumed_through(at_timestamp_position(1_700_000_000_000), "5")


def test_initial_positions():
    now = 1_764_504_000.0004
    assert initial_position("TRIM_HORIZON", None, now) == "TRIM_HORIZON"
    # LATEST is pinned to the first planning instant, rounded up to the millisecond.
    assert initial_position("LATEST", None, now) == "AT_TIMESTAMP:1764504000001"
    moment = datetime(2026, 11, 30, 18, 0, 0, 250_000, tzinfo=timezone.utc)
    assert initial_position("AT_TIMESTAMP", moment, now) == f"AT_TIMESTAMP:{int(moment.timestamp() * 1000)}"
    naive = datetime(2026, 11, 30, 18, 0, 0)
    assert initial_position("AT_TIMESTAMP", naive, now) == initial_position(
        "AT_TIMESTAMP", naive.replace(tzinfo=timezone.utc), now)
    with pytest.raises(ValueError):
        initial_position("AT_TIMESTAMP", None, now)
    with pytest.raises(ValueError):
        initial_position("EARLIEST_EVER", None, now)


def test_shard_iterator_requests_resume_after_the_position():
    assert shard_iterator_request("42") == {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "42"}
    assert shard_iterator_request(TRIM_HORIZON) == {"ShardIteratorType": "TRIM_HORIZON"}
    moment = datetime(2026, 11, 30, 12, 0, 0, 250_000, tzinfo=timezone.utc)
    request = shard_iterator_request(f"AT_TIMESTAMP:{int(moment.timestamp() * 1000)}")
    assert request == {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": moment}
    with pytest.raises(ValueError):
        shard_iterator_request("LATEST")


def test_shard_ids_sort_by_number():
    ids = ["shardId-000000000010", "shardId-000000000002", "shardId-000000000009"]
    assert sorted(ids, key=shard_order) == ["shardId-000000000002", "shardId-000000000009", "shardId-000000000010"]


def test_list_shards_entries_give_lineage_and_closure():
    child = ShardInfo.from_list_shards({
        "ShardId": "shardId-000000000003", "ParentShardId": "shardId-000000000001",
        "AdjacentParentShardId": "shardId-000000000002",
        "SequenceNumberRange": {"StartingSequenceNumber": "1"},
    })
    closed = ShardInfo.from_list_shards({
        "ShardId": "shardId-000000000001",
        "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "77"},
    })
    assert child == ShardInfo("shardId-000000000003", ("shardId-000000000001", "shardId-000000000002"), None)
    assert closed.ending == "77" and closed.parents == ()


def _plan(**kwargs) -> BatchPlan:
    defaults = dict(batch=3, stream="clicks", limit=100,
                    state=ShardState({"shardId-000000000001": "10", "shardId-000000000000": TRIM_HORIZON}, {}),
                    read=("shardId-000000000001", "shardId-000000000000"), ending={"shardId-000000000001": "50"})
    defaults.update(kwargs)
    return BatchPlan(**defaults)


def test_plan_offset_round_trip_and_canonical_json():
    plan = _plan()
    assert BatchPlan.from_offset(json.loads(json.dumps(plan.to_offset()))) == BatchPlan.from_offset(plan.to_offset())
    # The same plan built with dicts in another order must serialise to the same text: Spark
    # compares offsets as JSON strings, and the runner dumps without sort_keys.
    shuffled = _plan(state=ShardState({"shardId-000000000000": TRIM_HORIZON, "shardId-000000000001": "10"}, {}),
                     read=("shardId-000000000000", "shardId-000000000001"))
    assert json.dumps(shuffled.to_offset()) == json.dumps(plan.to_offset())
    assert json.dumps(plan.to_offset()) == json.dumps(plan.to_offset(), sort_keys=True)


def test_advance_moves_read_shards_to_their_last_record_and_drains_closed_ones():
    plan = _plan()
    state = advance(plan, {
        "shardId-000000000001": ShardOutcome(40, "50", drained=True),
        "shardId-000000000000": ShardOutcome(0, None),
    })
    assert state.positions == {"shardId-000000000001": "50", "shardId-000000000000": TRIM_HORIZON}
    assert state.drained == {"shardId-000000000001": "50"}
    with pytest.raises(ValueError, match="no outcome"):
        advance(plan, {"shardId-000000000001": ShardOutcome(1, "11")})


def test_reconcile_adds_children_forgets_expired_and_reopens_a_growing_drained_shard():
    state = ShardState({"s-1": "5", "s-2": "9", "s-gone": "3"}, {"s-1": "5", "s-2": ""})
    listed = [ShardInfo("s-1", ending="8"), ShardInfo("s-2", ending="9"), ShardInfo("s-3", parents=("s-1",))]
    result = reconcile(state, listed)
    assert result.positions == {"s-1": "5", "s-2": "9", "s-3": TRIM_HORIZON}
    # s-1 was drained at 5 but its end is now 8 (moto keeps putting into a split parent): read it
    # again; s-2's end was unknown when drained and is filled in.
    assert result.drained == {"s-2": "9"}


def test_children_wait_until_every_listed_parent_is_drained():
    parent_a, parent_b = ShardInfo("s-0", ending="10"), ShardInfo("s-1", ending="20")
    merged = ShardInfo("s-2", parents=("s-0", "s-1"))
    orphan = ShardInfo("s-3", parents=("s-expired",))
    shards = [parent_a, parent_b, merged, orphan]
    positions = {"s-0": "10", "s-1": "5", "s-2": TRIM_HORIZON, "s-3": TRIM_HORIZON}
    assert readable_shards(ShardState(positions, {}), shards) == ["s-0", "s-1", "s-3"]
    assert readable_shards(ShardState(positions, {"s-0": "10"}), shards) == ["s-1", "s-3"]
    assert readable_shards(ShardState(positions, {"s-0": "10", "s-1": "20"}), shards) == ["s-2", "s-3"]


def test_choose_reads_skips_probes_for_capped_and_closed_shards():
    shards = [ShardInfo("s-0"), ShardInfo("s-1"), ShardInfo("s-2", ending="9"), ShardInfo("s-3")]
    state = ShardState({"s-0": "100", "s-1": "7", "s-2": "3", "s-3": TRIM_HORIZON}, {})
    outcomes = {"s-0": ShardOutcome(100, "100", more=True), "s-1": ShardOutcome(2, "7")}
    choice = choose_reads(state, shards, outcomes)
    assert choice.certain == ("s-0", "s-2")
    assert choice.to_probe == ("s-1", "s-3")


def test_next_plan_numbers_batches_and_keeps_closed_endings_of_read_shards():
    shards = [ShardInfo("s-0", ending="9"), ShardInfo("s-1")]
    state = ShardState({"s-0": "3", "s-1": "4"}, {})
    first = next_plan(None, "clicks", 25, state, shards, ["s-1", "s-0", "s-1"])
    assert (first.batch, first.read, first.ending, first.limit) == (0, ("s-0", "s-1"), {"s-0": "9"}, 25)
    second = next_plan(first, "clicks", 25, state, shards, ["s-1"])
    assert (second.batch, second.read, second.ending) == (1, ("s-1",), {})
