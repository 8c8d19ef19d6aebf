"""`fashion clicks produce`: simulated clicks onto the Kinesis stream, as the website sends them.

Records go out with PutRecords in batches within Kinesis' limits (`clickstream.batch_max_records`
<= 500 records and `batch_max_bytes` <= 5 MiB a call, counting data and partition keys; no record
over `record_max_bytes` <= 1 MiB). A batch is sent when full, or `linger_s` after its first
record so that a slow rate is not held back. PutRecords can succeed in part: only the records
the response names as failed (`ErrorCode`, e.g. ProvisionedThroughputExceededException or
InternalFailure) are sent again, after an exponential backoff with full jitter, up to
`put_max_attempts` attempts in all; what still fails is counted, never dropped in silence. The
clock, the sleep and the jitter are injected, so tests check pacing and delays exactly.

Events are paced at `rate` per second by the clock (0: as fast as the stream takes them) and
stamped with the time they are sent; their content comes from the simulator (the model's day).
A re-sent record lands after records of its batch that went through, so one shopper's events can
arrive out of order now and then (as with any PutRecords producer): readers order by event_time.
"""
from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from fashion_pipeline.aws import aws_client, aws_client_from_settings, is_local_endpoint
from fashion_pipeline.clickstream.events import ClickEvent, ClickstreamSimulator, stamped
from fashion_pipeline.clickstream.faults import DUPLICATE, EVENT, MALFORMED, FaultInjector, FaultShares, OutgoingRecord
from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError

# Whole-call errors worth another try; any other error of PutRecords is a mistake to report.
RETRYABLE_CALL_ERRORS = {
    "ProvisionedThroughputExceededException", "InternalFailure", "ServiceUnavailable",
    "ThrottlingException", "KMSThrottlingException", "LimitExceededException",
}
STREAM_USABLE_STATES = {"ACTIVE", "UPDATING"}


class ClickstreamError(PipelineError):
    """The clickstream cannot be produced: its message names the cause and the fix."""


class StreamNotFoundError(ClickstreamError):
    """The Kinesis stream does not exist."""


class KinesisUnavailableError(ClickstreamError):
    """Kinesis (moto locally) cannot be reached."""


# ---------------------------------------------------------------------------------- batching
class RecordBatcher:
    """Collects records into PutRecords batches within a count and a byte limit."""

    def __init__(self, max_records: int, max_bytes: int, record_max_bytes: int):
        self.max_records, self.max_bytes, self.record_max_bytes = max_records, max_bytes, record_max_bytes
        self.records: list[OutgoingRecord] = []
        self.bytes = 0

    def fits(self, record: OutgoingRecord) -> bool:
        return len(self.records) < self.max_records and self.bytes + record.size <= self.max_bytes

    def add(self, record: OutgoingRecord) -> list[OutgoingRecord] | None:
        """Add a record; returns the batch it closed when it did not fit there, else None."""
        if record.size > self.record_max_bytes:
            raise ValueError(f"a record of {record.size:,} bytes exceeds the {self.record_max_bytes:,}-byte limit")
        closed = None if self.fits(record) else self.take()
        self.records.append(record)
        self.bytes += record.size
        return closed

    def take(self) -> list[OutgoingRecord]:
        batch, self.records, self.bytes = self.records, [], 0
        return batch

    def __len__(self) -> int:
        return len(self.records)


def split_into_batches(records: Iterable[OutgoingRecord], max_records: int, max_bytes: int,
                       record_max_bytes: int) -> Iterator[list[OutgoingRecord]]:
    """The batches `RecordBatcher` makes of `records`, in order."""
    batcher = RecordBatcher(max_records, max_bytes, record_max_bytes)
    for record in records:
        closed = batcher.add(record)
        if closed:
            yield closed
    if len(batcher):
        yield batcher.take()


# ---------------------------------------------------------------------------------- sending
@dataclass
class SendOutcome:
    """What became of the records of one or more batches."""

    accepted: list[tuple[OutgoingRecord, str, str]] = field(default_factory=list)  # record, shard, sequence
    failed: list[tuple[OutgoingRecord, str]] = field(default_factory=list)  # record, last error code
    resent: int = 0  # records sent again after a failure
    calls: int = 0
    delays: list[float] = field(default_factory=list)


