"""The local Kinesis event source mapping on moto: batches, checkpoints, partial failures, bisection,
retries and the on-failure queue; then the fast path through it, from produced clicks to lists."""
import json
from collections import Counter

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.clickstream.contract import encode_click_event
from fashion_pipeline.clickstream.faults import FaultShares
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream, produce_clicks
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.jobs import OneLineArgumentParser
from fashion_pipeline.realtime.commands import add_lambda_commands, ensure_fast_path_resources, local_fast_path
from fashion_pipeline.realtime.event_source import (
    FUNCTION_ERROR,
    PARTIAL_FAILURE,
    SUCCESS,
    CheckpointStore,
    LocalEventSourceMapping,
    MappingSettings,
    checkpoint_path,
)
from tests.realtime_events import CUSTOMER, click

POISON = b"not json at all"


@pytest.fixture
def stream_config(aws_config):
    config = aws_config.with_overrides({"clickstream.shard_count": 2, "clickstream.scale": "tiny"})
    ensure_clickstream_stream(config, sleep=lambda s: None)
    ensure_fast_path_resources(config)
    return config


class RecordingFunction:
    """A stand-in Lambda: records what it was invoked with; fails as told."""

    def __init__(self, respond=None):
        self.calls: list[list[bytes]] = []
        self.sequences: list[list[str]] = []
        self._respond = respond or (lambda records, call: {"batchItemFailures": []})

    def __call__(self, event, context):
        import base64

        assert context.function_name == "fashion-realtime-recs" and context.get_remaining_time_in_millis() > 0
        records = event["Records"]
        assert all(r["eventSource"] == "aws:kinesis" and r["eventID"].endswith(":" + r["kinesis"]["sequenceNumber"])
                   for r in records)
        self.calls.append([base64.b64decode(r["kinesis"]["data"]) for r in records])
        self.sequences.append([r["kinesis"]["sequenceNumber"] for r in records])
        return self._respond(records, len(self.calls))


def put(config, payloads, partition_key=CUSTOMER) -> list[str]:
    kinesis = aws_client("kinesis", config)
    sequences = []
    for payload in payloads:
        data = payload if isinstance(payload, bytes) else encode_click_event(payload)
        sequences.append(kinesis.put_record(StreamName=config.names.clickstream_stream, Data=data,
                                            PartitionKey=partition_key)["SequenceNumber"])
    return sequences


def mapping(config, function, checkpoints=None, **settings) -> LocalEventSourceMapping:
    defaults = {"starting_position": "TRIM_HORIZON", "poll_interval_s": 0.01}
    return LocalEventSourceMapping(
        aws_client("kinesis", config), aws_client("sqs", config), function,
        MappingSettings.from_config(config, **{**defaults, **settings}), checkpoints or CheckpointStore(None),
        sleep=lambda s: None,
    ).open()


def failure_messages(config) -> list[dict]:
    sqs = aws_client("sqs", config)
    url = sqs.get_queue_url(QueueName=config.names.realtime_failure_queue)["QueueUrl"]
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages.extend(json.loads(m["Body"]) for m in batch)
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_batches_of_one_shard_are_checkpointed_and_a_new_run_resumes_after_them(stream_config, tmp_path):
    clicks = [click(i, f"02000000{i:02d}", i) for i in range(7)]
    sequences = put(stream_config, clicks)
    function = RecordingFunction()
    store = CheckpointStore(tmp_path / "esm.json")

    report = mapping(stream_config, function, store, batch_size=3).run(until_idle=True)

    assert function.sequences == [sequences[0:3], sequences[3:6], sequences[6:7]]
    assert [json.loads(d)["event_id"] for call in function.calls for d in call] == [c["event_id"] for c in clicks]
    assert report.records_read == report.records_committed == 7
    shard = next(iter(store.positions))
    assert json.loads((tmp_path / "esm.json").read_text())["shards"] == {shard: sequences[-1]}

    again = RecordingFunction()
    mapping(stream_config, again, CheckpointStore(tmp_path / "esm.json"), batch_size=3).run(until_idle=True)
    assert again.calls == []  # everything was checkpointed
    more = put(stream_config, [click(9, "0200000009", 9)])
    mapping(stream_config, again, CheckpointStore(tmp_path / "esm.json"), batch_size=3).run(until_idle=True)
    assert again.sequences == [more]


