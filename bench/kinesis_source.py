"""Catch-up throughput of our format("kinesis") source against a plain Python consumer.

    .venv/bin/python bench/kinesis_source.py                     # 4 shards, 100,000 events of ~200 bytes
    .venv/bin/python bench/kinesis_source.py --events 20000 --runs 1

Starts its own moto server, creates a stream and loads it (PutRecords, 500 a call), then times,
each reading the whole pre-loaded stream into zstd Parquet:
  plain       boto3 GetRecords (Limit 10,000) shard after shard -> pyarrow -> one Parquet file;
  plain-raw   the same loop with our raw-page decoding (keep_raw_get_records_page), to show
              what botocore's parsing costs;
  spark       Spark local[2], read_kinesis (our source, TRIM_HORIZON) -> Parquet sink, from
              start() to processAllAvailable() returning, with the session up; a first "cold"
              query warms the JVM (reported on its own), then rounds of all three interleaved.
Every run checks that it wrote each event exactly once. Prints medians over the rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from fashion_pipeline.aws import aws_client_from_settings  # noqa: E402
from fashion_pipeline.config import load_config  # noqa: E402
from fashion_pipeline.services import MotoService, free_port  # noqa: E402

STREAM = "bench-clickstream"
EVENT_TYPES = ("view", "view", "view", "add_to_cart", "purchase")


def make_event(i: int, rng: random.Random) -> bytes:
    """A click as the website would send it: about 200 bytes of JSON."""
    return json.dumps({
        "event_id": f"{i:016x}",
        "event_type": rng.choice(EVENT_TYPES),
        "customer_id": f"{rng.getrandbits(256):064x}"[:64],
        "article_id": f"{rng.randint(108775015, 959461001):010d}",
        "session_id": f"{rng.getrandbits(64):016x}",
        "ts": "2020-09-23T10:11:12.345Z",
    }, separators=(",", ":")).encode()


def load_stream(client, events: int, shards: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    client.create_stream(StreamName=STREAM, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=STREAM, WaiterConfig={"Delay": 0.1})
    started, batch, size = time.perf_counter(), [], 0
    for i in range(events):
        data = make_event(i, rng)
        size += len(data)
        batch.append({"Data": data, "PartitionKey": f"session-{rng.getrandbits(32)}"})
        if len(batch) == 500 or i == events - 1:
            response = client.put_records(StreamName=STREAM, Records=batch)
            assert response.get("FailedRecordCount", 0) == 0
            batch = []
    print(f"loaded {events:,} events ({size / events:.0f} bytes each) in {time.perf_counter() - started:.1f} s")
    return size / events


def plain_consumer(client, out_dir: Path, raw_pages: bool) -> tuple[float, int]:
    """What a person would write without Spark: read every shard to its end, write Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fashion_pipeline.streaming.kinesis_fetch import (
        RAW_PAGE_KEY,
        install_raw_pages,
        pages_from_the_start,
        records_to_arrow,
    )

    if raw_pages:
        install_raw_pages(client)
    started = time.perf_counter()
    batches = []
    for _, page in pages_from_the_start(client, STREAM):
        if page["Records"]:
            batches.append(records_to_arrow(page["Records"], STREAM, raw=bool(page.get(RAW_PAGE_KEY))))
    table = pa.Table.from_batches(batches)
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out_dir / "part-0.parquet", compression="zstd")
    elapsed = time.perf_counter() - started
    return elapsed, pq.read_table(out_dir).num_rows


def spark_run(spark, config, work: Path) -> tuple[float, int, int, dict]:
    from fashion_pipeline.streaming import read_kinesis

    checkpoint, out = work / "checkpoint", work / "out"
    started = time.perf_counter()
    raw_df = read_kinesis(spark, config, str(checkpoint))
    query = raw_df.writeStream.format("parquet").option("path", str(out)).option(
        "checkpointLocation", str(checkpoint)).start()
    query.processAllAvailable()
    elapsed = time.perf_counter() - started
    progress = [p for p in query.recentProgress if p["numInputRows"]]
    batches = len(progress)
    breakdown = {
        "batches_s": round(sum(p["durationMs"]["triggerExecution"] for p in progress) / 1000, 2),
        "read_and_write_s": round(sum(p["durationMs"]["addBatch"] for p in progress) / 1000, 2),
        "planning_s": round(sum(p["durationMs"]["latestOffset"] for p in progress) / 1000, 2),
    }
    breakdown["start_and_idle_check_s"] = round(elapsed - breakdown["batches_s"], 2)
    query.stop()
    written = spark.read.parquet(str(out))
    rows, distinct = written.count(), written.select("sequenceNumber", "partitionKey").distinct().count()
    assert rows == distinct, f"{rows} rows, {distinct} distinct"
    return elapsed, rows, batches, breakdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cap", type=int, default=50_000, help="kinesis.maxFetchRecordsPerShard")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--endpoint", help="a running moto to use (and keep); the stream is loaded only once")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-kinesis-"))
    moto = None if args.endpoint else MotoService(work / "state", free_port())
    if moto is not None:
        moto.up()
    try:
        endpoint = args.endpoint or moto.address
        client = aws_client_from_settings("kinesis", "us-east-1", endpoint, 3)
        if STREAM not in client.list_streams()["StreamNames"]:
            load_stream(client, args.events, args.shards)
        from fashion_pipeline.spark import build_spark

        config = load_config("local", overrides={
            "aws.endpoint_url": endpoint, "names.clickstream_stream": STREAM, "spark.master": args.master,
            "spark.shuffle_partitions": 2, "spark.driver_memory": "2g", "spark.ui_enabled": False,
            "paths.state_dir": str(work / "spark-state"), "streaming.max_records_per_shard": args.cap,
            "streaming.idle_probe_interval_ms": 0,
        })
        spark = build_spark("bench-kinesis", config)
        elapsed, rows, batches, breakdown = spark_run(spark, config, work / "spark-cold")
        assert rows == args.events, rows
        cold = rows / elapsed
        print(f"spark cold (first query in the JVM): {rows:,} rows in {elapsed:.2f} s = {cold:,.0f} records/s "
              f"({batches} batches; {breakdown})")

        # The machine is shared: interleave the consumers round by round and compare medians.
        rates: dict[str, list[float]] = {"plain": [], "plain-raw": [], "spark": []}
        for run in range(args.runs):
            for name, raw in (("plain", False), ("plain-raw", True)):
                elapsed, rows = plain_consumer(aws_client_from_settings("kinesis", "us-east-1", endpoint, 3),
                                               work / f"{name}-{run}", raw_pages=raw)
                assert rows == args.events, rows
                rates[name].append(rows / elapsed)
                print(f"{name:10s} run {run}: {rows:,} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} records/s")
            elapsed, rows, batches, breakdown = spark_run(spark, config, work / f"spark-{run}")
            assert rows == args.events, rows
            rates["spark"].append(rows / elapsed)
            print(f"spark      run {run}: {rows:,} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} records/s "
                  f"({batches} batches; {breakdown})")
        spark.stop()

        median = {name: statistics.median(values) for name, values in rates.items()}
        print(json.dumps({"events": args.events, "shards": args.shards, "cap": args.cap, "runs": args.runs,
                          "median_records_per_s": {k: round(v) for k, v in median.items()},
                          "spark_cold_records_per_s": round(cold),
                          "spark_vs_plain": round(median["spark"] / median["plain"], 2),
                          "spark_vs_plain_raw": round(median["spark"] / median["plain-raw"], 2),
                          "load_average": [round(x, 1) for x in os.getloadavg()]}))
    finally:
        if moto is not None:
            moto.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
