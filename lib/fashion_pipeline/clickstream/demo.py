"""The clickstream in `make demo`: a burst of simulated clicks (with a few duplicates, late events
and malformed records) into Kinesis, the streaming job until the stream is read, then what landed
in the lake and the hourly funnel an analyst would query in Athena."""
from __future__ import annotations

from importlib import resources

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