def test_partial_failures_checkpoint_before_the_lowest_reported_record_and_retry_from_it(stream_config):
    sequences = put(stream_config, [click(i, "0200000001", i) for i in range(5)])

    def respond(records, call):
        if call == 1:  # report records 3 and 1 (out of order): the lowest one decides
            return {"batchItemFailures": [{"itemIdentifier": sequences[3]}, {"itemIdentifier": sequences[1]}]}
        return {"batchItemFailures": []}

    function = RecordingFunction(respond)
    report = mapping(stream_config, function, batch_size=5).run(until_idle=True)

    assert function.sequences == [sequences, sequences[1:]]
    assert [(i.outcome, i.attempt, i.failed_from) for i in report.invocations] == [
        (PARTIAL_FAILURE, 0, sequences[1]), (SUCCESS, 1, None)]
    assert report.records_committed == 5 and failure_messages(stream_config) == []


def test_a_function_error_is_bisected_and_the_poison_record_ends_in_the_on_failure_queue(stream_config):
    sequences = put(stream_config, [click(0, "0200000000", 0), click(1, "0200000001", 1), POISON,
                                    click(3, "0200000003", 3)])

    def respond(records, call):
        if any(r["kinesis"]["sequenceNumber"] == sequences[2] for r in records):
            raise ValueError("cannot parse record")
        return {"batchItemFailures": []}

    function = RecordingFunction(respond)
    report = mapping(stream_config, function, batch_size=4, maximum_retry_attempts=2).run(until_idle=True)

    assert function.sequences == [
        sequences,  # function error: split in two
        sequences[:2],  # the good half
        sequences[2:],  # the half with the poison: split again
        [sequences[2]], [sequences[2]], [sequences[2]],  # first try and two retries
        [sequences[3]],
    ]
    assert [i.outcome for i in report.invocations].count(FUNCTION_ERROR) == 5 and report.bisections == 2
    assert (report.records_committed, report.discarded_records, report.discarded_batches) == (3, 1, 1)
    (message,) = failure_messages(stream_config)
    info = message["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (sequences[2], sequences[2], 1)
    assert info["streamArn"].endswith(":stream/fashion-clickstream") and info["shardId"].startswith("shardId-")
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_without_bisection_the_whole_batch_is_retried_then_discarded(stream_config):
    sequences = put(stream_config, [click(0, "0200000000", 0), POISON, click(2, "0200000002", 2)])

    def respond(records, call):
        raise RuntimeError("boom")

    report = mapping(stream_config, RecordingFunction(respond), batch_size=10, bisect_on_error=False,
                     maximum_retry_attempts=1).run(until_idle=True)
    assert [(i.size, i.attempt) for i in report.invocations] == [(3, 0), (3, 1)]
    (message,) = failure_messages(stream_config)
    assert (message["KinesisBatchInfo"]["startSequenceNumber"], message["KinesisBatchInfo"]["endSequenceNumber"],
            message["KinesisBatchInfo"]["batchSize"]) == (sequences[0], sequences[-1], 3)


def test_an_invalid_partial_batch_response_fails_the_whole_batch(stream_config):
    sequences = put(stream_config, [click(0, "0200000000", 0), click(1, "0200000001", 1)])
    responses = iter([{"batchItemFailures": [{"itemIdentifier": ""}]}, {"batchItemFailures": [{"id": "1"}]}, None])
    report = mapping(stream_config, RecordingFunction(lambda r, c: next(responses)), batch_size=2,
                     bisect_on_error=False).run(until_idle=True)
    assert [i.outcome for i in report.invocations] == [FUNCTION_ERROR, FUNCTION_ERROR, SUCCESS]
    assert report.records_committed == len(sequences)


def test_the_batching_window_holds_a_small_batch_until_it_passes(stream_config):
    put(stream_config, [click(i, "0200000001", i) for i in range(3)])
    now = [100.0]
    function = RecordingFunction()
    runner = LocalEventSourceMapping(
        aws_client("kinesis", stream_config), aws_client("sqs", stream_config), function,
        MappingSettings.from_config(stream_config, starting_position="TRIM_HORIZON", batch_size=10,
                                    batching_window_s=5.0),
        clock=lambda: now[0], sleep=lambda s: None,
    ).open()

    runner.poll_once()
    now[0] += 4.9
    runner.poll_once()
    assert function.calls == []  # 3 of 10 records, the window not over
    now[0] += 0.1
    runner.poll_once()
    assert [len(call) for call in function.calls] == [3]


def test_produced_clicks_become_realtime_lists_through_the_mapping(stream_config, capsys):
    """The fast path end to end: simulated clicks with duplicates and malformed records, the local
    mapping invoking the real handler, counts reconciled, poison records in the on-failure queue."""
    config = stream_config.with_overrides({"realtime.batch_size": 25, "realtime.poll_interval_s": 0.01})
    ledger = config.paths.state_dir + "/clicks.jsonl"
    from pathlib import Path

    produce = produce_clicks(config, rate=0, events=120, seed=3,
                             faults=FaultShares(duplicate_share=0.05, malformed_share=0.05),
                             ledger_path=Path(ledger))
    assert produce.failed == 0
    records = [json.loads(line) for line in Path(ledger).read_text().splitlines()]

    parser = OneLineArgumentParser(prog="fashion")
    add_lambda_commands(parser.add_subparsers(dest="_command", required=True))
    args = parser.parse_args(["lambda", "run-local", "--until-idle", "--set", f"aws.endpoint_url={config.aws.endpoint_url}",
                              "--set", f"paths.state_dir={config.paths.state_dir}", "--set", "realtime.batch_size=25",
                              "--set", "realtime.poll_interval_s=0.01", "--set", "clickstream.shard_count=2"])
    assert args._handler(args, sleep=lambda s: None) == 0
    printed = capsys.readouterr().out
    assert f"{len(records):,} records read" in printed and "fast path: invocations" in printed

    # Which records are poison: exactly those the contract refuses (an unknown article is not).
    kinesis = aws_client("kinesis", config)
    stored = []
    for shard in kinesis.list_shards(StreamName=config.names.clickstream_stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=config.names.clickstream_stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        stored.extend((shard["ShardId"], r) for r in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"])
    poison = {(shard, r["SequenceNumber"]) for shard, r in stored
              if click_reject_reason(r["Data"], config.clickstream.max_event_bytes)}
    assert poison and len(stored) == len(records)
    discarded = {(m["KinesisBatchInfo"]["shardId"], m["KinesisBatchInfo"]["startSequenceNumber"])
                 for m in failure_messages(config)}
    assert discarded == poison  # bisection isolates each one; nothing else is discarded

    # Every shopper with a valid click has a list reflecting their newest click.
    valid = [json.loads(r["Data"]) for _, r in stored if not click_reject_reason(r["Data"], config.clickstream.max_event_bytes)]
    newest = {}
    for event in valid:
        key = event["customer_id"] or event["session_id"]
        newest[key] = max(newest.get(key, ""), event["event_time"])
    dynamodb = aws_client("dynamodb", config)
    items = dynamodb.get_paginator("scan").paginate(
        TableName=config.names.realtime_recommendations_table).build_full_result()["Items"]
    assert {item["user_id"]["S"] for item in items} == set(newest)
    rings = dynamodb.get_paginator("scan").paginate(TableName=config.names.realtime_events_table).build_full_result()["Items"]
    ring_ids = Counter(e["M"]["event_id"]["S"] for ring in rings for e in ring["events"]["L"])
    assert set(ring_ids) == {e["event_id"] for e in valid} and max(ring_ids.values()) == 1  # duplicates once
    assert checkpoint_path(config).is_file()


def test_the_mapping_names_the_missing_stream(aws_config):
    from fashion_pipeline.realtime.event_source import EventSourceError

    ensure_fast_path_resources(aws_config)
    with pytest.raises(EventSourceError, match="fashion clicks create-stream"):
        local_fast_path(aws_config)


def test_a_stopped_emulator_is_one_line_naming_the_fix(config, capsys):
    from fashion_pipeline.errors import run_reporting_failures
    from fashion_pipeline.services import free_port

    parser = OneLineArgumentParser(prog="fashion")
    add_lambda_commands(parser.add_subparsers(dest="_command", required=True))
    args = parser.parse_args(["lambda", "run-local", "--until-idle", "--set", f"paths.state_dir={config.paths.state_dir}",
                              "--set", f"aws.endpoint_url=http://127.0.0.1:{free_port()}", "--set", "aws.max_attempts=1"])
    assert run_reporting_failures(args._prog, lambda: args._handler(args)) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("fashion lambda run-local: moto (the local AWS) is not running") and "fashion services up" in error