class PutRecordsSender:
    """PutRecords with re-sends of exactly the failed records, backoff and full jitter."""

    def __init__(self, client, stream_name: str, max_attempts: int, base_delay_s: float, max_delay_s: float,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random,
                 endpoint_url: str | None = None):
        self._client, self.stream_name = client, stream_name
        self.max_attempts, self.base_delay_s, self.max_delay_s = max_attempts, base_delay_s, max_delay_s
        self._sleep, self._jitter = sleep, jitter
        self._endpoint_url = endpoint_url

    def backoff_delay(self, retry: int) -> float:
        """Full jitter before the `retry`-th re-send (1, 2, ...): uniform in [0, min(cap, base * 2**(retry-1))]."""
        return self._jitter() * min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))

    def send(self, batch: list[OutgoingRecord]) -> SendOutcome:
        outcome = SendOutcome()
        pending = batch
        last_errors: dict[int, str] = {}
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                delay = self.backoff_delay(attempt - 1)
                outcome.delays.append(delay)
                self._sleep(delay)
                outcome.resent += len(pending)
            outcome.calls += 1
            try:
                response = self._client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in pending],
                )
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code not in RETRYABLE_CALL_ERRORS:
                    raise _clickstream_error(error, self.stream_name, self._endpoint_url) from None
                last_errors = {i: code for i in range(len(pending))}
                continue
            except (BotoCoreError, ConnectionError) as error:
                raise _clickstream_error(error, self.stream_name, self._endpoint_url) from None
            failed, last_errors = [], {}
            for record, result in zip(pending, response["Records"]):
                if result.get("ErrorCode"):
                    last_errors[len(failed)] = result["ErrorCode"]
                    failed.append(record)
                else:
                    outcome.accepted.append((record, result["ShardId"], result["SequenceNumber"]))
            pending = failed
            if not pending:
                return outcome
        outcome.failed.extend((record, last_errors.get(i, "unknown")) for i, record in enumerate(pending))
        return outcome


# ---------------------------------------------------------------------------------- the run
@dataclass
class ProduceReport:
    stream: str
    events: int = 0
    late: int = 0
    duplicates: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    records: int = 0
    sent: int = 0
    resent: int = 0
    failed: int = 0
    calls: int = 0
    elapsed_s: float = 0.0
    failure_codes: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Records accepted per second of the run."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        malformed = sum(self.malformed.values())
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.malformed.items()))
        injected = (f" (+{self.duplicates:,} duplicates, +{malformed:,} malformed"
                    f"{': ' + kinds if kinds else ''}; {self.late:,} late)")
        failures = "".join(f", {code} {n}" for code, n in sorted(self.failure_codes.items()))
        return (f"clicks -> {self.stream}: {self.events:,} events{injected}; {self.records:,} records, "
                f"{self.sent:,} sent in {self.calls:,} PutRecords calls, {self.resent:,} re-sent, "
                f"{self.failed:,} failed{failures}; {self.elapsed_s:.1f} s, {self.rate:,.0f} records/s")


