"""The Kinesis producer without AWS: batching limits, re-sends of failed records with exact
backoff, giving up, pacing by an injected clock, injected faults and the ledger, the CLI handler."""
import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from fashion_pipeline.clickstream.commands import add_clicks_commands
from fashion_pipeline.clickstream.contract import (
    CLICK_REJECT_INVALID_JSON,
    CLICK_REJECT_OVERSIZED,
    CLICK_REJECT_UNKNOWN_ARTICLE,
)
from fashion_pipeline.clickstream.events import ClickstreamSimulator
from fashion_pipeline.clickstream.faults import (
    BAD_JSON,
    DUPLICATE,
    EVENT,
    MALFORMATIONS,
    MALFORMED,
    MISSING_FIELD,
    OVERSIZED,
    UNKNOWN_ARTICLE,
    FaultInjector,
    FaultShares,
    OutgoingRecord,
)
from fashion_pipeline.clickstream.producer import (
    PutRecordsSender,
    RecordBatcher,
    StreamNotFoundError,
    produce_clicks,
    split_into_batches,
)
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.config import KINESIS_MAX_BYTES_PER_CALL, KINESIS_MAX_RECORD_BYTES
from fashion_pipeline.errors import run_reporting_failures
from fashion_pipeline.generate import TasteModel, scale_spec
from fashion_pipeline.generate.frames import article_id_array
from fashion_pipeline.jobs import OneLineArgumentParser

THROTTLED, INTERNAL = "ProvisionedThroughputExceededException", "InternalFailure"
T0 = 1_600_783_200.0  # 2020-09-22T14:00:00Z


