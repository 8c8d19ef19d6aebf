"""Reading one shard with GetRecords: pages as Arrow record batches, retries, the end of a read.

Used on the executors (a batch's partition), and on the driver for probes ("is there a record
after this position?") and for the rare batch whose partition Spark never read to the end. The
boto3 client is passed in; retries wait through an injectable `sleep`.
"""
from __future__ import annotations

import binascii
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from fashion_pipeline.streaming.errors import KinesisStreamNotFoundError, KinesisUnavailableError
from fashion_pipeline.streaming.shard_plan import (
    ShardOutcome,
    is_consumed_through,
    shard_iterator_request,
)

# AWS caps one GetRecords call at 10,000 records (and 10 MiB).
MAX_RECORDS_PER_CALL = 10_000
# A page may come back empty while records lie further on (MillisBehindLatest > 0, a gap in the
# shard's timeline). Keep following NextShardIterator through this many such pages in a row,
# then end the read with `more` set so the next batch goes on without a probe.
MAX_EMPTY_PAGES_BEHIND = 5
# How often one read may re-acquire an iterator that expired (5 minutes of idling at AWS).
MAX_ITERATOR_RENEWALS = 3

# Refused or dropped connections and read timeouts (EndpointConnectionError, ReadTimeoutError...).
_CONNECTION_ERRORS = (BotoConnectionError, HTTPClientError)
_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
    "KMSThrottlingException",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for throttling, 5xx answers and dropped connections: `attempts` tries
    in all, waiting base, 2*base, 4*base ... capped at max_delay_s between them."""

    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 10.0

    def delay_before(self, retry_number: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * (2 ** (retry_number - 1)))


@dataclass(frozen=True)
class StreamAddress:
    """Names the stream in errors and requests."""

    stream: str
    region: str
    endpoint_url: str | None


def error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "") or str(
            error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
    return type(error).__name__


def is_transient(error: Exception) -> bool:
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        return error_code(error) in _TRANSIENT_CODES or status >= 500
    return isinstance(error, _CONNECTION_ERRORS)


def call_with_retries(operation: Callable[[], dict], policy: RetryPolicy, sleep: Callable[[float], None],
                      address: StreamAddress, what: str) -> dict:
    """Run one Kinesis call; transient failures are retried, a missing stream raises our error."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return operation()
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                message = error.response.get("Error", {}).get("Message", "")
                if message.startswith("Shard "):
                    # The stream is there but the shard aged out of its retention since planning.
                    raise KinesisUnavailableError(
                        f"{what} on stream {address.stream!r}: {message.splitlines()[0][:200]} "
                        f"(expired past the stream's retention; its unread records are lost)"
                    ) from None
                raise KinesisStreamNotFoundError(address.stream, address.endpoint_url, address.region) from None
            if not is_transient(error) or attempt == policy.attempts:
                if is_transient(error):
                    raise _unavailable(address, what, policy.attempts, error) from None
                raise
        except _CONNECTION_ERRORS as error:
            if attempt == policy.attempts:
                raise _unavailable(address, what, policy.attempts, error) from None
        sleep(policy.delay_before(attempt))
    raise AssertionError("unreachable")


def _unavailable(address: StreamAddress, what: str, attempts: int, error: Exception) -> KinesisUnavailableError:
    from fashion_pipeline.aws import is_local_endpoint

    where = address.endpoint_url or f"AWS Kinesis in {address.region}"
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    if is_local_endpoint(address.endpoint_url):
        fix = "is the local stack up? run `fashion services up`"
    else:
        fix = "check that Kinesis is reachable from here and the stream is not throttled"
    return KinesisUnavailableError(
        f"{what} on stream {address.stream!r} at {where} failed {attempts} times "
        f"({error_code(error)}: {first_line[:200]}); {fix}"
    )


def list_shards(client, address: StreamAddress, policy: RetryPolicy, sleep: Callable[[float], None]) -> list[dict]:
    """Every shard of the stream, closed ones included (ListShards, following NextToken)."""
    shards: list[dict] = []
    request = {"StreamName": address.stream}
    while True:
        page = call_with_retries(lambda: client.list_shards(**request), policy, sleep, address, "ListShards")
        shards.extend(page.get("Shards", []))
        token = page.get("NextToken")
        if not token:
            return shards
        request = {"NextToken": token}


def describe_stream(client, address: StreamAddress, policy: RetryPolicy, sleep: Callable[[float], None]) -> dict:
    return call_with_retries(
        lambda: client.describe_stream_summary(StreamName=address.stream), policy, sleep, address, "DescribeStreamSummary"
    )["StreamDescriptionSummary"]


