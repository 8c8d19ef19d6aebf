"""The streaming job (stream_clickstream) against a plain Python consumer doing the same work, and
the freshness of events in the lake.

    .venv/bin/python bench/streaming.py                          # throughput, then freshness at 10 s and 300 s
    .venv/bin/python bench/streaming.py --events 20000 --triggers 10     # a quicker look

Starts its own moto server (a free port) and a lake in a temporary directory; events are the
simulator's (`ClickstreamSimulator`, tiny taste model), 1% duplicates, faults off otherwise.

Throughput (catch-up: moto caps a live producer below what a consumer can take, so the stream is
loaded first, then read):
  spark   stream_clickstream on local[2] with our Kinesis source: parse + contract validation +
          catalogue join + de-duplication within the watermark + staged Parquet write + publish,
          from the query's start to the stream read to its end, session already up (an EMR
          streaming step pays its JVM start once, then runs for hours); each round a fresh
          checkpoint and lake;
  plain   one Python process: boto3 GetRecords (10,000 a call) shard after shard, the same
          validator, the same de-duplication on event_id (a set), the same partitioned Parquet
          layout with pyarrow (event_date / event_hour folders, quarantine by arrival day).
Freshness: a producer sends at --rate events/s for --duration s while the job runs with the given
trigger; a watcher lists the lake's partition folders every 0.5 s as Athena would and notes when
each event's file appears: freshness = appearance - event_time (the producer stamps events as it
sends them). p50 / p95 per trigger.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from fashion_pipeline.config import load_config  # noqa: E402
from fashion_pipeline.services import MotoService, free_port  # noqa: E402


def bench_config(state: Path, moto: MotoService, round_name: str):
    return load_config("local", overrides={
        "paths.raw_root": str(state / "raw"), "paths.lake_root": str(state / round_name / "lake"),
        "paths.state_dir": str(state / "state"), "aws.endpoint_url": moto.address,
        "spark.master": "local[2]", "spark.shuffle_partitions": 4, "spark.driver_memory": "3g",
        "clickstream.scale": "tiny", "clickstream.shard_count": 4,
        "streaming.idle_probe_interval_ms": 0, "streaming.max_records_per_shard": 25000,
    })


def write_catalogue(config) -> None:
    from fashion_pipeline.generate import write_curated_catalogue
    from fashion_pipeline.tables import ARTICLES_TABLE

    write_curated_catalogue("tiny", config.clickstream.model_seed, ARTICLES_TABLE.uri(config))


def plain_consumer(config) -> tuple[float, dict]:
    """Everything stream_clickstream does, in one Python process, without Spark."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from fashion_pipeline.aws import aws_client
    from fashion_pipeline.clickstream.contract import CLICK_EVENT_COLUMNS, parse_event_time
    from fashion_pipeline.clickstream.validation import click_reject_reason
    from fashion_pipeline.streaming.kinesis_fetch import pages_from_the_start
    from fashion_pipeline.tables import ARTICLES_TABLE

    started = time.perf_counter()
    client = aws_client("kinesis", config)
    stream = config.names.clickstream_stream
    known = set(pq.read_table(ARTICLES_TABLE.uri(config), columns=["article_id"]).column(0).to_pylist())
    seen, events, rejected, duplicates = set(), [], [], 0
    for _, page in pages_from_the_start(client, stream):
        for record in page["Records"]:
            data = record["Data"]
            reason = click_reject_reason(data, config.clickstream.max_event_bytes, known)
            if reason:
                rejected.append({"payload": data, "sequence_number": record["SequenceNumber"],
                                 "partition_key": record["PartitionKey"],
                                 "arrived_at": record["ApproximateArrivalTimestamp"], "_reject_reason": reason,
                                 "arrival_date": record["ApproximateArrivalTimestamp"].date().isoformat()})
                continue
            event = json.loads(data)
            if event["event_id"] in seen:
                duplicates += 1
                continue
            seen.add(event["event_id"])
            moment = parse_event_time(event["event_time"])
            events.append({**{c: event[c] for c in CLICK_EVENT_COLUMNS}, "event_time": moment,
                           "partition_key": record["PartitionKey"], "sequence_number": record["SequenceNumber"],
                           "arrived_at": record["ApproximateArrivalTimestamp"],
                           "event_date": moment.date().isoformat(), "event_hour": moment.hour})
    lake = Path(config.paths.lake_root)
    if events:
        ds.write_dataset(pa.Table.from_pylist(events), lake / "plain" / "clickstream", format="parquet",
                         partitioning=["event_date", "event_hour"], partitioning_flavor="hive",
                         existing_data_behavior="overwrite_or_ignore",
                         file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"))
    if rejected:
        ds.write_dataset(pa.Table.from_pylist(rejected), lake / "plain" / "quarantine", format="parquet",
                         partitioning=["arrival_date"], partitioning_flavor="hive",
                         existing_data_behavior="overwrite_or_ignore")
    seconds = time.perf_counter() - started
    return seconds, {"curated": len(events), "quarantined": len(rejected), "duplicates": duplicates}


def spark_job(spark, config) -> tuple[float, dict]:
    from fashion_pipeline.pipelines.stream_clickstream import run_stream_clickstream
    from fashion_pipeline.storage import storage_for
    from fashion_pipeline.streaming.progress import read_recent_progress

    storage = storage_for(config)
    started = time.perf_counter()
    report = run_stream_clickstream(spark, config, storage, until_idle=True, trigger_seconds=0)
    seconds = time.perf_counter() - started
    assert report.reconciles, report.summary()
    # Sustained: what a long-running query spends per record once started. The progress reports'
    # trigger durations of the batches that carried records (with trigger 0 they run back to back);
    # left out: the query's start and stop and the closing no-data batch (watermark only), which
    # a stream that keeps receiving clicks does not pay per batch.
    progress = [p for p in read_recent_progress(config, storage, "stream_clickstream", 10_000) if p.input_rows]
    busy_s = sum(p.duration_ms for p in progress) / 1000
    return seconds, {"curated": report.curated, "quarantined": report.quarantined,
                     "duplicates": report.duplicates_dropped, "batches": report.batches,
                     "sustained": sum(p.input_rows for p in progress) / busy_s if busy_s else 0.0}


def freshness(spark, config, trigger_s: float, rate: float, duration_s: float) -> list[float]:
    """Seconds from event_time to the event's file being listed in its partition folder."""
    import pyarrow.parquet as pq

    from fashion_pipeline.clickstream.faults import FaultShares
    from fashion_pipeline.clickstream.producer import produce_clicks
    from fashion_pipeline.pipelines.stream_clickstream import (
        ClickBatchPublisher,
        checkpoint_uri,
        start_clickstream_query,
    )
    from fashion_pipeline.storage import storage_for
    from fashion_pipeline.streaming import read_kinesis
    from fashion_pipeline.tables import CLICKSTREAM_TABLE

    live = config.with_overrides({"streaming.starting_position": "LATEST"})
    query = start_clickstream_query(live, ClickBatchPublisher(live, storage_for(live)),
                                    read_kinesis(spark, live, checkpoint_uri(live)), trigger_seconds=trigger_s)
    time.sleep(3)
    table, seen_files, lags = Path(CLICKSTREAM_TABLE.uri(live)), set(), []
    reports = []
    producer = threading.Thread(target=lambda: reports.append(produce_clicks(
        config=live, rate=rate, duration_s=duration_s, faults=FaultShares())), daemon=True)
    producer.start()
    deadline = time.time() + duration_s + 2 * trigger_s + 120
    produced_until = None
    while time.time() < deadline:
        now = datetime.now(timezone.utc)
        for path in table.rglob("*.parquet") if table.is_dir() else []:
            if path in seen_files:
                continue
            seen_files.add(path)
            times = pq.read_table(path, columns=["event_time"]).column(0).to_pylist()
            lags += [(now - t.replace(tzinfo=timezone.utc)).total_seconds() for t in times]
        if not producer.is_alive():
            produced_until = produced_until or time.time()
            # What was sent, not rate x duration: on a busy machine the producer falls short.
            sent = reports[0].events if reports else rate * duration_s
            if len(lags) >= sent * 0.98 and time.time() > produced_until + trigger_s + 5:
                break
        time.sleep(0.5)
    query.stop()
    return lags


def load() -> str:
    """The 1-minute load average: the machine is shared, figures are read beside it."""
    import os

    return f"{os.getloadavg()[0]:.2f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds; 0: freshness only")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    parser.add_argument("--triggers", type=float, nargs="*", default=[10.0, 300.0])
    parser.add_argument("--rate", type=float, default=200.0, help="events/s during the freshness runs")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of production per freshness run (default: max(120, 3 triggers))")
    args = parser.parse_args()

    from fashion_pipeline.clickstream.faults import FaultShares
    from fashion_pipeline.clickstream.producer import ensure_clickstream_stream, produce_clicks
    from fashion_pipeline.spark import build_spark

    state = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    moto = MotoService(state / "moto", free_port())
    print(moto.up())
    try:
        base = bench_config(state, moto, "load")
        ensure_clickstream_stream(base)
        loaded = time.perf_counter()
        produced = produce_clicks(base, rate=0, events=args.events, faults=FaultShares(duplicate_share=0.01))
        print(f"loaded {produced.summary()} in {time.perf_counter() - loaded:.0f} s")
        session_started = time.perf_counter()
        spark = build_spark("bench_streaming", base)
        print(f"Spark session up in {time.perf_counter() - session_started:.1f} s (not in the figures below)")

        spark_runs, plain_runs, sustained_runs = [], [], []
        for n in range(-args.warmup, args.rounds if args.rounds else -args.warmup):
            for name, run, runs in (("spark", lambda c: spark_job(spark, c), spark_runs), ("plain", plain_consumer, plain_runs)):
                config = bench_config(state, moto, f"{name}-{n + args.warmup}")
                write_catalogue(config)
                seconds, counts = run(config)
                records = counts["curated"] + counts["quarantined"] + counts["duplicates"]
                label = "warm-up" if n < 0 else f"round {n + 1}"
                print(f"{label:<8} {name:<6} {seconds:7.1f} s  {records / seconds:9,.0f} records/s  {counts}  "
                      f"(load {load()})")
                if n >= 0:  # the warm-up round fills the JIT, Python workers and moto's caches
                    runs.append(records / seconds)
                    if "sustained" in counts:
                        sustained_runs.append(counts["sustained"])
        if args.rounds:
            spark_rate, plain_rate = statistics.median(spark_runs), statistics.median(plain_runs)
            sustained = statistics.median(sustained_runs)
            print(f"\nthroughput (median of {args.rounds}): spark {spark_rate:,.0f} records/s start to idle "
                  f"({sustained:,.0f} records/s sustained, in its data batches), plain {plain_rate:,.0f} records/s; "
                  f"spark / plain = {spark_rate / plain_rate:.2f}x start to idle, {sustained / plain_rate:.2f}x sustained "
                  f"(load {load()})")

        for trigger in args.triggers:
            config = bench_config(state, moto, f"fresh-{int(trigger)}")
            write_catalogue(config)
            duration = args.duration or max(120.0, 3 * trigger)
            lags = freshness(spark, config, trigger, args.rate, duration)
            print(f"freshness at a {trigger:g} s trigger ({len(lags):,} events at {args.rate:g}/s for {duration:g} s): "
                  f"p50 {percentile(lags, 0.5):.1f} s, p95 {percentile(lags, 0.95):.1f} s, max {max(lags):.1f} s "
                  f"(load {load()})")
    finally:
        print(moto.down())
    return 0


if __name__ == "__main__":
    sys.exit(main())
