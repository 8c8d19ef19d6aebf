"""Reading one shard: pages, the end of a read, retries with an injected sleep (fake client)."""
from __future__ import annotations

import pyarrow as pa
import pytest

from fashion_pipeline.streaming.errors import KinesisStreamNotFoundError, KinesisUnavailableError
from fashion_pipeline.streaming.kinesis_fetch import (
    MAX_EMPTY_PAGES_BEHIND,
    RetryPolicy,
    ShardRead,
    StreamAddress,
    has_records_after,
    kinesis_arrow_schema,
    list_shards,
    records_to_arrow,
)
from fashion_pipeline.streaming.shard_plan import ShardOutcome
from tests.kinesis_fakes import EPOCH, FakeKinesis, SleepRecorder, client_error, connection_error

ADDRESS = StreamAddress("clicks", "us-east-1", "http://127.0.0.1:5055")
SHARD = "shardId-000000000000"
POLICY = RetryPolicy(attempts=4, base_delay_s=0.5, max_delay_s=1.5)


def _read(client, position="TRIM_HORIZON", limit=100, ending=None, follow=None, per_call=10_000, sleep=None):
    run = ShardRead(client, ADDRESS, SHARD, position, limit=limit, ending=ending, follow=follow,
                    records_per_call=per_call, policy=POLICY, sleep=sleep or SleepRecorder())
    batches = list(run.batches())
    rows = pa.Table.from_batches(batches, schema=kinesis_arrow_schema()).to_pylist() if batches else []
    return run, rows


def test_read_stops_at_the_cap_in_as_few_calls_as_the_page_size_allows():
    client = FakeKinesis({SHARD: 25})
    run, rows = _read(client, limit=23, per_call=10)
    assert [r["sequenceNumber"] for r in rows] == [str(i) for i in range(1, 24)]
    assert run.outcome == ShardOutcome(23, "23", drained=False, more=True)
    # one iterator, then pages of 10, 10 and the 3 still allowed: never past the cap
    assert [kwargs["Limit"] for name, kwargs in client.calls if name == "GetRecords"] == [10, 10, 3]
    assert client.count("GetShardIterator") == 1


def test_read_resumes_after_the_position_and_stops_at_the_tip():
    client = FakeKinesis({SHARD: 12})
    run, rows = _read(client, position="7", limit=100)
    assert [r["sequenceNumber"] for r in rows] == ["8", "9", "10", "11", "12"]
    assert run.outcome == ShardOutcome(5, "12", drained=False, more=False)
    assert client.count("GetRecords") == 1  # a short page that is caught up is the tip
    assert rows[0] == {"data": f"{SHARD}:8".encode(), "streamName": "clicks", "partitionKey": "k",
                       "sequenceNumber": "8", "approximateArrivalTimestamp": rows[0]["approximateArrivalTimestamp"]}


def test_nothing_new_is_an_empty_read():
    client = FakeKinesis({SHARD: 3})
    run, rows = _read(client, position="3")
    assert rows == [] and run.outcome == ShardOutcome(0, None)


@pytest.mark.parametrize("end_iterators", [False, True], ids=["moto-iterator-never-ends", "aws-iterator-ends"])
def test_closed_shard_is_drained_at_its_ending_sequence_number(end_iterators):
    client = FakeKinesis({SHARD: 6}, end_iterators=end_iterators)
    client.close(SHARD)
    run, rows = _read(client, position="2", ending="6")
    assert len(rows) == 4 and run.outcome == ShardOutcome(4, "6", drained=True)
    # Already consumed through the end: drained without a single call.
    client.calls.clear()
    run, rows = _read(client, position="6", ending="6")
    assert rows == [] and run.outcome == ShardOutcome(0, None, drained=True) and client.calls == []


def test_closed_shard_whose_ending_lies_beyond_its_last_record_drains_at_the_tip():
    # On AWS a closed shard's EndingSequenceNumber need not be a record's.
    client = FakeKinesis({SHARD: 4})
    run, rows = _read(client, ending="999")
    assert len(rows) == 4 and run.outcome == ShardOutcome(4, "4", drained=True)
    assert client.count("GetRecords") == 2  # the short page is not taken as the end of a closed shard
    run, rows = _read(client, position="4", ending="999")
    assert rows == [] and run.outcome == ShardOutcome(0, None, drained=True)


def test_a_short_page_still_behind_the_tip_is_not_the_end():
    client = FakeKinesis({SHARD: 30})
    original = client.get_records

    def short_pages(**request):  # AWS may shorten a page (10 MiB) while records remain
        return original(ShardIterator=request["ShardIterator"], Limit=min(request["Limit"], 7))

    client.get_records = short_pages
    run, rows = _read(client, limit=100, per_call=10)
    assert len(rows) == 30 and run.outcome == ShardOutcome(30, "30")