class ShardRead:
    """One read of one shard from `position`: iterate `batches()` for Arrow record batches (one
    per GetRecords page); once exhausted, `outcome` says where the read ended.

    Without `follow`, the read stops at `limit` records, at the end of a closed shard (`ending`
    given, or Kinesis returns no next iterator), or at the tip (an empty page that is not behind).
    With `follow` (the outcome a first read recorded), it reads exactly that many records, so
    every read of one batch returns the same records.
    """

    def __init__(self, client, address: StreamAddress, shard_id: str, position: str, *, limit: int,
                 ending: str | None = None, follow: ShardOutcome | None = None,
                 records_per_call: int = MAX_RECORDS_PER_CALL, policy: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep, arrow_schema=None):
        self._client = client
        self._address = address
        self._shard_id = shard_id
        self._position = position
        self._limit = limit
        self._ending = ending
        self._follow = follow
        self._records_per_call = max(1, min(records_per_call, MAX_RECORDS_PER_CALL))
        self._policy = policy
        self._sleep = sleep
        self._arrow_schema = arrow_schema
        self.outcome: ShardOutcome | None = None
        self.calls = 0

    def batches(self) -> Iterator:
        follow = self._follow
        if follow is not None:
            yield from self._read(wanted=follow.count, stop_at_tip=False)
            if self._count != follow.count or (follow.count and self._last != follow.last):
                raise KinesisUnavailableError(
                    f"shard {self._shard_id} of stream {self._address.stream!r}: a repeated read of a batch found "
                    f"{self._count} records ending at {self._last}, the first read {follow.count} ending at "
                    f"{follow.last} (records trimmed by the stream's retention?)"
                )
            self.outcome = follow
            return
        yield from self._read(wanted=self._limit, stop_at_tip=True)
        stopped_at_cap = self._count >= self._limit and not self._drained
        self.outcome = ShardOutcome(self._count, self._last, drained=self._drained, more=stopped_at_cap or self._behind,
                                    millis_behind_latest=self._millis_behind)

    def _read(self, wanted: int, stop_at_tip: bool) -> Iterator:
        self._count, self._last, self._drained, self._behind = 0, None, False, False
        self._millis_behind: int | None = None
        if wanted <= 0:
            self._drained = stop_at_tip and is_consumed_through(self._position, self._ending)
            return
        if stop_at_tip and is_consumed_through(self._position, self._ending):
            self._drained = True
            return
        # One page ahead: the next GetRecords is in flight while this page goes to Spark (same
        # calls, overlapped; on AWS it hides the network's latency).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kinesis-prefetch") as prefetch:
            iterator, limit = self._iterator_after(self._position), min(self._records_per_call, wanted)
            pending = prefetch.submit(self._get_records, iterator, limit)
            empty_pages_behind = renewals = 0
            while True:
                try:
                    page = pending.result()
                except _ExpiredIterator:
                    renewals += 1
                    if renewals > MAX_ITERATOR_RENEWALS:
                        raise KinesisUnavailableError(
                            f"shard {self._shard_id} of stream {self._address.stream!r}: shard iterator expired "
                            f"{renewals} times in one read"
                        ) from None
                    iterator = self._iterator_after(self._last or self._position)
                    pending = prefetch.submit(self._get_records, iterator, limit)
                    continue
                records = page.get("Records") or []
                if page.get("MillisBehindLatest") is not None:
                    self._millis_behind = int(page["MillisBehindLatest"])
                if records:
                    empty_pages_behind = 0
                    self._count += len(records)
                    self._last = records[-1]["SequenceNumber"]
                else:
                    empty_pages_behind += 1
                done = self._page_ends_read(page, records, limit, wanted, stop_at_tip, empty_pages_behind)
                if not done:
                    iterator, limit = page["NextShardIterator"], min(self._records_per_call, wanted - self._count)
                    pending = prefetch.submit(self._get_records, iterator, limit)
                if records:
                    yield records_to_arrow(records, self._address.stream, self._arrow_schema,
                                           raw=bool(page.get(RAW_PAGE_KEY)))
                if done:
                    return

    def _page_ends_read(self, page: dict, records: list, limit: int, wanted: int, stop_at_tip: bool,
                        empty_pages_behind: int) -> bool:
        """Whether this page is the read's last, setting how the read ended."""
        if records and is_consumed_through(self._last, self._ending):
            self._drained = stop_at_tip
            return True
        if self._count >= wanted:
            return True
        if page.get("NextShardIterator") is None:
            # AWS: the shard is closed and everything in it has been returned.
            self._drained = stop_at_tip
            return True
        if records:
            # A short page of an open shard that is caught up is the tip (AWS: "0 means no new
            # records at this moment"; moto shortens a page only at the end): no empty call to
            # confirm. A closed shard is only drained on evidence: its ending sequence number, no
            # next iterator, or an empty page.
            return (stop_at_tip and self._ending is None and len(records) < limit
                    and page.get("MillisBehindLatest") == 0)
        if page.get("MillisBehindLatest", 0) > 0:
            # Records lie further on: follow a few empty pages, then leave them to the next batch.
            self._behind = empty_pages_behind >= MAX_EMPTY_PAGES_BEHIND
            return self._behind
        if stop_at_tip:
            # At the tip. A closed shard gets no more records: it is drained (moto's iterator of
            # a closed shard never ends, so this is how moto's drain shows).
            self._drained = self._ending is not None
            return True
        raise KinesisUnavailableError(
            f"shard {self._shard_id} of stream {self._address.stream!r}: a repeated read of a batch "
            f"reached the end after {self._count} of {wanted} records (trimmed by the stream's retention?)"
        )

    def _iterator_after(self, position: str) -> str:
        request = {"StreamName": self._address.stream, "ShardId": self._shard_id, **shard_iterator_request(position)}
        self.calls += 1
        response = call_with_retries(
            lambda: self._client.get_shard_iterator(**request), self._policy, self._sleep, self._address,
            "GetShardIterator",
        )
        return response["ShardIterator"]

    def _get_records(self, iterator: str, limit: int) -> dict:
        def operation():
            try:
                return self._client.get_records(ShardIterator=iterator, Limit=limit)
            except ClientError as error:
                if error_code(error) == "ExpiredIteratorException":
                    raise _ExpiredIterator() from None
                raise

        self.calls += 1
        return call_with_retries(operation, self._policy, self._sleep, self._address, "GetRecords")


