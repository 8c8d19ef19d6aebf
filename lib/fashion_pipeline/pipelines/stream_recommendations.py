"""stream_recommendations: real-time recommendations and trending articles, refreshed from the
clickstream by Spark Structured Streaming (the Lambda function is the other, faster path on the
same stream; both write the same items through `realtime/store.py`).

    spark-submit jobs/stream_recommendations.py --env emr          # runs until stopped
    fashion realtime stream --until-idle                           # in this process, locally

Two queries on the clickstream, each with its own checkpoint under `_checkpoints/stream_recommendations/`:

- `realtime_recommendations`: valid click events keyed by shopper (the customer id, or the session
  id of a guest) update a ring of recent events per shopper in Spark's state
  (`applyInPandasWithState`, realtime/state.py; it expires `realtime.ttl_s` after the newest click, in event time).
  Shoppers whose ring changed in a micro-batch are rescored by the shared rule on the executors,
  with the nightly lists, item neighbours and trending list read by BatchGetItem, and written to
  `names.realtime_recommendations_table` only if no item of a newer event is there already (the
  Lambda may have written a fresher one). Items carry `expires_at`.
- `trending_articles`: weighted clicks per article over sliding windows of event time
  (`realtime.trending_window_s` long, every `trending_slide_s`); each window, once closed, is
  ranked against the articles' usual weight (the lake's clicks of the previous
  `trending_baseline_days`), its top movers written to `names.trending_table` (conditional on the
  window's end) and appended to the lake (`analytics/trending_articles`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.streaming.state import GroupStateTimeout

from fashion_pipeline.config import Config
from fashion_pipeline.jobs import add_streaming_run_options
from fashion_pipeline.lake import write_table
from fashion_pipeline.lakefs import delete_path, path_exists, publish_files
from fashion_pipeline.realtime.frames import EVENT_STRUCT
from fashion_pipeline.realtime.settings import RealtimeSettings
from fashion_pipeline.realtime.state import (
    CHANGED_RINGS_SCHEMA,
    REFRESH_OUTCOMES_SCHEMA,
    RING_STATE_SCHEMA,
    RingSettings,
    refresh_partition,
    update_ring,
)
from fashion_pipeline.realtime.store import write_trending
from fashion_pipeline.schemas import REJECT_REASON
from fashion_pipeline.storage import Storage
from fashion_pipeline.streaming.lifecycle import run_queries
from fashion_pipeline.tables import CLICKSTREAM_TABLE, TRENDING_ARTICLES_TABLE, read_clickstream, staging_uri
from fashion_pipeline.transforms.clickstream import EVENT, flag_click_records
from fashion_pipeline.transforms.trending import (
    rank_trending,
    usual_window_weights,
    windowed_article_weights,
    with_event_weight,
)

JOB = "stream_recommendations"
RECOMMENDATIONS_QUERY, TRENDING_QUERY = "realtime_recommendations", "trending_articles"


def add_arguments(parser) -> None:
    add_streaming_run_options(parser, "stop after N micro-batches of each query (default: run until stopped)")


def checkpoint_uri(config: Config, query: str) -> str:
    return config.paths.lake("_checkpoints", JOB, query)


def valid_click_events(records_df: DataFrame, config: Config) -> DataFrame:
    """The contract-valid events of the stream, parsed, with the shopper's key."""
    return (
        flag_click_records(records_df, config.clickstream.max_event_bytes)
        .filter(F.col(REJECT_REASON).isNull())
        .select(f"{EVENT}.*")
        .withColumn("shopper_key", F.coalesce("customer_id", "session_id"))
    )


# ---------------------------------------------------------------------------------- rings
@dataclass
class RefreshTotals:
    batches: int = 0
    shoppers_by_status: dict[str, int] = field(default_factory=dict)