class Ledger:
    """JSON lines of every record's fate, for reconciling the lake with what was produced."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", encoding="utf-8")

    def write(self, record: OutgoingRecord, status: str, shard_id: str | None = None,
              sequence_number: str | None = None, error_code: str | None = None) -> None:
        entry = {**record.ledger_entry(), "status": status, "shard_id": shard_id,
                 "sequence_number": sequence_number, "error_code": error_code}
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()


class ClickProducer:
    """Paces events, injects faults, batches and sends; one run per `run` call."""

    def __init__(self, sender: PutRecordsSender, injector: FaultInjector, batcher: RecordBatcher, linger_s: float,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 ledger: Ledger | None = None):
        self._sender, self._injector, self._batcher = sender, injector, batcher
        self.linger_s = linger_s
        self._clock, self._sleep = clock, sleep
        self._ledger = ledger
        self._deferred: list[OutgoingRecord] = []  # duplicates, sent after the batch of their original
        self._batch_opened = 0.0

    def run(self, events: Iterator[ClickEvent], rate: float, max_events: int | None = None,
            duration_s: float | None = None) -> ProduceReport:
        if max_events is None and duration_s is None:
            raise ValueError("give max_events or duration_s: the event stream has no end")
        report = ProduceReport(self._sender.stream_name)
        start = self._clock()
        for n, event in enumerate(events):
            if max_events is not None and n >= max_events:
                break
            if rate > 0:
                due = start + n / rate
                if len(self._batcher) and self._batch_opened + self.linger_s <= due:
                    # at a slow rate the batch would outwait its linger: send it before pausing
                    self._flush(report)
                wait = due - self._clock()
                if wait > 0:
                    self._sleep(wait)
            now = self._clock()
            if duration_s is not None and now - start >= duration_s:
                break
            records, later = self._injector.records(stamped(event, _utc(now)))
            report.events += 1
            self._deferred.extend(later)
            for record in records:
                self._add(record, now, report)
            if len(self._batcher) >= self._batcher.max_records or (
                    len(self._batcher) and now - self._batch_opened >= self.linger_s):
                self._flush(report)
        while len(self._batcher) or self._deferred:
            self._flush(report)
        report.elapsed_s = self._clock() - start
        return report

    def _add(self, record: OutgoingRecord, now: float, report: ProduceReport) -> None:
        if not len(self._batcher):
            self._batch_opened = now
        closed = self._batcher.add(record)
        if closed:
            self._send(closed, report)
            self._batch_opened = now

    def _flush(self, report: ProduceReport) -> None:
        """Send the open batch, then open the next one with the duplicates waiting for it."""
        self._send(self._batcher.take(), report)
        deferred, self._deferred = self._deferred, []
        now = self._clock()
        for record in deferred:
            self._add(record, now, report)

    def _send(self, batch: list[OutgoingRecord], report: ProduceReport) -> None:
        if not batch:
            return
        outcome = self._sender.send(batch)
        report.records += len(batch)
        report.sent += len(outcome.accepted)
        report.failed += len(outcome.failed)
        report.resent += outcome.resent
        report.calls += outcome.calls
        for record in batch:
            if record.kind == DUPLICATE:
                report.duplicates += 1
            elif record.kind == MALFORMED:
                report.malformed[record.malformation] = report.malformed.get(record.malformation, 0) + 1
            elif record.kind == EVENT and record.late:
                report.late += 1
        for _, code in outcome.failed:
            report.failure_codes[code] = report.failure_codes.get(code, 0) + 1
        if self._ledger is not None:
            for record, shard_id, sequence_number in outcome.accepted:
                self._ledger.write(record, "sent", shard_id, sequence_number)
            for record, code in outcome.failed:
                self._ledger.write(record, "failed", error_code=code)


def produce_clicks(
    config: Config,
    *,
    rate: float | None = None,
    events: int | None = None,
    duration_s: float | None = None,
    seed: int | None = None,
    model_day: date | None = None,
    faults: FaultShares | None = None,
    ledger_path: Path | None = None,
    client=None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> ProduceReport:
    """Send `events` events (or for `duration_s` seconds) to `names.clickstream_stream`."""
    clicks = config.clickstream
    stream = config.names.clickstream_stream
    rate = clicks.default_rate if rate is None else rate
    faults = faults or FaultShares(late_minutes=clicks.late_minutes)
    if client is None:
        check_stream(config)
        client = aws_client("kinesis", config)
    simulator = ClickstreamSimulator.from_config(config, seed=seed, model_day=model_day)
    injector = FaultInjector(faults, simulator.seed, clicks.max_event_bytes, frozenset(simulator.article_ids))
    sender = PutRecordsSender(client, stream, clicks.put_max_attempts, clicks.backoff_base_s, clicks.backoff_max_s,
                              sleep=sleep, jitter=jitter, endpoint_url=config.aws.endpoint_url)
    batcher = RecordBatcher(clicks.batch_max_records, clicks.batch_max_bytes, clicks.record_max_bytes)
    # The simulated shoppers arrive at the wanted rate, so sessions overlap as they would live.
    nominal_rate = rate if rate > 0 else max(clicks.default_rate, 1.0)
    event_stream = simulator.event_stream(_utc(clock()), nominal_rate)
    # The simulator's warm-up (sessions begun before the first event) is not the producer's time.
    event_stream = itertools.chain([next(event_stream)], event_stream)
    with ExitStack() as stack:
        ledger = None
        if ledger_path is not None:
            ledger = Ledger(Path(ledger_path))
            stack.callback(ledger.close)
        producer = ClickProducer(sender, injector, batcher, clicks.linger_s, clock=clock, sleep=sleep, ledger=ledger)
        return producer.run(event_stream, rate, max_events=events, duration_s=duration_s)


# ---------------------------------------------------------------------------------- the stream
def check_stream(config: Config) -> int:
    """The open shard count of the clickstream stream; a ClickstreamError naming the fix when the
    stream is missing, not ready, or Kinesis cannot be reached. Asks once, without retries."""
    stream = config.names.clickstream_stream
    client = aws_client_from_settings("kinesis", config.aws.region, config.aws.endpoint_url, max_attempts=1)
    try:
        summary = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    except (ClientError, BotoCoreError, ConnectionError) as error:
        raise _clickstream_error(error, stream, config.aws.endpoint_url) from None
    if summary["StreamStatus"] not in STREAM_USABLE_STATES:
        raise ClickstreamError(f"Kinesis stream {stream!r} is {summary['StreamStatus']}; wait until it is ACTIVE")
    return int(summary["OpenShardCount"])


def ensure_clickstream_stream(config: Config, sleep: Callable[[float], None] = time.sleep,
                              clock: Callable[[], float] = time.monotonic, poll_s: float = 1.0, client=None) -> str:
    """Create `names.clickstream_stream` with `clickstream.shard_count` shards if it is missing,
    and wait until it is ACTIVE. An existing stream is left as it is. Returns one line."""
    stream = config.names.clickstream_stream
    client = client or aws_client("kinesis", config)
    created = False
    try:
        try:
            client.describe_stream_summary(StreamName=stream)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            try:
                client.create_stream(StreamName=stream, ShardCount=config.clickstream.shard_count,
                                     StreamModeDetails={"StreamMode": "PROVISIONED"})
                created = True
            except ClientError as create_error:  # created meanwhile by someone else: fine
                if create_error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise
        deadline = clock() + config.clickstream.stream_ready_timeout_s
        while True:
            summary = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
            if summary["StreamStatus"] == "ACTIVE":
                break
            if clock() >= deadline:
                raise ClickstreamError(
                    f"Kinesis stream {stream!r} is still {summary['StreamStatus']} after "
                    f"{config.clickstream.stream_ready_timeout_s:.0f} s; try again later")
            sleep(poll_s)
    except (ClientError, BotoCoreError, ConnectionError) as error:
        raise _clickstream_error(error, stream, config.aws.endpoint_url) from None
    shards = int(summary["OpenShardCount"])
    verb = "created" if created else "exists"
    return f"kinesis stream {stream}: {verb}, {shards} shard{'s' if shards != 1 else ''}, ACTIVE"


def _clickstream_error(error: Exception, stream: str, endpoint_url: str | None) -> ClickstreamError:
    where = endpoint_url or "AWS"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return StreamNotFoundError(
                f"Kinesis stream {stream!r} does not exist at {where}; create it with "
                f"`fashion clicks create-stream` (or `fashion services up` locally)")
        return ClickstreamError(f"Kinesis refused the request for {stream!r}: {code}: "
                                f"{error.response.get('Error', {}).get('Message', '')}")
    if isinstance(error, NoCredentialsError):
        return KinesisUnavailableError("no AWS credentials found for Kinesis; configure them (e.g. AWS_PROFILE) "
                                       "or run on an instance role")
    if is_local_endpoint(endpoint_url):
        return KinesisUnavailableError(
            f"cannot reach Kinesis at {endpoint_url} (moto is not running?); start it with `fashion services up`")
    if isinstance(error, EndpointConnectionError) or isinstance(error, (BotoCoreError, ConnectionError)):
        return KinesisUnavailableError(f"cannot reach Kinesis at {where}: {error}; check the network and aws.region")
    return ClickstreamError(str(error))


def _utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
