"""Compaction of the clickstream's closed hours: many batch files become one, and every reader
(Spark through read_clickstream, DuckDB's views, Athena's symlink manifests) sees each event
exactly once in every state a crash can leave, a late batch stays visible, and replaced files go
only after the grace period."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fashion_pipeline.catalog.local_query import run_athena_sql
from fashion_pipeline.cli import main
from fashion_pipeline.errors import ReconciliationError
from fashion_pipeline.hour_manifest import HourManifest, read_hour, symlink_uri, write_manifest
from fashion_pipeline.lake import write_table
from fashion_pipeline.lakefs import delete_path, publish_files
from fashion_pipeline.pipelines import compact_clickstream as compaction
from fashion_pipeline.pipelines.compact_clickstream import (
    HourNotClosedError,
    delete_replaced,
    plan_hour,
    run_compact_clickstream,
    write_generation,
)
from fashion_pipeline.pipelines.stream_clickstream import sync_clickstream_symlinks
from fashion_pipeline.schemas import CURATED_CLICKS_SCHEMA
from fashion_pipeline.storage import LocalStorage
from fashion_pipeline.tables import CLICKSTREAM_TABLE, read_clickstream, staging_uri

DAY = date(2024, 3, 5)
HOUR = 10
HOUR_START = datetime(2024, 3, 5, 10, tzinfo=timezone.utc)
# The hour closes 1 h 15 min after its end (watermark 3600 s + late_minutes 15 by default).
CLOSED = HOUR_START + timedelta(hours=2, minutes=30)
GRACE = timedelta(seconds=7200)


def _event(event_id: str, at: datetime) -> dict:
    return {
        "event_id": event_id, "event_type": "view", "event_time": at.replace(tzinfo=None), "customer_id": None,
        "session_id": f"s-{event_id}", "article_id": "0108775015", "price": None, "quantity": None,
        "device": "mobile", "page": "product", "referrer": None, "partition_key": "k", "sequence_number": "1",
        "arrived_at": at.replace(tzinfo=None), "event_date": at.date(), "event_hour": at.hour,
    }


def _publish_batch(spark, config, storage, batch_id: int, events: list[dict]) -> list[str]:
    """What ClickBatchPublisher does with a batch's valid events: stage, publish by renames, then
    rewrite the touched hours' symlink manifests."""
    staged = staging_uri(config, "test_batches", f"batch={batch_id:012d}")
    df = spark.createDataFrame(events, CURATED_CLICKS_SCHEMA)
    write_table(df.repartition(*CLICKSTREAM_TABLE.partition_keys), staged, CLICKSTREAM_TABLE.partition_keys)
    published = publish_files(spark, staged, CLICKSTREAM_TABLE.uri(config), f"batch-{batch_id:012d}")
    delete_path(spark, staged)
    sync_clickstream_symlinks(config, storage, published)
    return published


def _hour_files(config, event_hour: int = HOUR) -> list[str]:
    folder = Path(CLICKSTREAM_TABLE.uri(config, event_date=DAY, event_hour=event_hour))
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.parquet"))


def _spark_ids(spark, config) -> Counter:
    return Counter(r.event_id for r in read_clickstream(spark, config).select("event_id").collect())


def _duckdb_ids(config) -> Counter:
    return Counter(run_athena_sql(config, "SELECT event_id FROM clickstream")["event_id"])


def _athena_ids(spark, config) -> Counter:
    """As Athena reads the Glue table: only the files the hours' symlink manifests name."""
    root = Path(CLICKSTREAM_TABLE.uri(config)) / "_symlink"
    files = [line for link in sorted(root.rglob("symlink.txt")) for line in link.read_text().splitlines() if line]
    if not files:
        return Counter()
    df = spark.read.schema(CLICKSTREAM_TABLE.schema).option("basePath", CLICKSTREAM_TABLE.uri(config)).parquet(*files)
    return Counter(r.event_id for r in df.select("event_id").collect())


def _assert_each_once(spark, config, expected: set[str], state: str) -> None:
    want = Counter(expected)
    assert _spark_ids(spark, config) == want, f"Spark, {state}"
    assert _duckdb_ids(config) == want, f"DuckDB, {state}"
    assert _athena_ids(spark, config) == want, f"Athena, {state}"


