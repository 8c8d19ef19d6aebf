"""Real-time recommendations on moto: how fast a click shows in the real-time table, and what the
Lambda handler costs per batch.

    .venv/bin/python bench/realtime.py [--scale small] [--shards 4] [--rate 20] [--duration 60]
                                       [--batches 60] [--poll-interval 1.0] [--path lambda|streaming|all]
    .venv/bin/python bench/realtime.py --in-memory-only [--batches 60]   # the handler's own work only

Starts its own moto server on a free port (state in a temporary directory), creates the stream, the
tables and the on-failure queue, and loads serving items for the simulated shoppers (a nightly
list of 12 for each registered customer, 20 neighbours within the product type for every article,
a trending list). Then:

1. handler time per 100-record batch: batches of 100 consecutive simulated clicks (the site at
   50 events/s, so about as many shoppers as clicks in a batch, their rings filling up) are handed
   to the handler directly, three ways, each on clicks of its own: on moto with one write at a
   time, the time inside HTTP sends (moto's processing and the loopback) measured around
   botocore's send and subtracted, which leaves the handler's work plus botocore's request
   building and response parsing; on moto with the configured `realtime.write_concurrency`
   (wall time); and with DynamoDB replaced by an in-memory stand-in (`InMemoryDynamo`), CPU time:
   the handler's own work, the figure the goal (p95 <= 50 ms) is about.
2. click produced -> visible, Lambda path: a producer thread sends clicks one PutRecord at a time
   at `--rate` events/s for `--duration` s, each stamped with its send time; the local event
   source mapping (batch size 100, window 0, idle shards polled every `--poll-interval` s as AWS
   does once a second) invokes the handler. A click is visible when the PutItem of its shopper's
   real-time item, computed with that click, has returned (the handler records that moment).
3. click produced -> visible, streaming path: stream_recommendations (both queries) at a
   `--trigger` s trigger (10) on local[2], the producer as in 2.; a click is visible at the first
   scan of the real-time table (every 0.5 s) that finds its shopper's item computed from an event
   at least as new as the click (`event_time_ms`).
"""
from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from fashion_pipeline.aws import aws_client  # noqa: E402
from fashion_pipeline.clickstream.events import ClickstreamSimulator, stamped  # noqa: E402
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream  # noqa: E402
from fashion_pipeline.config import load_config  # noqa: E402
from fashion_pipeline.realtime.commands import ensure_fast_path_resources  # noqa: E402
from fashion_pipeline.realtime.event_source import (  # noqa: E402
    CheckpointStore,
    LocalEventSourceMapping,
    MappingSettings,
    kinesis_event,
)
from fashion_pipeline.realtime.lambda_handler import FastPath  # noqa: E402
from fashion_pipeline.realtime.settings import RealtimeSettings  # noqa: E402
from fashion_pipeline.realtime.store import WRITTEN, trending_item  # noqa: E402
from fashion_pipeline.recs.items import neighbor_item, recommendation_item  # noqa: E402
from fashion_pipeline.services import MotoService, free_port  # noqa: E402

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)  # rings expire a day after their last click
BATCH_RECORDS = 100
SITE_RATE = 50.0  # events/s of the simulated site for the handler-time batches


class NetworkTimer:
    """Adds up the time a boto3 client spends in HTTP sends (the emulator and the loopback)."""

    def __init__(self, client):
        self.seconds, self.calls = 0.0, 0
        endpoint = client._endpoint  # noqa: SLF001 - a benchmark's instrument, not product code
        send = endpoint._send

        def timed_send(request):
            started = time.perf_counter()
            try:
                return send(request)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        endpoint._send = timed_send

    def reset(self) -> tuple[float, int]:
        taken = (self.seconds, self.calls)
        self.seconds, self.calls = 0.0, 0
        return taken