class RealtimeListsWriter:
    """foreachBatch of the changed rings: rescore and write from the executors."""

    def __init__(self, settings: RealtimeSettings):
        self._settings = settings
        self.totals = RefreshTotals()

    def __call__(self, changed_df: DataFrame, batch_id: int) -> None:
        settings = self._settings
        outcomes = changed_df.mapInPandas(lambda frames: refresh_partition(frames, settings), REFRESH_OUTCOMES_SCHEMA)
        # One row per outcome status: a handful of rows.
        for row in outcomes.groupBy("status").agg(F.sum("shoppers").alias("shoppers")).collect():
            self.totals.shoppers_by_status[row["status"]] = self.totals.shoppers_by_status.get(row["status"], 0) + row["shoppers"]
        self.totals.batches += 1


def changed_rings(events_df: DataFrame, settings: RealtimeSettings, watermark_delay_s: int) -> DataFrame:
    """shopper_key, events: the rings a micro-batch changed (Spark keeps each shopper's ring)."""
    ring = RingSettings.from_settings(settings)
    event = F.struct("event_id", "event_type", "article_id", F.unix_millis("event_time").alias("event_time_ms"))
    # Rings expire in event time (ttl_s after the shopper's newest click, by the watermark): a
    # processing-time timeout would make Spark run a batch after every batch, forever.
    keyed = (
        events_df.withWatermark("event_time", f"{watermark_delay_s} seconds")
        .select("shopper_key", event.cast(EVENT_STRUCT).alias("event"), "event_time")
        .select("shopper_key", "event.*", "event_time")  # the watermark's column stays
    )
    return keyed.groupBy("shopper_key").applyInPandasWithState(
        lambda key, frames, state: update_ring(key, frames, state, ring),
        outputStructType=CHANGED_RINGS_SCHEMA, stateStructType=RING_STATE_SCHEMA, outputMode="update",
        timeoutConf=GroupStateTimeout.EventTimeTimeout,
    )


# ---------------------------------------------------------------------------------- trending
@dataclass
class TrendingTotals:
    windows: int = 0
    last_window_end: str | None = None


class TrendingPublisher:
    """foreachBatch of closed windows: rank them, append the lake, publish the newest list."""

    def __init__(self, config: Config, settings: RealtimeSettings, usual_df: DataFrame):
        self._config, self._settings, self._usual_df = config, settings, usual_df
        self.totals = TrendingTotals()

    def __call__(self, windows_df: DataFrame, batch_id: int) -> None:
        realtime = self._config.realtime
        ranked_df = rank_trending(windows_df, self._usual_df, realtime.trending_prior_weight,
                                  realtime.trending_min_events, realtime.trending_top_n).persist()
        try:
            newest = ranked_df.agg(F.max("window_end").alias("end"), F.countDistinct("window_end").alias("windows")).first()
            if newest["end"] is None:
                return
            # Staged, then moved in under the batch's name: a replayed batch replaces its own rows.
            spark = windows_df.sparkSession
            staged = staging_uri(self._config, JOB, f"trending-batch={batch_id:012d}")
            delete_path(spark, staged)
            write_table(ranked_df.repartition(*TRENDING_ARTICLES_TABLE.partition_keys), staged,
                        TRENDING_ARTICLES_TABLE.partition_keys)
            publish_files(spark, staged, TRENDING_ARTICLES_TABLE.uri(self._config), f"batch-{batch_id:012d}")
            delete_path(spark, staged)
            # The newest window's list: at most trending_top_n rows.
            top = ranked_df.filter(F.col("window_end") == F.lit(newest["end"])).orderBy("rank").collect()
            window_end_ms = int(newest["end"].replace(tzinfo=timezone.utc).timestamp() * 1000)
            write_trending(self._settings.client(), self._settings, [(r["article_id"], r["lift"]) for r in top],
                           window_end_ms, time.time())
            self.totals.windows += newest["windows"]
            self.totals.last_window_end = newest["end"].isoformat()
        finally:
            ranked_df.unpersist()