def _partition_columns_of(spark, config) -> set[tuple]:
    return {(r.event_date, r.event_hour) for r in read_clickstream(spark, config).select("event_date", "event_hour").distinct().collect()}


@pytest.fixture
def lake(spark, config):
    """Six micro-batches into hour 10 (the last also into hour 11), as the streaming job leaves them."""
    storage = LocalStorage()
    expected = set()
    for batch_id in range(6):
        events = [_event(f"e{batch_id}-{k}", HOUR_START + timedelta(minutes=batch_id * 5 + k)) for k in range(4)]
        if batch_id == 5:
            events.append(_event("e5-next-hour", HOUR_START + timedelta(hours=1, minutes=2)))
        _publish_batch(spark, config, storage, batch_id, events)
        expected |= {e["event_id"] for e in events}
    return storage, expected


def test_every_reader_sees_each_event_once_through_every_step_and_crash(spark, config, lake):
    storage, expected = lake
    small_files = _hour_files(config)
    assert len(small_files) == 6 and all(name.startswith("batch-") for name in small_files)
    _assert_each_once(spark, config, expected, "before compaction")

    plan = plan_hour(storage, config, DAY, HOUR)
    assert plan.generation == 1 and plan.inputs == tuple(small_files) and plan.replaces == tuple(small_files)

    # Crash after writing the generation, before the manifest: hidden, nothing changes.
    write_generation(spark, storage, config, plan)
    assert any(name.startswith("_compacted/g0001/") for name in _hour_files(config))
    _assert_each_once(spark, config, expected, "generation written, no manifest")

    # The next attempt plans the same generation and overwrites the leftover.
    plan = plan_hour(storage, config, DAY, HOUR)
    assert plan.generation == 1
    generation = write_generation(spark, storage, config, plan)
    assert generation.rows == 24 and len(generation.files) == 1
    assert len([n for n in _hour_files(config) if n.startswith("_compacted/")]) == 1

    # Crash between the manifest's PUT and the symlink's: Spark and DuckDB read the compacted file,
    # Athena the small files it still names; each sees every event once.
    manifest = HourManifest(1, CLOSED.isoformat(timespec="seconds"), generation.files, plan.replaces, generation.rows)
    write_manifest(storage, plan.listing, manifest)
    hour_10_files = [f for f in read_clickstream(spark, config).inputFiles() if "/event_hour=10/" in f]
    assert len(hour_10_files) == 1 and "/_compacted/g0001/" in hour_10_files[0]
    _assert_each_once(spark, config, expected, "manifest committed, symlink stale")

    # After the grace period the stale symlink is noticed: rewritten, nothing deleted, clock restarted.
    after_grace = CLOSED + GRACE + timedelta(minutes=1)
    assert delete_replaced(spark, storage, config, DAY, HOUR, after_grace) == 0
    assert len(_hour_files(config)) == 7
    assert read_hour(storage, CLICKSTREAM_TABLE.uri(config), DAY, HOUR).manifest.committed_at == after_grace.isoformat(timespec="seconds")
    _assert_each_once(spark, config, expected, "symlink repaired")
    assert delete_replaced(spark, storage, config, DAY, HOUR, after_grace + timedelta(minutes=5)) == 0  # grace again

    deleted = delete_replaced(spark, storage, config, DAY, HOUR, after_grace + GRACE + timedelta(minutes=1))
    assert deleted == 6
    assert _hour_files(config) == list(generation.files)
    _assert_each_once(spark, config, expected, "replaced files deleted")
    assert _partition_columns_of(spark, config) == {(DAY, 10), (DAY, 11)}