class InMemoryDynamo:
    """A stand-in for the DynamoDB client with exactly the calls and conditions the fast path uses,
    so that the handler's own work can be timed without botocore, HTTP or the emulator."""

    def __init__(self):
        self.tables: dict[str, dict[tuple, dict]] = {}

    @staticmethod
    def _key(item_or_key: dict) -> tuple:
        for name in ("user_id", "article_id", "scope"):
            if name in item_or_key:
                return (name, item_or_key[name]["S"])
        raise KeyError(item_or_key)

    def load(self, table: str, item: dict) -> None:
        self.tables.setdefault(table, {})[self._key(item)] = item

    def batch_get_item(self, RequestItems):
        return {"Responses": {table: [self.tables.get(table, {})[self._key(k)] for k in request["Keys"]
                                      if self._key(k) in self.tables.get(table, {})]
                              for table, request in RequestItems.items()}, "UnprocessedKeys": {}}

    def get_item(self, TableName, Key, ConsistentRead=False):
        found = self.tables.get(TableName, {}).get(self._key(Key))
        return {"Item": found} if found else {}

    def put_item(self, TableName, Item, ConditionExpression=None, ExpressionAttributeNames=None,
                 ExpressionAttributeValues=None):
        from botocore.exceptions import ClientError

        table = self.tables.setdefault(TableName, {})
        current = table.get(self._key(Item))
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        if ConditionExpression == "attribute_not_exists(#key)":
            ok = current is None
        elif ConditionExpression == "#version = :expected":
            ok = current is not None and current[names["#version"]] == values[":expected"]
        elif ConditionExpression == "attribute_not_exists(#key) OR attribute_not_exists(#stamp) OR #stamp <= :stamp":
            stamp = names["#stamp"]
            ok = current is None or stamp not in current or int(current[stamp]["N"]) <= int(values[":stamp"]["N"])
        elif ConditionExpression is None:
            ok = True
        else:
            raise NotImplementedError(ConditionExpression)
        if not ok:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "failed"}}, "PutItem")
        table[self._key(Item)] = Item
        return {}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def serving_items(config, simulator: ClickstreamSimulator, customers: set[str]) -> list[tuple[str, dict]]:
    """(table, item): nightly lists for the shoppers, 20 neighbours within the product type for
    every article, and a live trending list."""
    import numpy as np

    tables = RealtimeSettings.from_config(config).tables
    rng = np.random.default_rng(7)
    article_ids = simulator.article_ids
    types = simulator.model.catalogue.product_type_no
    by_type: dict[int, list[int]] = {}
    for index, product_type in enumerate(types.tolist()):
        by_type.setdefault(product_type, []).append(index)
    items = []
    for index, article in enumerate(article_ids):
        same = by_type[int(types[index])]
        picks = rng.choice(same, size=min(20, len(same)), replace=False)
        neighbors = [{"article_id": article_ids[p], "score": float(0.95 - 0.02 * n)} for n, p in enumerate(picks) if p != index]
        items.append((tables.neighbors, neighbor_item(article, neighbors, "bench", "2020-09-22T02:00:00+00:00")))
    for customer in sorted(customers):
        nightly = [{"article_id": article_ids[p], "score": float(12 - n), "reason": "als"}
                   for n, p in enumerate(rng.choice(len(article_ids), 12, replace=False))]
        items.append((tables.batch, recommendation_item(customer, nightly, "bench", "2020-09-22T02:00:00+00:00")))
    items.append((tables.trending, trending_item([(article_ids[i], float(100 - i)) for i in range(20)],
                                                 int(time.time() * 1000), "bench", 3600 * 24 * 365)))
    return items


def load_into_moto(config, items: list[tuple[str, dict]]) -> None:
    client = aws_client("dynamodb", config)
    for start in range(0, len(items), 25):
        pending: dict[str, list] = {}
        for table, item in items[start:start + 25]:
            pending.setdefault(table, []).append({"PutRequest": {"Item": item}})
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _batches(events: list, first: int, count: int, region: str) -> list[dict]:
    """`count` AWS-shaped events of 100 consecutive clicks each, starting at batch `first`."""
    out = []
    for b in range(first, first + count):
        chunk = events[b * BATCH_RECORDS:(b + 1) * BATCH_RECORDS]
        records = [{"SequenceNumber": str(b * BATCH_RECORDS + i + 1), "PartitionKey": e.partition_key,
                    "Data": e.to_json(), "ApproximateArrivalTimestamp": e.event_time} for i, e in enumerate(chunk)]
        out.append(kinesis_event(records, "shardId-000000000000", "arn:aws:kinesis:us-east-1:000000000000:stream/bench",
                                 region))
    return out


def _timed(fast_path: FastPath, batches: list[dict], timer: NetworkTimer | None = None,
           cpu_time: bool = False) -> tuple[list, list, list, list]:
    """Per batch: seconds (wall, or CPU of this process), seconds in HTTP, calls, shoppers."""
    clock = time.process_time if cpu_time else time.perf_counter
    walls, in_http, calls, shoppers = [], [], [], []
    for event in batches:
        if timer:
            timer.reset()
        if cpu_time:
            # The in-memory tables put millions of small objects in this process's heap (the real
            # ones are not in the Lambda's): a full garbage collection scanning them would be
            # charged to whichever batch it fell in. Collect between batches, untimed.
            gc.collect()
            gc.disable()
        started = clock()
        response = fast_path(event, None)
        walls.append(clock() - started)
        gc.enable()
        assert response == {"batchItemFailures": []}, response
        http_s, n_calls = timer.reset() if timer else (0.0, 0)
        in_http.append(http_s)
        calls.append(n_calls)
        shoppers.append(len(fast_path.last_report.shoppers))
    return walls, in_http, calls, shoppers


