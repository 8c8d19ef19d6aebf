"""Real-time trending: which articles the website's shoppers are suddenly more interested in.

Each click counts its type's weight (the real-time rule's `realtime.event_weights`: a view 1, an
add-to-cart 3, a removal -1, ...). Per article, the weights are summed over sliding windows of
event time; a closed window is compared with the article's usual weight per window of the same
length, taken from the lake's clicks of the previous days:

    lift = (weight + prior) / (usual + prior)

The prior keeps a handful of clicks on a rarely seen article from looking like a landslide. The
top movers of each window (at least `min_events` clicks) are its trending list.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fashion_pipeline.schemas import TRENDING_ARTICLES_SCHEMA


def with_event_weight(events_df: DataFrame, weights: Mapping[str, float]) -> DataFrame:
    """`weight`: how much an event says about interest in its article (0 for other types)."""
    weight_by_type = F.create_map(*[F.lit(x) for pair in sorted(weights.items()) for x in pair])
    return events_df.withColumn("weight", F.coalesce(weight_by_type[F.col("event_type")], F.lit(0.0)))


def windowed_article_weights(weighted_df: DataFrame, window_s: int, slide_s: int, watermark_s: int) -> DataFrame:
    """window_start, window_end, article_id, weight, events: per sliding window of event time.
    Streaming in append mode, a window is emitted once, complete, when the watermark passes its end."""
    window = F.window("event_time", f"{window_s} seconds", f"{slide_s} seconds")
    return (
        weighted_df.withWatermark("event_time", f"{watermark_s} seconds")
        .groupBy(window.alias("window"), "article_id")
        .agg(F.sum("weight").alias("weight"), F.count(F.lit(1)).alias("events"))
        .select(F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"),
                "article_id", "weight", "events")
    )


def usual_window_weights(weighted_df: DataFrame, since: datetime, until: datetime, window_s: int) -> DataFrame:
    """article_id, usual_weight: an article's average weight per window over [since, until)."""
    windows = max((until - since).total_seconds() / window_s, 1.0)
    return (
        weighted_df.filter((F.col("event_time") >= F.lit(since)) & (F.col("event_time") < F.lit(until)))
        .groupBy("article_id").agg((F.sum("weight") / F.lit(windows)).alias("usual_weight"))
    )


def rank_trending(window_weights_df: DataFrame, usual_df: DataFrame, prior: float, min_events: int,
                  top_n: int) -> DataFrame:
    """TRENDING_ARTICLES_SCHEMA: the top movers of every window in `window_weights_df`."""
    by_lift = Window.partitionBy("window_end").orderBy(F.col("lift").desc(), F.col("weight").desc(), "article_id")
    return (
        window_weights_df.filter(F.col("events") >= min_events)
        .join(F.broadcast(usual_df), on="article_id", how="left")
        .withColumn("usual_weight", F.coalesce("usual_weight", F.lit(0.0)).cast("double"))
        .withColumn("lift", (F.col("weight") + F.lit(prior)) / (F.col("usual_weight") + F.lit(prior)))
        .withColumn("rank", F.row_number().over(by_lift))
        .filter(F.col("rank") <= top_n)
        .withColumn("window_date", F.to_date("window_end"))
        .select(*[F.col(f.name).cast(f.dataType) for f in TRENDING_ARTICLES_SCHEMA.fields])
    )
