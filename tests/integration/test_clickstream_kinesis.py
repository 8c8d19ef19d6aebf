"""The clickstream producer against moto's Kinesis: the stream, every record read back over all
shards, and one clear line when the stream or the emulator is missing."""
import hashlib
import json
from collections import Counter

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.cli import main
from fashion_pipeline.clickstream.faults import DUPLICATE, EVENT, MALFORMED, MISSING_FIELD, FaultShares
from fashion_pipeline.clickstream.producer import (
    KinesisUnavailableError,
    check_stream,
    ensure_clickstream_stream,
    produce_clicks,
)
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.generate import TasteModel, scale_spec
from fashion_pipeline.generate.frames import article_id_array
from fashion_pipeline.services import free_port
from fashion_pipeline.streaming.kinesis_fetch import pages_from_the_start

N_EVENTS = 500
EXPECTED_REASON = {"bad_json": "invalid_json", "unknown_article": "unknown_article_id", "oversized": "oversized_event"}


@pytest.fixture
def clicks_config(aws_config):
    return aws_config.with_overrides({"clickstream.scale": "tiny", "clickstream.shard_count": 2})


def read_all_records(config) -> list[dict]:
    """Every record of every shard, from the start (the stream's whole content)."""
    pages = pages_from_the_start(aws_client("kinesis", config), config.names.clickstream_stream)
    return [{**record, "ShardId": shard_id} for shard_id, page in pages for record in page["Records"]]


def test_ensure_stream_creates_it_once(clicks_config):
    assert ensure_clickstream_stream(clicks_config) == "kinesis stream fashion-clickstream: created, 2 shards, ACTIVE"
    again = clicks_config.with_overrides({"clickstream.shard_count": 5})
    assert ensure_clickstream_stream(again) == "kinesis stream fashion-clickstream: exists, 2 shards, ACTIVE"
    assert check_stream(clicks_config) == 2


def test_produced_records_read_back_exactly(clicks_config, tmp_path):
    ensure_clickstream_stream(clicks_config)
    ledger_path = tmp_path / "ledger.jsonl"
    shares = FaultShares(duplicate_share=0.05, late_share=0.05, late_minutes=10, malformed_share=0.08)
    report = produce_clicks(clicks_config, rate=0, events=N_EVENTS, faults=shares, ledger_path=ledger_path)
    assert report.failed == 0 and report.sent == report.records

    records = read_all_records(clicks_config)
    ledger = [json.loads(line) for line in ledger_path.read_text().splitlines()]
    assert len(records) == len(ledger) == report.records == N_EVENTS + report.duplicates + sum(report.malformed.values())
    assert Counter(hashlib.sha256(r["Data"]).hexdigest() for r in records) == Counter(e["sha256"] for e in ledger)
    assert {(e["shard_id"], e["sequence_number"]) for e in ledger} == {(r["ShardId"], r["SequenceNumber"]) for r in records}
    assert len({r["ShardId"] for r in records}) == 2

    known = set(article_id_array(TasteModel.build(scale_spec("tiny"), clicks_config.clickstream.model_seed).catalogue).to_pylist())
    max_bytes = clicks_config.clickstream.max_event_bytes
    reasons = [click_reject_reason(r["Data"], max_bytes, known) for r in records]
    valid = [json.loads(r["Data"]) for r, reason in zip(records, reasons) if reason is None]
    assert len({e["event_id"] for e in valid}) == N_EVENTS
    assert len(valid) == N_EVENTS + report.duplicates
    for record, event in ((r, json.loads(r["Data"])) for r, reason in zip(records, reasons) if reason is None):
        assert record["PartitionKey"] == (event["customer_id"] or event["session_id"])

    kinds = Counter(e["kind"] for e in ledger)
    assert kinds == {EVENT: N_EVENTS, DUPLICATE: report.duplicates, MALFORMED: sum(report.malformed.values())}
    assert report.duplicates > 0 and report.late > 0 and len(report.malformed) >= 3
    reason_by_hash = {hashlib.sha256(r["Data"]).hexdigest(): reason for r, reason in zip(records, reasons)}
    for entry in ledger:
        reason = reason_by_hash[entry["sha256"]]
        if entry["kind"] != MALFORMED:
            assert reason is None
        elif entry["malformation"] == MISSING_FIELD:
            assert reason.startswith("missing_")
        else:
            assert reason == EXPECTED_REASON[entry["malformation"]]


def _produce(config_args: list[str]) -> int:
    return main(["clicks", "produce", "--events", "5", *config_args])


def test_a_missing_stream_is_one_line_naming_the_fix(clicks_config, capsys):
    assert _produce(["--set", f"aws.endpoint_url={clicks_config.aws.endpoint_url}",
                     "--set", "clickstream.scale=tiny"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"fashion clicks produce: Kinesis stream 'fashion-clickstream' does not exist at "
        f"{clicks_config.aws.endpoint_url}; create it with `fashion clicks create-stream` "
        "(or `fashion services up` locally)\n")


def test_a_stopped_emulator_is_one_line_naming_the_fix(config, capsys):
    stopped = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(KinesisUnavailableError, match="moto is not running"):
        check_stream(config.with_overrides({"aws.endpoint_url": stopped}))
    assert _produce(["--set", f"aws.endpoint_url={stopped}"]) == 1
    err = capsys.readouterr().err
    assert err == (f"fashion clicks produce: cannot reach Kinesis at {stopped} (moto is not running?); "
                   "start it with `fashion services up`\n")