def handler_time(config, simulator: ClickstreamSimulator, batches: int) -> dict:
    """Per 100-record batch, three ways (each on clicks of its own, continuing the same shoppers):
    on moto with writes one at a time, the time inside HTTP calls subtracted; on moto with the
    configured write concurrency (wall time only: overlapping calls cannot be subtracted); and with
    DynamoDB replaced by a dictionary (the handler's own work: no botocore, no HTTP)."""
    events = list(islice(simulator.event_stream(START, SITE_RATE), 3 * batches * BATCH_RECORDS))
    sequential = RealtimeSettings.from_config(config.with_overrides({"realtime.write_concurrency": 1}))
    client = aws_client("dynamodb", config)
    timer = NetworkTimer(client)
    walls, in_http, calls, shoppers = _timed(FastPath(sequential, client), _batches(events, 0, batches, config.aws.region), timer)
    own = [w - h for w, h in zip(walls, in_http)]

    concurrent_client = aws_client("dynamodb", config)
    concurrent, _, _, _ = _timed(FastPath(RealtimeSettings.from_config(config), concurrent_client),
                                 _batches(events, batches, batches, config.aws.region))

    memory = InMemoryDynamo()
    scan = client.get_paginator("scan")
    for table in vars(sequential.tables).values():
        for item in scan.paginate(TableName=table).build_full_result()["Items"]:
            memory.load(table, item)  # rings and lists of the moto runs included: the same shoppers go on
    in_memory, _, _, _ = _timed(FastPath(sequential, memory), _batches(events, 2 * batches, batches, config.aws.region),
                                cpu_time=True)
    return {
        "batches": batches, "records_per_batch": BATCH_RECORDS,
        "shoppers_per_batch": statistics.mean(shoppers), "dynamodb_calls_per_batch": statistics.mean(calls),
        "moto_sequential_wall_ms_p50": 1000 * percentile(walls, 0.5),
        "moto_sequential_in_http_ms_p50": 1000 * percentile(in_http, 0.5),
        "moto_minus_http_ms_p50": 1000 * percentile(own, 0.5), "moto_minus_http_ms_p95": 1000 * percentile(own, 0.95),
        "moto_concurrent_wall_ms_p50": 1000 * percentile(concurrent, 0.5),
        "moto_concurrent_wall_ms_p95": 1000 * percentile(concurrent, 0.95),
        "write_concurrency": config.realtime.write_concurrency,
        "in_memory_cpu_ms_p50": 1000 * percentile(in_memory, 0.5),
        "in_memory_cpu_ms_p95": 1000 * percentile(in_memory, 0.95),
    }


def in_memory_handler_time(config, batches: int) -> dict:
    """Only the handler's own work (no moto): `batches` warm-up batches fill the rings, then
    `batches` measured ones, CPU time, the cyclic GC paused during each batch."""
    simulator = ClickstreamSimulator.from_config(config)
    events = list(islice(simulator.event_stream(START, SITE_RATE), 2 * batches * BATCH_RECORDS))
    memory = InMemoryDynamo()
    for table, item in serving_items(config, simulator, {e.customer_id for e in events if e.customer_id}):
        memory.load(table, item)
    fast_path = FastPath(RealtimeSettings.from_config(config.with_overrides({"realtime.write_concurrency": 1})), memory)
    _timed(fast_path, _batches(events, 0, batches, config.aws.region))
    cpu, _, _, shoppers = _timed(fast_path, _batches(events, batches, batches, config.aws.region), cpu_time=True)
    return {"batches": batches, "records_per_batch": BATCH_RECORDS, "shoppers_per_batch": statistics.mean(shoppers),
            "in_memory_cpu_ms_p50": 1000 * percentile(cpu, 0.5), "in_memory_cpu_ms_p95": 1000 * percentile(cpu, 0.95)}