def test_cap_reached_on_a_closed_shard_is_not_yet_drained():
    client = FakeKinesis({SHARD: 10})
    client.close(SHARD)
    run, _ = _read(client, ending="10", limit=4)
    assert run.outcome == ShardOutcome(4, "4", drained=False, more=True)


def test_follow_reads_exactly_what_the_first_read_recorded_even_when_more_arrived():
    client = FakeKinesis({SHARD: 5})
    first, first_rows = _read(client, limit=100)
    client.put(SHARD, 7)
    again, again_rows = _read(client, limit=100, follow=first.outcome)
    assert again_rows == first_rows and again.outcome == first.outcome == ShardOutcome(5, "5")


def test_follow_of_an_empty_outcome_makes_no_call():
    client = FakeKinesis({SHARD: 5})
    run, rows = _read(client, position="5", follow=ShardOutcome(0, None))
    assert rows == [] and client.calls == []


def test_follow_that_cannot_find_the_recorded_records_fails_loudly():
    client = FakeKinesis({SHARD: 3})
    with pytest.raises(KinesisUnavailableError, match="reached the end after 3 of 5 records"):
        _read(client, follow=ShardOutcome(5, "5"))


def test_throttling_is_retried_with_exponential_waits_through_the_injected_sleep():
    client = FakeKinesis({SHARD: 3})
    client.fail["GetRecords"] = [client_error("ProvisionedThroughputExceededException", "GetRecords"),
                                 client_error("InternalFailure", "GetRecords", status=500),
                                 connection_error()]
    sleep = SleepRecorder()
    run, rows = _read(client, sleep=sleep)
    assert len(rows) == 3
    assert sleep.waits == [0.5, 1.0, 1.5]


def test_retries_give_up_with_one_line_naming_stream_endpoint_and_cause():
    client = FakeKinesis({SHARD: 3})
    client.fail["GetRecords"] = [client_error("ProvisionedThroughputExceededException", "GetRecords")] * 4
    sleep = SleepRecorder()
    with pytest.raises(KinesisUnavailableError) as caught:
        _read(client, sleep=sleep)
    message = str(caught.value)
    assert "\n" not in message
    assert "'clicks'" in message and "http://127.0.0.1:5055" in message
    assert "failed 4 times" in message and "ProvisionedThroughputExceededException" in message
    assert sleep.waits == [0.5, 1.0, 1.5]


def test_a_caller_mistake_is_not_retried():
    client = FakeKinesis({SHARD: 3})
    client.fail["GetShardIterator"] = [client_error("InvalidArgumentException", "GetShardIterator")]
    sleep = SleepRecorder()
    with pytest.raises(Exception, match="InvalidArgumentException"):
        _read(client, sleep=sleep)
    assert sleep.waits == []


def test_expired_iterator_is_renewed_after_the_last_record_read():
    client = FakeKinesis({SHARD: 30})
    original = client.get_records
    pages = {"n": 0}

    def get_records(**request):
        pages["n"] += 1
        if pages["n"] == 2:
            client.calls.append(("GetRecords", request))
            raise client_error("ExpiredIteratorException", "GetRecords")
        return original(**request)

    client.get_records = get_records
    sleep = SleepRecorder()
    run, rows = _read(client, per_call=10, sleep=sleep)
    assert [r["sequenceNumber"] for r in rows] == [str(i) for i in range(1, 31)]
    renewals = [kwargs for name, kwargs in client.calls if name == "GetShardIterator"]
    assert renewals[1] == {"ShardId": SHARD, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "10"}
    assert sleep.waits == []


def test_empty_pages_behind_the_tip_are_followed_then_handed_to_the_next_batch():
    client = FakeKinesis({SHARD: 3})
    client.behind_pages[SHARD] = 2
    run, rows = _read(client)
    assert len(rows) == 3 and run.outcome == ShardOutcome(3, "3")
    client.behind_pages[SHARD] = MAX_EMPTY_PAGES_BEHIND
    run, rows = _read(client)
    assert rows == [] and run.outcome == ShardOutcome(0, None, more=True)


def test_missing_stream_is_our_error_with_the_fix():
    client = FakeKinesis({SHARD: 1})
    client.fail["ListShards"] = [client_error("ResourceNotFoundException", "ListShards")]
    with pytest.raises(KinesisStreamNotFoundError) as caught:
        list_shards(client, ADDRESS, POLICY, SleepRecorder())
    assert str(caught.value) == (
        "Kinesis stream 'clicks' does not exist at http://127.0.0.1:5055 (region us-east-1): "
        "run `fashion services up` (it creates the stream) or `fashion clicks create-stream`"
    )
    remote = KinesisStreamNotFoundError("clicks", None, "eu-west-1")
    assert "AWS Kinesis in eu-west-1" in str(remote) and "names.clickstream_stream" in str(remote)