class _ExpiredIterator(Exception):
    pass


# botocore spends most of a GetRecords call parsing the page field by field (timestamps through
# dateutil: ~20 us a record, more than moto takes to serve it). Our own client keeps the page's
# raw JSON instead, and records_to_arrow decodes it in bulk.
RAW_PAGE_KEY = "FashionPipelineRawPage"


def keep_raw_get_records_page(response_dict, customized_response_dict, **_):
    """botocore `before-parse.kinesis.GetRecords` handler: a successful JSON page is handed over
    raw (Data base64, ApproximateArrivalTimestamp epoch seconds) and botocore parses `{}`."""
    if response_dict.get("status_code") != 200:
        return
    try:
        page = json.loads(response_dict["body"])
    except (KeyError, TypeError, ValueError):
        return  # not a JSON body (another protocol): let botocore parse it
    if not isinstance(page, dict) or not isinstance(page.get("Records"), list):
        return
    customized_response_dict[RAW_PAGE_KEY] = True
    customized_response_dict.update(page)
    response_dict["body"] = b"{}"


def install_raw_pages(client):
    client.meta.events.register("before-parse.kinesis.GetRecords", keep_raw_get_records_page)
    return client


def records_to_arrow(records: list[dict], stream: str, arrow_schema=None, raw: bool = False):
    """GetRecords records as one Arrow record batch in the connector's column layout; `raw`
    records are as on the wire (see keep_raw_get_records_page), others as botocore parses them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if arrow_schema is None:
        arrow_schema = kinesis_arrow_schema()
    count = len(records)
    timestamp_type = pa.timestamp("us", tz="UTC")
    if raw:
        data = pa.array([binascii.a2b_base64(r["Data"]) for r in records], pa.binary())
        seconds = pa.array([r["ApproximateArrivalTimestamp"] for r in records], pa.float64())
        arrived = pc.round(pc.multiply(seconds, 1_000_000)).cast(pa.int64()).cast(timestamp_type)
    else:
        data = pa.array([r["Data"] for r in records], pa.binary())
        arrived = pa.array([r["ApproximateArrivalTimestamp"] for r in records], timestamp_type)
    return pa.RecordBatch.from_arrays(
        [
            data,
            pa.repeat(pa.scalar(stream, pa.string()), count),
            pa.array([r["PartitionKey"] for r in records], pa.string()),
            pa.array([r["SequenceNumber"] for r in records], pa.string()),
            arrived,
        ],
        schema=arrow_schema,
    )


def kinesis_arrow_schema():
    from pyspark.sql.pandas.types import to_arrow_schema

    from fashion_pipeline.schemas import KINESIS_RECORD_SCHEMA

    return to_arrow_schema(KINESIS_RECORD_SCHEMA)


def has_records_after(client, address: StreamAddress, shard_id: str, position: str, policy: RetryPolicy,
                      sleep: Callable[[float], None]) -> bool:
    """A probe: one GetShardIterator and one GetRecords(Limit=1). An empty page that is behind the
    tip (MillisBehindLatest > 0) also means there is something to read."""
    iterator = call_with_retries(
        lambda: client.get_shard_iterator(StreamName=address.stream, ShardId=shard_id, **shard_iterator_request(position)),
        policy, sleep, address, "GetShardIterator",
    )["ShardIterator"]
    page = call_with_retries(lambda: client.get_records(ShardIterator=iterator, Limit=1), policy, sleep, address, "GetRecords")
    return bool(page.get("Records")) or page.get("MillisBehindLatest", 0) > 0



def pages_from_the_start(client, stream: str) -> Iterator[tuple[str, dict]]:
    """(shard id, GetRecords response) for every page of every shard from TRIM_HORIZON to the
    shard's current end: the whole stream, as a plain consumer reads it (benchmarks and tests; no
    retries, a stream that is being written to is read up to where it was)."""
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=MAX_RECORDS_PER_CALL)
            yield shard["ShardId"], page
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
