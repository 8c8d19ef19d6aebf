"""Fitting the recommender for one day: indexes, ALS, signals and the scoring context.

`fit_recommender` is shared by the nightly job and the evaluation, so what is evaluated is what
is served. It writes the id indexes under `model_uri` and reads them back, which pins each id's
integer for the factors written beside them (and keeps Spark from recomputing the indexing).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

import numpy as np
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import RecsConfig, join_uri
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.recs import signals
from fashion_pipeline.recs.scoring import (
    NEIGHBORS_SCHEMA,
    SCORED_USERS_SCHEMA,
    BlendWeights,
    ScoringContext,
    neighbor_batches,
    score_user_batches,
)

MAX_REPURCHASE_ITEMS = 24
# Parameters that change what the model recommends; the model version is derived from them.
VERSIONED_PARAMETERS = (
    "history_days", "decay_half_life_days", "rank", "reg_param", "alpha", "max_iter", "seed",
    "top_k", "candidate_days", "max_candidates", "trending_half_life_days", "repurchase_days",
    "repurchase_half_life_days", "als_weight", "popularity_weight", "repurchase_weight",
    "age_band_edges", "neighbors_k",
)


class TooManyItemsError(PipelineError):
    """The catalogue is larger than the scoring context may hold on each executor."""


class NoInteractionsError(PipelineError):
    """There is nothing to train on up to the run date."""


def model_version(as_of: date, recs: RecsConfig) -> str:
    """`YYYYMMDD-<8 hex>`: the same day and parameters always give the same version."""
    parameters = {name: getattr(recs, name) for name in VERSIONED_PARAMETERS}
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()
    return f"{as_of:%Y%m%d}-{digest[:8]}"


@dataclass
class RecommenderFit:
    as_of: date
    version: str
    recs: RecsConfig
    model: ALSModel
    user_factors_df: DataFrame  # customer_id, user_index, features
    item_factors_df: DataFrame  # article_id, item_index, features
    repurchase_df: DataFrame  # customer_id, rep_items, rep_scores
    segment_popular_df: DataFrame  # segment, rank, article_id, score
    context: ScoringContext
    interactions: int

    @property
    def n_candidates(self) -> int:
        return len(self.context.candidates)


def fit_recommender(
    spark: SparkSession,
    transactions_df: DataFrame,
    customers_df: DataFrame,
    as_of: date,
    recs: RecsConfig,
    model_uri: str,
    checkpoint_uri: str | None = None,
) -> RecommenderFit:
    """Train on the sales of the `history_days` up to `as_of` (inclusive) and prepare scoring."""
    history_df = signals.filter_days(transactions_df, signals.window_start(as_of, recs.history_days), as_of)
    interactions_df = signals.to_interactions(history_df, as_of, recs.decay_half_life_days)

    write_table(signals.build_id_index(interactions_df, "customer_id", "user_index"), join_uri(model_uri, "user_index"))
    write_table(signals.build_id_index(interactions_df, "article_id", "item_index"), join_uri(model_uri, "article_index"))
    user_index_df = read_table(spark, join_uri(model_uri, "user_index"))
    article_index_df = read_table(spark, join_uri(model_uri, "article_index"))

    indexed_df = (
        interactions_df.join(user_index_df, on="customer_id", how="inner")
        .join(article_index_df, on="article_id", how="inner")
        .select("user_index", "item_index", "weight")
    )
    n_items = article_index_df.count()
    if n_items == 0:
        raise NoInteractionsError(f"no sales in the {recs.history_days} days up to {as_of}")
    if n_items > recs.max_broadcast_items:
        raise TooManyItemsError(
            f"{n_items:,} articles exceed recs.max_broadcast_items={recs.max_broadcast_items:,}; "
            "raise it if executors have the memory (about rank * 4 bytes per article)"
        )
    model = train_als(spark, indexed_df, recs, checkpoint_uri)

    user_factors_df = user_index_df.join(
        model.userFactors.withColumnRenamed("id", "user_index"), on="user_index", how="inner"
    ).select("customer_id", "user_index", "features")
    item_factors_df = article_index_df.join(
        model.itemFactors.withColumnRenamed("id", "item_index"), on="item_index", how="inner"
    ).select("article_id", "item_index", "features")

    recent_df = signals.filter_days(transactions_df, signals.window_start(as_of, recs.candidate_days), as_of)
    trending_df = signals.trending_articles(recent_df, as_of, recs.trending_half_life_days)
    context = build_context(item_factors_df, trending_df, n_items, recs)

    repurchase_window_df = signals.filter_days(
        transactions_df, signals.window_start(as_of, recs.repurchase_days), as_of
    )
    repurchase_df = user_repurchase_lists(
        signals.repurchase_signals(repurchase_window_df, as_of, recs.repurchase_half_life_days), article_index_df
    )
    segments_df = signals.with_segment(customers_df, recs.age_band_edges)
    popular_window_df = signals.filter_days(transactions_df, signals.window_start(as_of, recs.candidate_days), as_of)
    segment_popular_df = signals.segment_popular(
        popular_window_df, segments_df, as_of, recs.trending_half_life_days, recs.top_k
    )
    return RecommenderFit(
        as_of=as_of, version=model_version(as_of, recs), recs=recs, model=model,
        user_factors_df=user_factors_df, item_factors_df=item_factors_df, repurchase_df=repurchase_df,
        segment_popular_df=segment_popular_df, context=context, interactions=indexed_df.count(),
    )


def train_als(
    spark: SparkSession, indexed_df: DataFrame, recs: RecsConfig, checkpoint_uri: str | None = None
) -> ALSModel:
    """Spark MLlib ALS on implicit feedback: confidence 1 + alpha * weight per (user, item)."""
    if checkpoint_uri:
        # Checkpoints cut the lineage of long ALS runs; without a directory Spark ignores the interval.
        spark.sparkContext.setCheckpointDir(checkpoint_uri)
    als = ALS(
        rank=recs.rank,
        maxIter=recs.max_iter,
        regParam=recs.reg_param,
        alpha=recs.alpha,
        implicitPrefs=True,
        userCol="user_index",
        itemCol="item_index",
        ratingCol="weight",
        # Users or articles unseen in training get no prediction instead of NaN: they are scored
        # by the cold-start path (segment popularity), never by ALS.
        coldStartStrategy=recs.cold_start_strategy,
        blockSize=recs.block_size,
        checkpointInterval=recs.checkpoint_interval,
        seed=recs.seed,
    )
    if recs.num_blocks:
        als = als.setNumUserBlocks(recs.num_blocks).setNumItemBlocks(recs.num_blocks)
    return als.fit(indexed_df)


def build_context(item_factors_df: DataFrame, trending_df: DataFrame, n_items: int, recs: RecsConfig) -> ScoringContext:
    """Gather the item side of scoring (bounded by the catalogue, checked by the caller)."""
    items = (
        item_factors_df.join(trending_df.select("article_id", "trend"), on="article_id", how="left")
        .select("item_index", "article_id", "features", F.coalesce("trend", F.lit(0.0)).alias("trend"))
        .toPandas()
        .sort_values("item_index")
    )
    if not np.array_equal(items["item_index"].to_numpy(), np.arange(n_items)):
        raise RuntimeError("article index is not dense 0..n-1: the index and the factors disagree")
    return context_from_arrays(
        np.stack(items["features"].to_numpy()), items["article_id"].to_numpy().astype(str),
        items["trend"].to_numpy(dtype=np.float64), recs,
    )


def context_from_arrays(item_factors: np.ndarray, article_ids: np.ndarray, trend: np.ndarray, recs: RecsConfig) -> ScoringContext:
    """Candidates are the articles that sold in the trend window, best trend first (ties by id)."""
    by_trend = np.lexsort((article_ids, -trend))
    candidates = by_trend[trend[by_trend] > 0][: recs.max_candidates]
    return ScoringContext(
        item_factors=np.asarray(item_factors, dtype=np.float32),
        article_ids=article_ids,
        log_trend=np.log1p(trend),
        candidates=candidates.astype(np.int64),
        k=recs.top_k,
        weights=BlendWeights(als=recs.als_weight, popularity=recs.popularity_weight, repurchase=recs.repurchase_weight),
        block_users=recs.scoring_block_users,
    )


def user_repurchase_lists(repurchase_df: DataFrame, article_index_df: DataFrame) -> DataFrame:
    """customer_id, rep_items, rep_scores: each customer's strongest recent purchases."""
    ranked = F.slice(
        F.sort_array(F.collect_list(F.struct(F.col("repurchase"), F.col("item_index"))), asc=False),
        1, MAX_REPURCHASE_ITEMS,
    )
    return (
        repurchase_df.join(article_index_df, on="article_id", how="inner")
        .groupBy("customer_id")
        .agg(ranked.alias("purchases"))
        .select(
            "customer_id",
            F.transform("purchases", lambda p: p["item_index"]).alias("rep_items"),
            F.transform("purchases", lambda p: p["repurchase"]).alias("rep_scores"),
        )
    )