def test_probe_reads_one_record_and_counts_a_page_behind_the_tip():
    client = FakeKinesis({SHARD: 3})
    assert has_records_after(client, ADDRESS, SHARD, "2", POLICY, SleepRecorder())
    assert not has_records_after(client, ADDRESS, SHARD, "3", POLICY, SleepRecorder())
    assert [kwargs["Limit"] for name, kwargs in client.calls if name == "GetRecords"] == [1, 1]
    client.behind_pages[SHARD] = 1
    assert has_records_after(client, ADDRESS, SHARD, "3", POLICY, SleepRecorder())


def test_list_shards_follows_next_token():
    class Paged(FakeKinesis):
        def list_shards(self, **request):
            self.calls.append(("ListShards", request))
            if "NextToken" in request:
                return {"Shards": [{"ShardId": "shardId-000000000001"}]}
            return {"Shards": [{"ShardId": "shardId-000000000000"}], "NextToken": "more"}

    client = Paged()
    assert [s["ShardId"] for s in list_shards(client, ADDRESS, POLICY, SleepRecorder())] == [
        "shardId-000000000000", "shardId-000000000001"]
    assert client.calls[1] == ("ListShards", {"NextToken": "more"})


def test_arrow_batches_have_exactly_the_spark_schema():
    records = [{"Data": b"{}", "PartitionKey": "u1", "SequenceNumber": "1", "ApproximateArrivalTimestamp": EPOCH}]
    batch = records_to_arrow(records, "clicks")
    assert batch.schema == kinesis_arrow_schema()
    assert batch.to_pylist() == [{"data": b"{}", "streamName": "clicks", "partitionKey": "u1",
                                  "sequenceNumber": "1", "approximateArrivalTimestamp": EPOCH}]


def test_raw_pages_give_the_same_arrow_batch_as_botocore_parsing():
    import base64
    import json

    import boto3
    from botocore.parsers import create_parser

    from fashion_pipeline.streaming.kinesis_fetch import RAW_PAGE_KEY, keep_raw_get_records_page

    page = {"Records": [
        {"SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
         "ApproximateArrivalTimestamp": 1796274862.745, "Data": base64.b64encode(b'{"id": 1}').decode(),
         "PartitionKey": "user-1"},
        {"SequenceNumber": "49590338271490256608559692538361571095921575989136588899",
         "ApproximateArrivalTimestamp": 1796274863.001, "Data": base64.b64encode(bytes(range(256))).decode(),
         "PartitionKey": "user-\u00e9"},
    ], "NextShardIterator": "AAAA", "MillisBehindLatest": 0}
    body = json.dumps(page).encode()
    output_shape = boto3.client("kinesis", region_name="us-east-1").meta.service_model.operation_model(
        "GetRecords").output_shape

    def response():
        return {"status_code": 200, "headers": {}, "body": body}

    parsed = create_parser("json").parse(response(), output_shape)
    raw_response, customized = response(), {}
    keep_raw_get_records_page(response_dict=raw_response, customized_response_dict=customized)
    raw = {**create_parser("json").parse(raw_response, output_shape), **customized}
    assert raw[RAW_PAGE_KEY] and raw["NextShardIterator"] == "AAAA" and raw["MillisBehindLatest"] == 0
    assert records_to_arrow(raw["Records"], "clicks", raw=True) == records_to_arrow(parsed["Records"], "clicks")

    failed = {"status_code": 400, "headers": {}, "body": b'{"__type": "ExpiredIteratorException"}'}
    keep_raw_get_records_page(response_dict=failed, customized_response_dict=(untouched := {}))
    assert untouched == {} and failed["body"] == b'{"__type": "ExpiredIteratorException"}'


def test_a_shard_gone_from_an_existing_stream_is_not_called_a_missing_stream():
    from botocore.exceptions import ClientError

    client = FakeKinesis({SHARD: 1})
    client.fail["GetShardIterator"] = [ClientError(
        {"Error": {"Code": "ResourceNotFoundException",
                   "Message": f"Shard {SHARD} in stream clicks under account 123456789012 does not exist"}},
        "GetShardIterator")]
    with pytest.raises(KinesisUnavailableError, match="expired past the stream's retention"):
        _read(client)


def test_an_unreachable_local_endpoint_says_to_start_the_services():
    client = FakeKinesis({SHARD: 1})
    client.fail["ListShards"] = [connection_error()] * 4
    sleep = SleepRecorder()
    with pytest.raises(KinesisUnavailableError) as caught:
        list_shards(client, ADDRESS, POLICY, sleep)
    assert str(caught.value).startswith("ListShards on stream 'clicks' at http://127.0.0.1:5055 failed 4 times (")
    assert str(caught.value).endswith("is the local stack up? run `fashion services up`")
    assert sleep.waits == [0.5, 1.0, 1.5]