def lambda_latency(config, simulator: ClickstreamSimulator, rate: float, duration_s: float, poll_interval_s: float) -> dict:
    """Click produced -> visible in the real-time table, through the local event source mapping."""
    produced: dict[str, tuple[float, str]] = {}  # event_id -> (sent at, shopper)
    visible: dict[str, float] = {}
    settings = RealtimeSettings.from_config(config)
    fast_path = FastPath(settings, aws_client("dynamodb", config))

    def function(event, context):
        response = fast_path(event, context)
        outcomes = fast_path.last_report.shoppers
        for record in event["Records"]:
            click = json.loads(base64.b64decode(record["kinesis"]["data"]))
            outcome = outcomes.get(click["customer_id"] or click["session_id"])
            if outcome is not None and outcome.status == WRITTEN:
                visible.setdefault(click["event_id"], outcome.written_at_s)
        return response

    mapping = LocalEventSourceMapping(
        aws_client("kinesis", config), aws_client("sqs", config), function,
        MappingSettings.from_config(config, starting_position="LATEST", poll_interval_s=poll_interval_s,
                                    batch_size=100, batching_window_s=0.0),
        CheckpointStore(None),
    ).open()
    stop = threading.Event()
    consumer = threading.Thread(target=lambda: mapping.run(stop=stop.is_set), daemon=True)
    consumer.start()

    for event, sent_at, _ in produce_paced(config, simulator, rate, duration_s):
        produced[event.event_id] = (sent_at, event.partition_key)
    deadline = time.time() + 10 * poll_interval_s + 10
    while time.time() < deadline and len(visible) < len(produced):
        time.sleep(0.1)
    stop.set()
    consumer.join(timeout=30)

    latencies = [visible[e] - sent for e, (sent, _) in produced.items() if e in visible]
    return {
        "events": len(produced), "visible": len(latencies), "rate": rate, "duration_s": duration_s,
        "poll_interval_s": poll_interval_s, "invocations": len(mapping.report.invocations),
        "p50_s": percentile(latencies, 0.5), "p95_s": percentile(latencies, 0.95), "max_s": max(latencies),
    }


def produce_paced(config, simulator: ClickstreamSimulator, rate: float, duration_s: float):
    """Yields (event, sent at, the JSON sent) for one PutRecord per click at `rate` clicks/s for
    `duration_s`, each click stamped with its send time (both paths' producer)."""
    kinesis = aws_client("kinesis", config)
    stream = config.names.clickstream_stream
    clicks = simulator.event_stream(datetime.now(timezone.utc), rate)
    started = time.time()
    n = 0
    while time.time() - started < duration_s:
        due = started + n / rate
        if due > time.time():
            time.sleep(due - time.time())
        event = stamped(next(clicks), datetime.now(timezone.utc))
        data = event.to_json()
        sent_at = time.time()
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey=event.partition_key)
        yield event, sent_at, data
        n += 1