def score_users(spark: SparkSession, fit: RecommenderFit, customers_df: DataFrame | None = None) -> DataFrame:
    """SCORED_USERS_SCHEMA for every customer with history (or those of `customers_df`)."""
    users_df = fit.user_factors_df
    if customers_df is not None:
        users_df = users_df.join(customers_df.select("customer_id").distinct(), on="customer_id", how="left_semi")
    users_df = users_df.join(fit.repurchase_df, on="customer_id", how="left").select(
        "customer_id", "features", "rep_items", "rep_scores"
    )
    context = spark.sparkContext.broadcast(fit.context)

    def score(batches):
        return score_user_batches(batches, context.value)

    return users_df.mapInPandas(score, SCORED_USERS_SCHEMA)


def item_neighbors(spark: SparkSession, fit: RecommenderFit) -> DataFrame:
    """article_id, neighbors: the neighbors_k candidates closest by cosine of item factors."""
    context = spark.sparkContext.broadcast(fit.context)
    k = fit.recs.neighbors_k

    def neighbors(batches):
        return neighbor_batches(batches, context.value, k)

    return (
        fit.item_factors_df.select("item_index", "features")
        .mapInPandas(neighbors, NEIGHBORS_SCHEMA)
        .select(
            "article_id",
            F.arrays_zip(F.col("neighbor_ids").alias("article_id"), F.col("neighbor_scores").alias("score")).alias("neighbors"),
        )
    )