def test_run_compacts_closed_hours_keeps_a_late_batch_and_reruns_are_no_ops(spark, config, lake):
    storage, expected = lake
    first = run_compact_clickstream(spark, config, storage, now=CLOSED)
    # Hour 11 holds one file and is not closed yet: only hour 10 is compacted.
    assert [(c.hour, c.files_before, c.files_after, c.rows, c.generation) for c in first.compacted] == [
        ("2024-03-05T10", 6, 1, 24, 1)]
    _assert_each_once(spark, config, expected, "compacted by the run")
    manifest_text = Path(CLICKSTREAM_TABLE.uri(config, event_date=DAY, event_hour=HOUR), "_manifest.json").read_text()

    again = run_compact_clickstream(spark, config, storage, now=CLOSED + timedelta(minutes=5))
    assert again.compacted == [] and again.files_deleted == 0
    assert Path(CLICKSTREAM_TABLE.uri(config, event_date=DAY, event_hour=HOUR), "_manifest.json").read_text() == manifest_text

    # A batch later than every window still lands in hour 10, and is visible beside the compacted file.
    late = [_event("late-1", HOUR_START + timedelta(minutes=59))]
    _publish_batch(spark, config, storage, 6, late)
    expected |= {"late-1"}
    _assert_each_once(spark, config, expected, "late batch after compaction")

    # The next run folds it into generation 2; both the replaced batches and generation 1 go
    # once the grace period after generation 2's commit has passed.
    second = run_compact_clickstream(spark, config, storage, now=CLOSED + timedelta(minutes=10))
    assert [(c.files_before, c.files_after, c.rows, c.generation) for c in second.compacted] == [(2, 1, 25, 2)]
    _assert_each_once(spark, config, expected, "generation 2")
    assert len(_hour_files(config)) == 7 + 2  # 7 batch files, generations 1 and 2

    within_grace = run_compact_clickstream(spark, config, storage, now=CLOSED + timedelta(minutes=10) + GRACE / 2)
    assert within_grace.files_deleted == 0 and len(_hour_files(config)) == 9
    done = run_compact_clickstream(spark, config, storage, now=CLOSED + timedelta(minutes=11) + GRACE)
    assert done.files_deleted == 8  # 7 batch files and generation 1's folder
    assert len(_hour_files(config)) == 1 and _hour_files(config)[0].startswith("_compacted/g0002/")
    _assert_each_once(spark, config, expected, "after the grace period")


def test_a_row_count_mismatch_commits_nothing(spark, config, lake, monkeypatch):
    storage, expected = lake
    layout = compaction.compacted_layout
    monkeypatch.setattr(compaction, "compacted_layout", lambda df, files: layout(df, files).filter(F.col("event_id") != "e3-1"))
    with pytest.raises(ReconciliationError, match=r"^compaction of 2024-03-05T10 wrote 23 rows for 24 read from 6 files; nothing committed$"):
        run_compact_clickstream(spark, config, storage, now=CLOSED)
    hour_folder = Path(CLICKSTREAM_TABLE.uri(config, event_date=DAY, event_hour=HOUR))
    assert not (hour_folder / "_manifest.json").exists()
    assert len(_hour_files(config)) == 6 and not any("_compacted" in name for name in _hour_files(config))
    _assert_each_once(spark, config, expected, "after a refused compaction")


def test_an_hour_is_compacted_only_once_closed(spark, config, lake):
    storage, _ = lake
    not_yet = HOUR_START + timedelta(hours=2)  # 45 min after the hour's end: late events still due
    assert run_compact_clickstream(spark, config, storage, now=not_yet).compacted == []
    with pytest.raises(HourNotClosedError, match="2024-03-05T10 is not closed before 2024-03-05T12:15Z"):
        run_compact_clickstream(spark, config, storage, hour=HOUR_START, now=not_yet)
    assert not Path(CLICKSTREAM_TABLE.uri(config, event_date=DAY, event_hour=HOUR), "_manifest.json").exists()


def test_fashion_clicks_compact_runs_the_job_for_one_hour(spark, config, lake, capsys):
    _, expected = lake
    assert main(["clicks", "compact", "--hour", "2024-03-05T10", "--lake-root", config.paths.lake_root,
                 "--raw-root", config.paths.raw_root, "--set", f"paths.state_dir={config.paths.state_dir}",
                 "--set", "spark.shuffle_partitions=2", "--set", "spark.ui_enabled=false"]) == 0
    out = capsys.readouterr().out
    assert "1 hour(s) compacted" in out and "2024-03-05T10: 6 files -> 1 (generation 1, 24 rows)" in out
    assert sum(1 for n in _hour_files(config) if n.startswith("_compacted/")) == 1
    assert symlink_uri(CLICKSTREAM_TABLE.uri(config), DAY, HOUR).endswith("_symlink/event_date=2024-03-05/event_hour=10/symlink.txt")
    _assert_each_once(spark, config, expected, "after `fashion clicks compact`")