def streaming_latency(config, simulator: ClickstreamSimulator, rate: float, duration_s: float,
                      trigger_s: float = 10.0, poll_interval_s: float = 0.5) -> dict:
    """Click produced -> visible through the Spark streaming job (stream_recommendations, both of
    its queries running at a `trigger_s` trigger, local[2], starting at the stream's tip).

    The producer sends as `lambda_latency` does (one PutRecord at a time, each click stamped with
    its send time). The executors write the items, so the moment of a write is not at hand here:
    a watcher scans the real-time table every `poll_interval_s` and a click is visible at the
    first scan that finds its shopper's item computed from an event at least as new as the click
    (`event_time_ms`). The figures are therefore late by up to one scan interval."""
    from fashion_pipeline.clickstream.contract import parse_event_time
    from fashion_pipeline.pipelines.stream_recommendations import start_queries
    from fashion_pipeline.spark import build_spark
    from fashion_pipeline.streaming.lifecycle import stop_between_batches

    live = config.with_overrides({
        "streaming.starting_position": "LATEST", "paths.lake_root": f"{config.paths.state_dir}/lake",
        "spark.master": "local[2]", "spark.shuffle_partitions": 4, "spark.driver_memory": "3g",
    })
    spark = build_spark("bench_realtime_streaming", live)
    queries, lists_writer, _ = start_queries(spark, live, trigger_s)
    # The first micro-batch fixes where LATEST starts: produce only once it has run.
    while not lists_writer.totals.batches and all(q.isActive for q in queries):
        time.sleep(0.2)

    produced: dict[str, tuple[float, str, int]] = {}  # event_id -> (sent at, shopper, event_time_ms)
    visible: dict[str, float] = {}
    dynamodb, table = aws_client("dynamodb", config), RealtimeSettings.from_config(config).tables.realtime
    stop = threading.Event()

    def watch() -> None:
        scan = dynamodb.get_paginator("scan")
        while not stop.is_set():
            newest: dict[str, int] = {}
            for page in scan.paginate(TableName=table, ProjectionExpression="user_id, event_time_ms"):
                for item in page["Items"]:
                    if "event_time_ms" in item:
                        newest[item["user_id"]["S"]] = int(item["event_time_ms"]["N"])
            seen_at = time.time()
            for event_id, (_, shopper, event_ms) in list(produced.items()):
                if event_id not in visible and newest.get(shopper, -1) >= event_ms:
                    visible[event_id] = seen_at
            stop.wait(poll_interval_s)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for event, sent_at, data in produce_paced(config, simulator, rate, duration_s):
            event_ms = int(parse_event_time(json.loads(data)["event_time"]).timestamp() * 1000)
            produced[event.event_id] = (sent_at, event.partition_key, event_ms)
        deadline = time.time() + 3 * trigger_s + 30
        while time.time() < deadline and len(visible) < len(produced):
            time.sleep(0.2)
        # Where a batch's time goes: Spark's own phases of the batches that carried clicks, medians.
        phases = {}
        for query in queries:
            durations = [p["durationMs"] for p in query.recentProgress if p["numInputRows"]]
            phases[query.name] = {key: statistics.median(d.get(key, 0) for d in durations)
                                  for key in sorted({k for d in durations for k in d})}
    finally:
        stop.set()
        watcher.join(timeout=30)
        stop_between_batches(queries)
        spark.stop()
    latencies = [visible[e] - sent for e, (sent, _, _) in produced.items() if e in visible]
    return {
        "events": len(produced), "visible": len(latencies), "rate": rate, "duration_s": duration_s,
        "trigger_s": trigger_s, "scan_interval_s": poll_interval_s, "micro_batches": lists_writer.totals.batches,
        "median_batch_phases_ms": phases,
        "p50_s": percentile(latencies, 0.5), "p95_s": percentile(latencies, 0.95), "max_s": max(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="clicks per second for the latency run")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of clicks for the latency run")
    parser.add_argument("--batches", type=int, default=60, help="100-record batches for the handler time")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="idle shard polling (AWS: 1 s)")
    parser.add_argument("--trigger", type=float, default=10.0, help="streaming path: micro-batch interval (s)")
    parser.add_argument("--path", choices=["lambda", "streaming", "all"], default="lambda")
    parser.add_argument("--in-memory-only", action="store_true",
                        help="only the handler time with the in-memory DynamoDB stand-in (no moto, a minute)")
    args = parser.parse_args(argv)
    if args.in_memory_only:
        config = load_config("local", overrides={"clickstream.scale": args.scale})
        print(json.dumps({"machine_load": os.getloadavg()[0], **in_memory_handler_time(config, args.batches)}, indent=1))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as state:
        service = MotoService(Path(state), free_port())
        service.up()
        try:
            config = load_config("local", overrides={
                "aws.endpoint_url": service.address, "paths.state_dir": state, "clickstream.scale": args.scale,
                "clickstream.shard_count": args.shards,
            })
            ensure_clickstream_stream(config)
            ensure_fast_path_resources(config)
            simulator = ClickstreamSimulator.from_config(config)
            customers = {e.customer_id for e in islice(simulator.event_stream(START, SITE_RATE),
                                                       3 * args.batches * BATCH_RECORDS) if e.customer_id}
            load_into_moto(config, serving_items(config, simulator, customers))
            results = {"machine_load": os.getloadavg()[0], "scale": args.scale, "shards": args.shards}
            if args.path in ("lambda", "all"):
                results["handler_per_100_records"] = handler_time(config, ClickstreamSimulator.from_config(config),
                                                                  args.batches)
                print(json.dumps(results["handler_per_100_records"], indent=1), flush=True)
                results["lambda_produced_to_visible"] = lambda_latency(
                    config, ClickstreamSimulator.from_config(config, seed=config.clickstream.seed + 1),
                    args.rate, args.duration, args.poll_interval)
                print(json.dumps(results["lambda_produced_to_visible"], indent=1), flush=True)
            if args.path in ("streaming", "all"):
                results["streaming_produced_to_visible"] = streaming_latency(
                    config, ClickstreamSimulator.from_config(config, seed=config.clickstream.seed + 2),
                    args.rate, args.duration, args.trigger)
                print(json.dumps(results["streaming_produced_to_visible"], indent=1), flush=True)
            print(json.dumps(results, indent=1))
        finally:
            service.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