class FakeClock:
    """Time that passes only when someone sleeps, or a call takes `call_s`."""

    def __init__(self, start: float = T0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class StubKinesis:
    """PutRecords that fails chosen records: `plan` maps a record's data to the error codes of its
    first attempts (then it succeeds); `always_fail` data never succeeds."""

    def __init__(self, plan: dict[bytes, list[str]] | None = None, always_fail: set[bytes] = frozenset(),
                 call_errors: list[str] = (), clock: FakeClock | None = None, call_s: float = 0.0):
        self.plan = {data: list(codes) for data, codes in (plan or {}).items()}
        self.always_fail = always_fail
        self.call_errors = list(call_errors)
        self.calls: list[list[dict]] = []
        self.stored: list[dict] = []
        self._clock, self._call_s = clock, call_s

    def put_records(self, StreamName, Records):
        assert len(Records) <= 500
        assert sum(len(r["Data"]) + len(r["PartitionKey"].encode()) for r in Records) <= KINESIS_MAX_BYTES_PER_CALL
        self.calls.append(Records)
        if self._clock:
            self._clock.now += self._call_s
        if self.call_errors:
            code = self.call_errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": "stub"}}, "PutRecords")
        results = []
        for record in Records:
            codes = self.plan.get(record["Data"])
            if record["Data"] in self.always_fail or codes:
                code = codes.pop(0) if codes else THROTTLED
                results.append({"ErrorCode": code, "ErrorMessage": "stub"})
            else:
                self.stored.append(record)
                results.append({"ShardId": "shardId-000000000000", "SequenceNumber": str(len(self.stored))})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def _records(n: int, size: int = 100) -> list[OutgoingRecord]:
    return [OutgoingRecord(f"{i:08d}".encode().ljust(size, b"x"), f"key{i}", EVENT, f"id{i}") for i in range(n)]


def _sender(client, clock=None, max_attempts=5, base=0.1, cap=5.0, jitter=0.5):
    clock = clock or FakeClock()
    return PutRecordsSender(client, "clicks", max_attempts, base, cap, sleep=clock.sleep, jitter=lambda: jitter), clock


@pytest.fixture(scope="module")
def model():
    return TasteModel.build(scale_spec("tiny"), 42)


@pytest.fixture
def tiny_config(config):
    return config.with_overrides({"clickstream.scale": "tiny", "clickstream.linger_s": 0.5})


# ---------------------------------------------------------------------------------- batching
def test_batches_hold_at_most_500_records_in_order():
    records = _records(1201)
    batches = list(split_into_batches(records, 500, KINESIS_MAX_BYTES_PER_CALL, KINESIS_MAX_RECORD_BYTES))
    assert [len(b) for b in batches] == [500, 500, 201]
    assert [r for b in batches for r in b] == records


def test_batches_hold_at_most_their_bytes_counting_partition_keys():
    records = _records(10, size=996)  # 996 bytes + a 4-byte key = 1,000 bytes each
    assert {r.size for r in records} == {1000}
    batches = list(split_into_batches(records, 500, 4500, KINESIS_MAX_RECORD_BYTES))
    assert [len(b) for b in batches] == [4, 4, 2]
    big = _records(6, size=KINESIS_MAX_RECORD_BYTES - 16)  # about 1 MiB each: five fill 5 MiB
    sizes = [sum(r.size for r in b) for b in split_into_batches(big, 500, KINESIS_MAX_BYTES_PER_CALL, KINESIS_MAX_RECORD_BYTES)]
    assert len(sizes) == 2 and max(sizes) <= KINESIS_MAX_BYTES_PER_CALL


def test_a_record_over_the_record_limit_is_refused():
    batcher = RecordBatcher(500, KINESIS_MAX_BYTES_PER_CALL, 1000)
    with pytest.raises(ValueError, match="exceeds the 1,000-byte limit"):
        batcher.add(_records(1, size=1000)[0])


# ---------------------------------------------------------------------------------- retries
def test_partial_failure_resends_exactly_the_failed_records_with_backoff():
    records = _records(10)
    client = StubKinesis(plan={records[2].data: [THROTTLED], records[7].data: [INTERNAL, THROTTLED]})
    sender, clock = _sender(client)
    outcome = sender.send(records)
    assert [[r["Data"] for r in call] for call in client.calls] == [
        [r.data for r in records], [records[2].data, records[7].data], [records[7].data]]
    assert clock.sleeps == outcome.delays == [0.5 * 0.1, 0.5 * 0.2]
    assert outcome.resent == 3 and outcome.calls == 3 and not outcome.failed
    assert sorted(r.event_id for r, _, _ in outcome.accepted) == sorted(r.event_id for r in records)
    assert Counter(r["Data"] for r in client.stored) == Counter(r.data for r in records)


def test_gives_up_after_max_attempts_and_counts_the_failures():
    records = _records(5)
    client = StubKinesis(always_fail={records[1].data}, plan={records[3].data: [INTERNAL]})
    sender, clock = _sender(client, max_attempts=4, base=1.0, cap=3.0, jitter=1.0)
    outcome = sender.send(records)
    assert len(client.calls) == 4
    assert clock.sleeps == [1.0, 2.0, 3.0]  # doubling, capped
    assert [(r.event_id, code) for r, code in outcome.failed] == [("id1", THROTTLED)]
    assert len(outcome.accepted) == 4 and outcome.resent == 2 + 1 + 1


def test_a_throttled_call_is_retried_whole_and_other_errors_name_the_fix():
    records = _records(3)
    client = StubKinesis(call_errors=[THROTTLED])
    sender, clock = _sender(client)
    outcome = sender.send(records)
    assert len(client.calls) == 2 and clock.sleeps == [0.05] and len(outcome.accepted) == 3
    sender, _ = _sender(StubKinesis(call_errors=["ResourceNotFoundException"]))
    with pytest.raises(StreamNotFoundError, match="does not exist.*fashion clicks create-stream"):
        sender.send(records)


# ---------------------------------------------------------------------------------- pacing
def test_events_are_paced_by_the_clock_and_stamped_with_it(tiny_config):
    clock = FakeClock()
    client = StubKinesis()
    report = produce_clicks(tiny_config, rate=100, events=250, client=client, clock=clock, sleep=clock.sleep)
    assert report.events == report.sent == report.records == 250 and report.failed == 0
    times = [json.loads(r["Data"])["event_time"] for r in client.stored]
    expected = [datetime.fromtimestamp(T0 + n / 100, tz=timezone.utc) for n in range(250)]
    assert times == [f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z" for t in expected]
    # A batch goes out once it has waited linger_s (0.5 s = 50 events at this rate).
    assert [len(call) for call in client.calls] == [50] * 5
    assert report.elapsed_s == pytest.approx(2.49) and report.rate == pytest.approx(250 / 2.49)


def test_a_duration_bounds_the_run_and_a_full_batch_goes_out_at_once(tiny_config):
    clock = FakeClock()
    client = StubKinesis(clock=clock, call_s=0.01)
    config = tiny_config.with_overrides({"clickstream.batch_max_records": 40, "clickstream.linger_s": 60})
    report = produce_clicks(config, rate=50, duration_s=2.0, client=client, clock=clock, sleep=clock.sleep)
    assert report.events == 100
    assert [len(call) for call in client.calls] == [40, 40, 20]


def test_the_same_seed_sends_the_same_bytes(tiny_config):
    def run(seed):
        clock, client = FakeClock(), StubKinesis()
        produce_clicks(tiny_config, rate=0, events=300, seed=seed, faults=FaultShares(0.1, 0.1, 15, 0.1),
                       client=client, clock=clock, sleep=clock.sleep)
        return [(r["Data"], r["PartitionKey"]) for r in client.stored]

    first = run(7)
    assert first == run(7)
    assert first != run(8)


# ---------------------------------------------------------------------------------- faults
def test_fault_shares_are_honoured_and_each_fault_is_recognisable(tiny_config, model, tmp_path):
    clock, client = FakeClock(), StubKinesis()
    shares = FaultShares(duplicate_share=0.1, late_share=0.1, late_minutes=7, malformed_share=0.2)
    n = 4000
    ledger_path = tmp_path / "ledger.jsonl"
    report = produce_clicks(tiny_config, rate=0, events=n, faults=shares, ledger_path=ledger_path,
                            client=client, clock=clock, sleep=clock.sleep)
    ledger = [json.loads(line) for line in ledger_path.read_text().splitlines()]
    kinds = Counter(entry["kind"] for entry in ledger)
    assert kinds[EVENT] == report.events == n
    tolerance = 4 * (n * 0.1 * 0.9) ** 0.5
    assert abs(kinds[DUPLICATE] - n * 0.1) < tolerance and kinds[DUPLICATE] == report.duplicates
    assert abs(report.late - n * 0.1) < tolerance
    assert abs(kinds[MALFORMED] - n * 0.2) < 4 * (n * 0.2 * 0.8) ** 0.5
    malformations = Counter(entry["malformation"] for entry in ledger if entry["kind"] == MALFORMED)
    assert set(malformations) == set(MALFORMATIONS) and min(malformations.values()) > 0.15 * kinds[MALFORMED]
    assert report.records == report.sent == len(ledger) == len(client.stored)

    known = set(article_id_array(model.catalogue).to_pylist())
    by_hash = {hashlib.sha256(r["Data"]).hexdigest(): r["Data"] for r in client.stored}
    expected_reason = {BAD_JSON: CLICK_REJECT_INVALID_JSON, UNKNOWN_ARTICLE: CLICK_REJECT_UNKNOWN_ARTICLE,
                       OVERSIZED: CLICK_REJECT_OVERSIZED}
    for entry in ledger:
        data = by_hash[entry["sha256"]]
        reason = click_reject_reason(data, tiny_config.clickstream.max_event_bytes, known)
        if entry["kind"] == MALFORMED:
            if entry["malformation"] == MISSING_FIELD:
                assert reason.startswith("missing_")
            else:
                assert reason == expected_reason[entry["malformation"]]
            if entry["malformation"] == OVERSIZED:
                assert tiny_config.clickstream.max_event_bytes < len(data) < KINESIS_MAX_RECORD_BYTES
        else:
            assert reason is None
            assert json.loads(data)["event_id"] == entry["event_id"]
    # A duplicate is the very same bytes as its event, sent in a later call.
    events = {e["event_id"]: e for e in ledger if e["kind"] == EVENT}
    for duplicate in (e for e in ledger if e["kind"] == DUPLICATE):
        assert duplicate["sha256"] == events[duplicate["event_id"]]["sha256"]
    # A late event is late_minutes behind the time it was sent (the clock did not move: rate 0).
    late = [json.loads(by_hash[e["sha256"]]) for e in ledger if e["kind"] == EVENT and e["late"]]
    on_time = datetime.fromtimestamp(T0, tz=timezone.utc)
    assert {e["event_time"] for e in late} == {f"{on_time - timedelta(minutes=7):%Y-%m-%dT%H:%M:%S}.000Z"}


def test_duplicates_go_out_after_the_batch_of_their_original(tiny_config):
    clock, client = FakeClock(), StubKinesis()
    config = tiny_config.with_overrides({"clickstream.batch_max_records": 25})
    produce_clicks(config, rate=0, events=200, faults=FaultShares(duplicate_share=0.2), client=client,
                   clock=clock, sleep=clock.sleep)
    first_call = {}
    seen = Counter()
    for number, call in enumerate(client.calls):
        for record in call:
            seen[record["Data"]] += 1
            if seen[record["Data"]] == 1:
                first_call[record["Data"]] = number
            else:
                assert number > first_call[record["Data"]]
    assert 20 < sum(n - 1 for n in seen.values()) < 60


def test_each_malformation_on_its_own(model):
    simulator = ClickstreamSimulator(model, seed=1)
    event = next(simulator.event_stream(datetime(2020, 9, 22, tzinfo=timezone.utc), 10))
    known = frozenset(simulator.article_ids)
    injector = FaultInjector(FaultShares(), seed=1, max_event_bytes=4096, known_article_ids=known)
    for malformation, reason in ((BAD_JSON, "invalid_json"), (UNKNOWN_ARTICLE, "unknown_article_id"),
                                 (OVERSIZED, "oversized_event"), (MISSING_FIELD, "missing_")):
        record = injector.malformed(event, malformation)
        assert record.kind == MALFORMED and record.partition_key == event.partition_key
        assert record.event_id != event.event_id
        assert click_reject_reason(record.data, 4096, known).startswith(reason)
    with pytest.raises(ValueError, match="unknown malformation"):
        injector.malformed(event, "sticky_keys")


# ---------------------------------------------------------------------------------- the command
def _parser():
    parser = OneLineArgumentParser(prog="fashion")
    add_clicks_commands(parser.add_subparsers(dest="_command", required=True))
    return parser


def _run(args, **injected) -> int:
    return run_reporting_failures(args._prog, lambda: args._handler(args, **injected))


def test_the_produce_command_prints_counts_and_fails_when_records_are_lost(tiny_config, tmp_path, capsys):
    base = ["--set", "clickstream.scale=tiny", "--lake-root", str(tmp_path / "lake")]
    args = _parser().parse_args(["clicks", "produce", "--events", "40", "--rate", "0", "--malformed-share", "0.5",
                                 "--ledger", str(tmp_path / "ledger.jsonl"), *base])
    clock, client = FakeClock(), StubKinesis()
    assert _run(args, client=client, clock=clock, sleep=clock.sleep, jitter=lambda: 0.0) == 0
    out = capsys.readouterr().out
    assert "40 events" in out and "0 failed" in out and "records/s" in out
    assert len((tmp_path / "ledger.jsonl").read_text().splitlines()) == len(client.stored) > 40

    args = _parser().parse_args(["clicks", "produce", "--events", "10", "--rate", "0",
                                 "--set", "clickstream.put_max_attempts=2", *base])
    always = StubKinesis()
    always.always_fail = _AnyData()
    assert _run(args, client=always, clock=clock, sleep=clock.sleep, jitter=lambda: 0.0) == 1
    captured = capsys.readouterr()
    assert "10 failed, ProvisionedThroughputExceededException 10" in captured.out
    assert captured.err.strip() == "fashion clicks produce: 10 records failed after 2 attempts (see the ledger or retry later)"


def test_the_produce_command_refuses_bad_options(capsys):
    for argv in (["--duplicate-share", "1.5"], ["--events", "0"], ["--events", "5", "--duration", "3"], ["--rate", "-1"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(["clicks", "produce", *argv])
    assert "not a share between 0 and 1" in capsys.readouterr().err


class _AnyData(frozenset):
    def __contains__(self, item) -> bool:
        return True


# ---------------------------------------------------------------------------------- the stream
class StubStreams:
    """Kinesis stream administration: a missing stream that is CREATING for `creating_polls` polls."""

    def __init__(self, creating_polls: int):
        self.created_with = None
        self.creating_polls = creating_polls

    def describe_stream_summary(self, StreamName):
        if self.created_with is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "stub"}}, "DescribeStreamSummary")
        status = "CREATING" if self.creating_polls > 0 else "ACTIVE"
        self.creating_polls -= 1
        return {"StreamDescriptionSummary": {"StreamStatus": status, "OpenShardCount": self.created_with}}

    def create_stream(self, StreamName, ShardCount, StreamModeDetails):
        self.created_with = ShardCount


def test_ensure_stream_creates_it_and_waits_until_active(config):
    from fashion_pipeline.clickstream.producer import ClickstreamError, ensure_clickstream_stream

    config = config.with_overrides({"clickstream.shard_count": 3, "clickstream.stream_ready_timeout_s": 10})
    clock = FakeClock(0.0)
    stub = StubStreams(creating_polls=2)
    line = ensure_clickstream_stream(config, sleep=clock.sleep, clock=clock, poll_s=1.0, client=stub)
    assert line == "kinesis stream fashion-clickstream: created, 3 shards, ACTIVE"
    assert stub.created_with == 3 and clock.sleeps == [1.0, 1.0]
    clock = FakeClock(0.0)
    with pytest.raises(ClickstreamError, match="still CREATING after 10 s"):
        ensure_clickstream_stream(config, sleep=clock.sleep, clock=clock, poll_s=1.0, client=StubStreams(creating_polls=99))
    assert clock.now == 10.0


def test_the_configuration_refuses_limits_kinesis_would_refuse(config):
    from fashion_pipeline.config import ConfigError, load_config

    for key, value in (("batch_max_records", 501), ("batch_max_bytes", KINESIS_MAX_BYTES_PER_CALL + 1),
                       ("record_max_bytes", KINESIS_MAX_RECORD_BYTES + 1), ("max_event_bytes", 1_045_000)):
        with pytest.raises(ConfigError, match=key if key != "max_event_bytes" else "4 KiB under record_max_bytes"):
            load_config("local", environ={}, overrides={f"clickstream.{key}": value})
    emr = load_config("emr", environ={"FASHION_BUCKET": "lake"}).clickstream
    assert (emr.scale, emr.batch_max_records, emr.max_event_bytes) == ("hm", 500, 65536)
