"""`fashion lambda run-local`: the Kinesis event source mapping of the fast path, reproduced in
this process. moto stores event source mappings but cannot run Lambda code (no Docker), and its
own invocations ignore the response; this runner is how the handler runs locally and in tests.

What it does, as AWS documents the mapping (standard iterator, ParallelizationFactor 1,
ReportBatchItemFailures on):
- each shard is read on its own (GetRecords), from the checkpoint, else from
  `realtime.starting_position` (LATEST or TRIM_HORIZON); a shard with nothing new is polled again
  after `poll_interval_s` (AWS: once a second), one with records at once;
- a batch holds at most `batch_size` records of one shard, and is sent when full, or when the
  oldest buffered record has waited `batching_window_s` (0: as soon as there are records);
- the function is invoked synchronously with the event AWS would send; one batch per shard is in
  flight, so the shard waits until its batch is settled;
- success: checkpoint after the batch. `batchItemFailures`: checkpoint before the lowest reported
  sequence number and retry from there (a retry; the records after it come again). A function
  error (an exception, a time-out, a response that is not a valid partial batch response):
  with `bisect_on_error` the batch is split in two halves retried in turn (a split uses no retry),
  else it is retried whole;
- after `maximum_retry_attempts` retries the batch is discarded: a JSON invocation record with
  its `KinesisBatchInfo` (shard, first and last sequence numbers, size, stream ARN) goes to the
  on-failure SQS queue (`names.realtime_failure_queue`), the checkpoint moves past it and the
  shard goes on.

Checkpoints are kept in a JSON file under the state directory, so a new run continues where the
last one stopped, as the mapping would.
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion_pipeline.errors import PipelineError

if TYPE_CHECKING:
    from fashion_pipeline.config import Config

SUCCESS, PARTIAL_FAILURE, FUNCTION_ERROR = "success", "partial_failure", "function_error"
GET_RECORDS_LIMIT = 10_000
LOCAL_ACCOUNT = "000000000000"


class EventSourceError(PipelineError):
    """The local event source mapping cannot run: its message names the cause and the fix."""


@dataclass(frozen=True)
class MappingSettings:
    stream_name: str
    function_name: str
    region: str
    batch_size: int
    batching_window_s: float
    maximum_retry_attempts: int
    bisect_on_error: bool
    starting_position: str
    poll_interval_s: float
    function_timeout_s: float
    on_failure_queue: str | None

    @classmethod
    def from_config(cls, config: "Config", **overrides) -> "MappingSettings":
        realtime, names = config.realtime, config.names
        values = dict(
            stream_name=names.clickstream_stream, function_name=names.realtime_function, region=config.aws.region,
            batch_size=realtime.batch_size, batching_window_s=realtime.batching_window_s,
            maximum_retry_attempts=realtime.maximum_retry_attempts, bisect_on_error=realtime.bisect_on_error,
            starting_position=realtime.starting_position, poll_interval_s=realtime.poll_interval_s,
            function_timeout_s=realtime.function_timeout_s, on_failure_queue=names.realtime_failure_queue,
        )
        return cls(**{**values, **overrides})

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT}:function:{self.function_name}"


class CheckpointStore:
    """The last processed sequence number of each shard, in a JSON file (or only in memory)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.positions: dict[str, str] = {}
        if path is not None and path.is_file():
            self.positions = json.loads(path.read_text(encoding="utf-8"))["shards"]

    def get(self, shard_id: str) -> str | None:
        return self.positions.get(shard_id)

    def commit(self, shard_id: str, sequence_number: str) -> None:
        self.positions[shard_id] = sequence_number
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f".{self.path.name}.partial")
            partial.write_text(json.dumps({"shards": self.positions}, indent=1, sort_keys=True), encoding="utf-8")
            partial.replace(self.path)


def checkpoint_path(config: "Config") -> Path:
    return Path(config.paths.state_dir) / "realtime" / f"esm-{config.names.clickstream_stream}.json"


@dataclass
class LocalLambdaContext:
    """The Lambda context object, as far as handlers use it."""

    function_name: str
    invoked_function_arn: str
    timeout_s: float
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


@dataclass
class Invocation:
    shard_id: str
    first_sequence: str
    size: int
    attempt: int  # retries of these records before this invocation
    outcome: str  # SUCCESS, PARTIAL_FAILURE, FUNCTION_ERROR
    failed_from: str | None = None  # lowest reported sequence number
    error: str | None = None


@dataclass
class MappingReport:
    invocations: list[Invocation] = field(default_factory=list)
    records_read: int = 0
    records_committed: int = 0
    bisections: int = 0
    discarded_batches: int = 0
    discarded_records: int = 0

    def line(self) -> str:
        outcomes = {o: sum(i.outcome == o for i in self.invocations) for o in (SUCCESS, PARTIAL_FAILURE, FUNCTION_ERROR)}
        return (f"event source mapping: {self.records_read:,} records read, {len(self.invocations):,} invocations "
                f"({outcomes[SUCCESS]} ok, {outcomes[PARTIAL_FAILURE]} partial failures, "
                f"{outcomes[FUNCTION_ERROR]} function errors, {self.bisections} bisections), "
                f"{self.records_committed:,} records checkpointed, {self.discarded_records:,} discarded in "
                f"{self.discarded_batches} batches to the on-failure queue")


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    ending_sequence: str | None  # set when the shard is closed (resharded)
    buffer: list[dict] = field(default_factory=list)
    buffered_since: float | None = None
    caught_up: bool = False


