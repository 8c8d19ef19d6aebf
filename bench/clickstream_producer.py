"""Achieved rate of `fashion clicks produce` against moto's Kinesis, flat out (--rate 0).

    .venv/bin/python bench/clickstream_producer.py [--events 20000] [--shards 4] [--scale small]

Starts its own moto server on a free port (state in a temporary directory), creates the stream,
produces the events with the producer's defaults (batches of 500, linger 0.5 s), reads every
record back over all shards to check the count, and prints where the time went: PutRecords calls
(moto's side plus boto3) against the rest (simulating, encoding, batching). A second run adds 1%
of each fault. The simulator alone is timed too, to show what bounds the producer.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from fashion_pipeline.aws import aws_client  # noqa: E402
from fashion_pipeline.clickstream.events import ClickstreamSimulator  # noqa: E402
from fashion_pipeline.clickstream.faults import FaultShares  # noqa: E402
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream, produce_clicks  # noqa: E402
from fashion_pipeline.config import load_config  # noqa: E402
from fashion_pipeline.services import MotoService, free_port  # noqa: E402


class TimedClient:
    """The Kinesis client, with the wall time spent in PutRecords added up."""

    def __init__(self, client):
        self._client = client
        self.put_seconds = 0.0

    def put_records(self, **kwargs):
        started = time.perf_counter()
        try:
            return self._client.put_records(**kwargs)
        finally:
            self.put_seconds += time.perf_counter() - started


def count_records(config) -> int:
    client = aws_client("kinesis", config)
    stream = config.names.clickstream_stream
    total = 0
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            response = client.get_records(ShardIterator=iterator, Limit=10_000)
            total += len(response["Records"])
            if not response["Records"] and response.get("MillisBehindLatest", 0) == 0:
                break
            iterator = response["NextShardIterator"]
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--scale", default="small")
    args = parser.parse_args(argv)

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as state_dir:
        moto = MotoService(Path(state_dir), free_port())
        print(moto.up())
        try:
            base = load_config("local", overrides={
                "aws.endpoint_url": moto.address, "clickstream.shard_count": args.shards,
                "clickstream.scale": args.scale, "paths.state_dir": state_dir,
            })
            simulator = ClickstreamSimulator.from_config(base)
            stream = simulator.event_stream(datetime.now(timezone.utc), base.clickstream.default_rate)
            next(stream)
            started = time.perf_counter()
            for event in islice(stream, args.events):
                event.to_json()
            simulate_s = time.perf_counter() - started
            print(f"simulator alone: {args.events:,} events simulated and encoded in {simulate_s:.2f} s "
                  f"({args.events / simulate_s:,.0f} events/s)")

            for label, faults in (("no faults", FaultShares()),
                                  ("1% of each fault", FaultShares(0.01, 0.01, 15, 0.01))):
                moto.reset()
                print(ensure_clickstream_stream(base))
                client = TimedClient(aws_client("kinesis", base))
                report = produce_clicks(base, rate=0, events=args.events, faults=faults, client=client)
                stored = count_records(base)
                print(f"{label}: {report.summary()}")
                print(f"  time in PutRecords {client.put_seconds:.2f} s of {report.elapsed_s:.2f} s; "
                      f"read back {stored:,} records ({'matches' if stored == report.sent else 'MISMATCH'})")
        finally:
            print(moto.down())
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