def usual_weights(spark: SparkSession, config: Config) -> DataFrame:
    """article_id, usual_weight from the lake's clicks of the previous days (empty without any)."""
    realtime = config.realtime
    until = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    since = until - timedelta(days=realtime.trending_baseline_days)
    if not path_exists(spark, CLICKSTREAM_TABLE.uri(config)):
        return spark.createDataFrame([], "article_id string, usual_weight double")
    days = [since.date() + timedelta(days=n) for n in range((until.date() - since.date()).days + 1)]
    clicks_df = read_clickstream(spark, config, days)
    weighted_df = with_event_weight(clicks_df, realtime.event_weights)
    return usual_window_weights(weighted_df, since, until, realtime.trending_window_s).cache()


# ---------------------------------------------------------------------------------- the job
@dataclass
class StreamRecommendationsReport:
    batches: int = 0
    shoppers_by_status: dict[str, int] = field(default_factory=dict)
    trending_windows: int = 0
    last_trending_window_end: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        statuses = ", ".join(f"{s}={n:,}" for s, n in sorted(self.shoppers_by_status.items())) or "none"
        return (f"stream_recommendations: {self.batches} micro-batch(es); shoppers rescored: {statuses}; "
                f"{self.trending_windows} trending window(s) published"
                + (f", the newest ending {self.last_trending_window_end}" if self.last_trending_window_end else "")
                + f" ({self.seconds:.1f} s)")


def start_queries(spark: SparkSession, config: Config, trigger_seconds: float) -> tuple[list[StreamingQuery], RealtimeListsWriter, TrendingPublisher]:
    from fashion_pipeline.streaming import read_kinesis

    settings = RealtimeSettings.from_config(config)
    realtime = config.realtime
    trigger = {"processingTime": f"{trigger_seconds} seconds"}

    lists_writer = RealtimeListsWriter(settings)
    events_df = valid_click_events(read_kinesis(spark, config, checkpoint_uri(config, RECOMMENDATIONS_QUERY)), config)
    lists_query = (
        changed_rings(events_df, settings, config.streaming.watermark_delay_s).writeStream.queryName(RECOMMENDATIONS_QUERY).outputMode("update")
        .foreachBatch(lists_writer).option("checkpointLocation", checkpoint_uri(config, RECOMMENDATIONS_QUERY))
        .trigger(**trigger).start()
    )
    publisher = TrendingPublisher(config, settings, usual_weights(spark, config))
    trending_events_df = valid_click_events(read_kinesis(spark, config, checkpoint_uri(config, TRENDING_QUERY)), config)
    windows_df = windowed_article_weights(with_event_weight(trending_events_df, realtime.event_weights),
                                          realtime.trending_window_s, realtime.trending_slide_s,
                                          realtime.trending_watermark_s)
    trending_query = (
        windows_df.writeStream.queryName(TRENDING_QUERY).outputMode("append").foreachBatch(publisher)
        .option("checkpointLocation", checkpoint_uri(config, TRENDING_QUERY)).trigger(**trigger).start()
    )
    return [lists_query, trending_query], lists_writer, publisher


def run_stream_recommendations(
    spark: SparkSession, config: Config, storage: Storage, batches: int | None = None, until_idle: bool = False,
    trigger_seconds: float | None = None,
) -> StreamRecommendationsReport:
    from fashion_pipeline.realtime.store import ensure_realtime_tables

    started = time.monotonic()
    settings = RealtimeSettings.from_config(config)
    ensure_realtime_tables(settings.client(), settings)
    trigger = trigger_seconds if trigger_seconds is not None else config.streaming.trigger_seconds
    queries, lists_writer, publisher = start_queries(spark, config, trigger)
    run_queries(queries, until_idle,
                (lambda: lists_writer.totals.batches >= batches) if batches is not None else None)
    return StreamRecommendationsReport(
        batches=lists_writer.totals.batches, shoppers_by_status=dict(lists_writer.totals.shoppers_by_status),
        trending_windows=publisher.totals.windows, last_trending_window_end=publisher.totals.last_window_end,
        seconds=time.monotonic() - started,
    )