class LocalEventSourceMapping:
    """Polls the stream's shards and invokes `function(event, context)` as the mapping does."""

    def __init__(self, kinesis, sqs, function: Callable[[dict, Any], Any], settings: MappingSettings,
                 checkpoints: CheckpointStore | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.kinesis, self.sqs, self.function, self.settings = kinesis, sqs, function, settings
        self.checkpoints = checkpoints or CheckpointStore(None)
        self.clock, self.sleep = clock, sleep
        self.report = MappingReport()
        self._shards: list[_Shard] = []
        self._stream_arn = ""
        self._queue_url: str | None = None

    # ------------------------------------------------------------------------------ set-up
    def open(self) -> "LocalEventSourceMapping":
        """Find the shards and position an iterator on each (checkpoint, else starting position)."""
        from botocore.exceptions import ClientError

        stream = self.settings.stream_name
        try:
            self._stream_arn = self.kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
            shards = self.kinesis.list_shards(StreamName=stream)["Shards"]
            if self.settings.on_failure_queue:
                self._queue_url = self.sqs.get_queue_url(QueueName=self.settings.on_failure_queue)["QueueUrl"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise EventSourceError(
                    f"the stream {stream!r} or the on-failure queue {self.settings.on_failure_queue!r} does not exist: "
                    f"run `fashion lambda create-resources` (and `fashion clicks create-stream`)") from None
            raise
        self._shards = [self._open_shard(shard) for shard in shards]
        return self

    def _open_shard(self, shard: dict) -> _Shard:
        shard_id = shard["ShardId"]
        checkpoint = self.checkpoints.get(shard_id)
        position = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": checkpoint}
                    if checkpoint else {"ShardIteratorType": self.settings.starting_position})
        iterator = self.kinesis.get_shard_iterator(StreamName=self.settings.stream_name, ShardId=shard_id,
                                                   **position)["ShardIterator"]
        ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
        return _Shard(shard_id, iterator, ending)

    # ------------------------------------------------------------------------------ running
    def run(self, until_idle: bool = False, max_seconds: float | None = None,
            stop: Callable[[], bool] | None = None) -> MappingReport:
        """Poll and invoke until the stream is drained (`until_idle`), `max_seconds` pass, or `stop()`."""
        if not self._shards:
            self.open()
        started = self.clock()
        while True:
            worked = self.poll_once()
            if stop is not None and stop():
                break
            if max_seconds is not None and self.clock() - started >= max_seconds:
                break
            if not worked:
                if until_idle and self.idle:
                    break
                self.sleep(self._next_wait())
        return self.report

    @property
    def idle(self) -> bool:
        return all(shard.caught_up and not shard.buffer for shard in self._shards)

    def _next_wait(self) -> float:
        waits = [self.settings.poll_interval_s]
        for shard in self._shards:
            if shard.buffer and shard.buffered_since is not None:
                waits.append(max(0.0, shard.buffered_since + self.settings.batching_window_s - self.clock()))
        return min(waits)

    def poll_once(self) -> bool:
        """One round over the shards: read what is new, invoke for every batch that is due.
        Returns whether anything was read or invoked."""
        worked = False
        for shard in self._shards:
            if len(shard.buffer) < self.settings.batch_size and shard.iterator is not None:
                worked |= self._read(shard)
            while self._batch_due(shard):
                self._deliver(shard, shard.buffer[: self.settings.batch_size])
                worked = True
        return worked

    def _read(self, shard: _Shard) -> bool:
        response = self.kinesis.get_records(ShardIterator=shard.iterator, Limit=GET_RECORDS_LIMIT)
        records = response["Records"]
        shard.iterator = response.get("NextShardIterator")
        if records:
            if not shard.buffer:
                shard.buffered_since = self.clock()
            shard.buffer.extend(records)
            self.report.records_read += len(records)
        last = records[-1]["SequenceNumber"] if records else self.checkpoints.get(shard.shard_id)
        closed_and_done = shard.ending_sequence is not None and last is not None and int(last) >= int(shard.ending_sequence)
        shard.caught_up = not records and (response.get("MillisBehindLatest", 0) == 0 or closed_and_done)
        return bool(records)

    def _batch_due(self, shard: _Shard) -> bool:
        if not shard.buffer:
            return False
        if len(shard.buffer) >= self.settings.batch_size or self.settings.batching_window_s == 0:
            return True
        return self.clock() - (shard.buffered_since or 0.0) >= self.settings.batching_window_s

    # ------------------------------------------------------------------------------ one batch
    def _deliver(self, shard: _Shard, batch: list[dict]) -> None:
        """Settle one batch: success, retries, bisections, or discard to the on-failure queue."""
        pending: list[tuple[list[dict], int]] = [(batch, 0)]
        while pending:
            records, attempt = pending.pop(0)
            outcome, failed_from, error = self._invoke(shard.shard_id, records)
            self.report.invocations.append(Invocation(shard.shard_id, records[0]["SequenceNumber"], len(records),
                                                      attempt, outcome, failed_from, error))
            if outcome == SUCCESS:
                self._commit(shard, records)
                continue
            if outcome == PARTIAL_FAILURE:
                position = next(i for i, r in enumerate(records) if r["SequenceNumber"] == failed_from)
                self._commit(shard, records[:position])
                retry = records[position:]
            elif self.settings.bisect_on_error and len(records) > 1:
                half = len(records) // 2
                self.report.bisections += 1
                pending[:0] = [(records[:half], attempt), (records[half:], attempt)]
                continue
            else:
                retry = records
            if attempt >= self.settings.maximum_retry_attempts:
                self._discard(shard, retry, attempt + 1, outcome)
                continue
            pending.insert(0, (retry, attempt + 1))

    def _invoke(self, shard_id: str, records: list[dict]) -> tuple[str, str | None, str | None]:
        event = kinesis_event(records, shard_id, self._stream_arn, self.settings.region)
        context = LocalLambdaContext(self.settings.function_name, self.settings.function_arn,
                                     self.settings.function_timeout_s)
        started = self.clock()
        try:
            response = self.function(event, context)
        except Exception as error:  # noqa: BLE001 - a function error, as the mapping sees it
            return FUNCTION_ERROR, None, f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        if self.clock() - started > self.settings.function_timeout_s:
            return FUNCTION_ERROR, None, f"timed out after {self.settings.function_timeout_s:.0f} s"
        return classify_response(response, [r["SequenceNumber"] for r in records])

    def _commit(self, shard: _Shard, records: Sequence[dict], processed: bool = True) -> None:
        """Checkpoint after `records` (processed, or discarded after their retries)."""
        if not records:
            return
        last = records[-1]["SequenceNumber"]
        self.checkpoints.commit(shard.shard_id, last)
        done = next(i for i, r in enumerate(shard.buffer) if r["SequenceNumber"] == last) + 1
        del shard.buffer[:done]
        shard.buffered_since = self.clock() if shard.buffer else None
        if processed:
            self.report.records_committed += len(records)

    def _discard(self, shard: _Shard, records: list[dict], invoke_count: int, outcome: str) -> None:
        """Retries exhausted: the batch's description goes to the on-failure queue; move past it."""
        if self._queue_url is not None:
            self.sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(
                self.failure_record(shard.shard_id, records, invoke_count, outcome)))
        self.report.discarded_batches += 1
        self.report.discarded_records += len(records)
        self._commit(shard, records, processed=False)

    def failure_record(self, shard_id: str, records: list[dict], invoke_count: int, outcome: str) -> dict:
        """The invocation record AWS sends to an on-failure destination of a Kinesis mapping."""
        def arrival(record: dict) -> str:
            return _iso(record["ApproximateArrivalTimestamp"])

        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if outcome == FUNCTION_ERROR:
            response_context["functionError"] = "Unhandled"
        return {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": self.settings.function_arn,
                               "condition": "RetryAttemptsExhausted", "approximateInvokeCount": invoke_count},
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso(datetime.now(timezone.utc)),
            "KinesisBatchInfo": {
                "shardId": shard_id, "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(records[0]),
                "approximateArrivalOfLastRecord": arrival(records[-1]),
                "batchSize": len(records), "streamArn": self._stream_arn,
            },
        }


