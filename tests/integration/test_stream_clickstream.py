"""The streaming job end to end on moto's Kinesis: produced clicks (with duplicates, late events and
malformed records) land in the lake once each, refused ones in the quarantine, and a second run or
a replayed batch changes nothing."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fashion_pipeline.aws import aws_client
from fashion_pipeline.catalog.local_query import run_athena_sql
from fashion_pipeline.cli import main
from fashion_pipeline.clickstream.faults import DUPLICATE, EVENT, MALFORMED, FaultShares
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream, produce_clicks
from fashion_pipeline.generate import write_curated_catalogue
from fashion_pipeline.lake import read_table
from fashion_pipeline.pipelines.stream_clickstream import JOB, run_stream_clickstream
from fashion_pipeline.storage import storage_for
from fashion_pipeline.streaming.progress import METRIC_NAMESPACE, read_recent_progress
from fashion_pipeline.tables import ARTICLES_TABLE, CLICKSTREAM_QUARANTINE_TABLE, CLICKSTREAM_TABLE, read_clickstream

N_EVENTS = 600
REASON_OF = {"bad_json": "invalid_json", "unknown_article": "unknown_article_id", "oversized": "oversized_event"}
FUNNEL_SQL = Path(__file__).resolve().parents[2] / "lib" / "fashion_pipeline" / "sql" / "analyst" / "clickstream_funnel_by_hour.sql"


@pytest.fixture
def stream_config(spark, aws_config):
    config = aws_config.with_overrides({
        "clickstream.scale": "tiny", "clickstream.shard_count": 2,
        # Small batches, so one run is several micro-batches.
        "streaming.max_records_per_shard": 150, "streaming.idle_probe_interval_ms": 0,
        "streaming.starting_position": "TRIM_HORIZON",
    })
    ensure_clickstream_stream(config)
    # The catalogue the clicks are drawn from, as partition_raw would have curated it.
    write_curated_catalogue("tiny", config.clickstream.model_seed, ARTICLES_TABLE.uri(config))
    return config


def _ledger(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _curated(spark, config):
    return read_table(spark, CLICKSTREAM_TABLE.uri(config), CLICKSTREAM_TABLE.schema)


def _quarantine(spark, config):
    return read_table(spark, CLICKSTREAM_QUARANTINE_TABLE.uri(config), CLICKSTREAM_QUARANTINE_TABLE.schema)


def _lake_files(config) -> list[str]:
    return sorted(str(p.relative_to(config.paths.lake_root)) for p in Path(config.paths.lake_root).rglob("*.parquet")
                  if "/_" not in str(p.relative_to(config.paths.lake_root)))


def test_every_valid_click_lands_once_and_every_refused_record_is_quarantined(spark, stream_config, tmp_path, capsys):
    config, storage = stream_config, storage_for(stream_config)
    ledger_path = tmp_path / "ledger.jsonl"
    faults = FaultShares(duplicate_share=0.05, late_share=0.05, late_minutes=20, malformed_share=0.06)
    produced = produce_clicks(config, rate=0, events=N_EVENTS, faults=faults, ledger_path=ledger_path)
    ledger = _ledger(ledger_path)
    assert produced.duplicates > 0 and produced.late > 0 and set(produced.malformed) == set(REASON_OF) | {"missing_field"}

    report = run_stream_clickstream(spark, config, storage, until_idle=True, trigger_seconds=0)

    curated, quarantine = _curated(spark, config), _quarantine(spark, config)
    valid_ids = [e["event_id"] for e in ledger if e["kind"] == EVENT]
    curated_ids = [r.event_id for r in curated.select("event_id").collect()]
    assert len(curated_ids) == len(set(curated_ids)) == N_EVENTS
    assert set(curated_ids) == set(valid_ids)
    malformed = {e["sha256"]: e["malformation"] for e in ledger if e["kind"] == MALFORMED}
    quarantined = {hashlib.sha256(bytes(r.payload)).hexdigest(): r._reject_reason for r in quarantine.collect()}
    assert set(quarantined) == set(malformed)
    for digest, malformation in malformed.items():
        assert quarantined[digest] == REASON_OF.get(malformation, quarantined[digest])
        assert quarantined[digest].startswith("missing_") or malformation in REASON_OF
    # in = curated + quarantined + duplicates, record for record
    assert report.records_in == len(ledger)
    assert (report.curated, report.quarantined, report.duplicates_dropped) == (
        N_EVENTS, len(malformed), sum(1 for e in ledger if e["kind"] == DUPLICATE))
    assert report.reconciles and report.batches >= 3
    # Late events sit in their own hour's partition, one file per partition folder per batch.
    partition_files = Counter(Path(f).parent for f in _lake_files(config))
    assert partition_files and max(partition_files.values()) <= report.batches
    # Athena reads each hour through its symlink manifest, which the publisher kept current.
    click_files = {f for f in _lake_files(config) if f.startswith("curated/clickstream/")}
    symlinks = Path(CLICKSTREAM_TABLE.uri(config), "_symlink").rglob("symlink.txt")
    named = [str(Path(line).relative_to(config.paths.lake_root)) for link in symlinks for line in link.read_text().splitlines()]
    assert len(named) == len(set(named)) and set(named) == click_files
    assert read_clickstream(spark, config).count() == N_EVENTS

    # What `fashion clicks status` prints comes from these reports.
    progress = read_recent_progress(config, storage, JOB, last=100)
    assert [p.batch_id for p in progress] == sorted(p.batch_id for p in progress)
    assert sum(p.input_rows for p in progress) == len(ledger)
    assert sum(p.curated for p in progress) == N_EVENTS
    # Each batch knows how far behind the tip each shard's read ended; caught up at the end.
    assert all(set(p.shard_lag_ms) <= {"shardId-000000000000", "shardId-000000000001"} for p in progress)
    assert any(p.shard_lag_ms for p in progress) and set(progress[-1].shard_lag_ms.values()) <= {0}

    cloudwatch = aws_client("cloudwatch", config)
    published = cloudwatch.list_metrics(Namespace=METRIC_NAMESPACE)["Metrics"]
    names = {m["MetricName"] for m in published if {"Name": "Job", "Value": JOB} in m["Dimensions"]}
    assert {"InputRowsPerSecond", "ProcessedRowsPerSecond", "BatchDuration", "RecordsQuarantined", "MillisBehindLatest"} <= names
    assert main(["clicks", "status", "--last", "3", "--lake-root", config.paths.lake_root]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].split()[:3] == ["batch", "time", "(UTC)"] and len(status) == 4
    assert [int(line.split()[0]) for line in status[1:]] == [p.batch_id for p in progress[-3:]]

    # Athena's view of the lake: the analyst funnel, run locally over the partition folders.
    funnel = run_athena_sql(config, FUNNEL_SQL.read_text())
    counts = curated.groupBy("event_type").count().collect()
    by_type = {r.event_type: r["count"] for r in counts}
    assert int(funnel["views"].sum()) == by_type.get("view", 0)
    assert int(funnel["purchases"].sum()) == by_type.get("purchase", 0)


def test_running_again_adds_nothing_and_a_replayed_batch_replaces_its_own_files(spark, stream_config, tmp_path):
    config, storage = stream_config, storage_for(stream_config)
    produce_clicks(config, rate=0, events=200, faults=FaultShares(duplicate_share=0.1))
    run_stream_clickstream(spark, config, storage, until_idle=True, trigger_seconds=0)
    files, rows = _lake_files(config), _curated(spark, config).count()

    again = run_stream_clickstream(spark, config, storage, until_idle=True, trigger_seconds=0)
    assert again.records_in == 0
    assert _lake_files(config) == files and _curated(spark, config).count() == rows == 200

    # Spark replays the last batch after a crash: forget that it committed, run again.
    commits = Path(config.paths.lake("_checkpoints", JOB, "commits"))
    last = max(int(p.name) for p in commits.iterdir() if p.name.isdigit())
    (commits / str(last)).unlink()
    (commits / f".{last}.crc").unlink(missing_ok=True)
    run_stream_clickstream(spark, config, storage, until_idle=True, trigger_seconds=0)
    assert _lake_files(config) == files
    assert _curated(spark, config).select(F.countDistinct("event_id")).first()[0] == 200
