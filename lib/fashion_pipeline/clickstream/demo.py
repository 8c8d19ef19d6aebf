"""The clickstream in `make demo`: a burst of simulated clicks (with a few duplicates, late events
and malformed records) into Kinesis, the streaming job until the stream is read, then what landed
in the lake and the hourly funnel an analyst would query in Athena."""
from __future__ import annotations

import shutil
from datetime import datetime
from importlib import resources
from pathlib import Path

from pyspark.sql import SparkSession

from fashion_pipeline.config import Config
from fashion_pipeline.console import demo_step, say
from fashion_pipeline.storage import Storage

DEMO_EVENTS = 3000
DEMO_FAULTS = {"duplicate_share": 0.02, "late_share": 0.02, "malformed_share": 0.01}
FUNNEL_QUERY = "clickstream_funnel_by_hour.sql"


def run_clickstream_demo(config: Config, spark: SparkSession, storage: Storage, step_prefix: str = "") -> dict:
    """Needs the services up and the curated catalogue (partition_raw); returns headline figures."""
    from fashion_pipeline.catalog.local_query import run_athena_sql
    from fashion_pipeline.clickstream.faults import FaultShares
    from fashion_pipeline.clickstream.producer import produce_clicks
    from fashion_pipeline.pipelines.stream_clickstream import run_stream_clickstream

    with demo_step(f"{step_prefix}a. fashion clicks produce --events {DEMO_EVENTS} (shoppers from the taste model, with faults)"):
        for line in forget_checkpoints_of_an_older_stream(config):
            say(line)
        faults = FaultShares(late_minutes=config.clickstream.late_minutes, **DEMO_FAULTS)
        produced = produce_clicks(config, rate=0, events=DEMO_EVENTS, faults=faults)
        say(produced.summary())

    with demo_step(f"{step_prefix}b. fashion clicks stream --until-idle (Structured Streaming from Kinesis into the lake)"):
        streamed = run_stream_clickstream(spark, config, storage, until_idle=True, trigger_seconds=0)
        say(streamed.summary())

    with demo_step(f"{step_prefix}c. analyst query sql/analyst/{FUNNEL_QUERY}, run locally by DuckDB"):
        sql = resources.files("fashion_pipeline").joinpath("sql", "analyst", FUNNEL_QUERY).read_text(encoding="utf-8")
        say(run_athena_sql(config, sql).to_string(index=False))
    return {"produced": DEMO_EVENTS, "records_in": streamed.records_in, "curated": streamed.curated,
            "quarantined": streamed.quarantined, "duplicates_dropped": streamed.duplicates_dropped,
            "reconciles": streamed.reconciles}


def forget_checkpoints_of_an_older_stream(config: Config) -> list[str]:
    """The demo's streaming checkpoints that were started before the stream was created, removed.

    moto keeps streams in memory: after `fashion services down` and up, the clickstream is a new,
    empty stream, and a checkpoint's positions belong to the one that is gone (the job would wait
    for records past them and read nothing). The demo runs on the local lake only, so the time a
    checkpoint was started is its `metadata` file's."""
    from fashion_pipeline.aws import aws_client

    summary = aws_client("kinesis", config).describe_stream_summary(StreamName=config.names.clickstream_stream)
    created = summary["StreamDescriptionSummary"]["StreamCreationTimestamp"].timestamp()
    checkpoints = Path(config.paths.lake("_checkpoints"))
    lines = []
    for metadata in sorted(checkpoints.glob("stream_*/**/metadata")):
        is_query_root = metadata.is_file() and (metadata.parent / "offsets").is_dir()
        if is_query_root and metadata.stat().st_mtime < created:
            shutil.rmtree(metadata.parent)
            lines.append(f"checkpoint {metadata.parent} was started before the stream was created "
                         f"({datetime.fromtimestamp(created):%Y-%m-%d %H:%M:%S}): removed, the job starts over")
    return lines