def classify_response(response: Any, sequence_numbers: list[str]) -> tuple[str, str | None, str | None]:
    """(outcome, lowest failed sequence number, error) of a function's response, by the rules of
    partial batch responses: no failures listed is success; a listed identifier that is empty,
    missing or not in the batch makes the whole batch a failure."""
    if response is None or response == {} or not isinstance(response, dict):
        return (SUCCESS, None, None) if not response else (FUNCTION_ERROR, None, "response is not an object")
    failures = response.get("batchItemFailures")
    if not failures:
        return SUCCESS, None, None
    position = {sequence: i for i, sequence in enumerate(sequence_numbers)}
    reported = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in position:
            return FUNCTION_ERROR, None, f"invalid batchItemFailures entry {failure!r}"
        reported.append(identifier)
    return PARTIAL_FAILURE, min(reported, key=position.__getitem__), None


def kinesis_event(records: list[dict], shard_id: str, stream_arn: str, region: str) -> dict:
    """The event a Kinesis event source mapping invokes a function with, from GetRecords records."""
    return {"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": _epoch_seconds(record["ApproximateArrivalTimestamp"]),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:role/fashion-realtime-lambda",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    } for record in records]}


def _epoch_seconds(moment) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def _iso(moment) -> str:
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(float(moment), timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ensure_failure_queue(sqs, queue_name: str) -> str:
    """The on-failure queue's URL, created if missing."""
    return sqs.create_queue(QueueName=queue_name)["QueueUrl"]  # idempotent for the same attributes
