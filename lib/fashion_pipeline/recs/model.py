"""Fitting the recommender for one day: indexes, ALS, signals and the scoring context.

`fit_recommender` is shared by the nightly job and the evaluation, so what is evaluated is what
is served. It writes the id indexes under `model_uri` and reads them back, which pins each id's
integer for the factors written beside them (and keeps Spark from recomputing the indexing).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import RecsConfig, join_uri
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.recs import signals
from fashion_pipeline.recs.ranker import RankingArrays, nearest_candidates, unit_rows
from fashion_pipeline.recs.scoring import (
    NEIGHBORS_SCHEMA,
    SCORED_USERS_SCHEMA,
    BlendWeights,
    ScoringContext,
    neighbor_batches,
    score_user_batches,
    top_k_columns,
)
from fashion_pipeline.storage import Storage

MAX_REPURCHASE_ITEMS = 24
# Scoring tasks per core: enough that one slow block of heavy users cannot hold up the stage.
SCORING_PARTITIONS_PER_CORE = 4
# Parameters that change what the model recommends; the model version is derived from them.
VERSIONED_PARAMETERS = (
    "history_days", "decay_half_life_days", "rank", "reg_param", "alpha", "max_iter", "seed",
    "top_k", "candidate_days", "max_candidates", "trending_half_life_days", "repurchase_days",
    "repurchase_half_life_days", "als_weight", "popularity_weight", "repurchase_weight",
    "age_band_edges", "neighbors_k", "ranker_enabled", "ranker_label_days", "ranker_min_label_buyers", "ranker_max_label_days",
    "ranker_als_candidates", "ranker_neighbour_seeds",
    "ranker_neighbours_per_seed", "ranker_history_items", "ranker_trees", "ranker_depth", "ranker_step_size",
    "ranker_negatives_per_customer", "ranker_max_train_customers", "ranker_validation_fraction",
)
# The ALS factors depend on these alone: a night's factors are reused by the ranker's training a
# week later (and by the evaluation) when they match.
FACTOR_PARAMETERS = ("history_days", "decay_half_life_days", "rank", "reg_param", "alpha", "max_iter", "seed")
FACTORS_MARKER = "_factors.json"
# What customers without history can be given; the nightly job picks one on the validation week.
COLD_START_STRATEGIES = ("segment_popular", "trending", "popular_last_week")


class TooManyItemsError(PipelineError):
    """The catalogue is larger than the scoring context may hold on each executor."""


class NoInteractionsError(PipelineError):
    """There is nothing to train on up to the run date."""


def _digest(recs: RecsConfig, names: tuple[str, ...]) -> str:
    parameters = {name: getattr(recs, name) for name in names}
    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:8]


def model_version(as_of: date, recs: RecsConfig) -> str:
    """`YYYYMMDD-<8 hex>`: the same day and parameters always give the same version."""
    return f"{as_of:%Y%m%d}-{_digest(recs, VERSIONED_PARAMETERS)}"


def factors_version(as_of: date, recs: RecsConfig) -> str:
    """`YYYYMMDD-<8 hex>` of the ALS factors: the same day and ALS parameters, the same factors."""
    return f"{as_of:%Y%m%d}-{_digest(recs, FACTOR_PARAMETERS)}"


@dataclass
class RecommenderFit:
    as_of: date
    version: str
    recs: RecsConfig
    user_factors_df: DataFrame  # customer_id, user_index, features
    item_factors_df: DataFrame  # article_id, item_index, features
    repurchase_df: DataFrame  # customer_id, rep_items, rep_scores
    segment_popular_df: DataFrame  # segment, rank, article_id, score
    context: ScoringContext
    interactions: int
    factors_reused: bool = False
    # The ranker's inputs (recs.ranker_enabled): customer_id, hist_items, hist_units, hist_days,
    # log_mean_price, segment_index.
    user_history_df: DataFrame | None = None
    cold_start_served: str = COLD_START_STRATEGIES[0]

    @property
    def n_candidates(self) -> int:
        return len(self.context.candidates)

    def with_context(self, **changes) -> RecommenderFit:
        return replace(self, context=replace(self.context, **changes))


def fit_recommender(
    spark: SparkSession,
    transactions_df: DataFrame,
    customers_df: DataFrame,
    as_of: date,
    recs: RecsConfig,
    factors_uri: str,
    checkpoint_uri: str | None = None,
    storage: Storage | None = None,
) -> RecommenderFit:
    """Train on the sales of the `history_days` up to `as_of` (inclusive) and prepare scoring.

    The id indexes and factors are written under `factors_uri`, then a marker; with `storage`
    given, factors already committed there (same day, same ALS parameters) are read instead of
    trained again."""
    history_df = signals.filter_days(transactions_df, signals.window_start(as_of, recs.history_days), as_of)
    interactions_df = signals.to_interactions(history_df, as_of, recs.decay_half_life_days)
    marker_uri = join_uri(factors_uri, FACTORS_MARKER)
    reused = storage is not None and storage.exists(marker_uri)
    if reused:
        interactions = int(json.loads(storage.read_text(marker_uri))["interactions"])
    else:
        interactions = _train_and_write_factors(spark, interactions_df, as_of, recs, factors_uri, checkpoint_uri)
        if storage is not None:
            storage.write_text(marker_uri, json.dumps({"as_of": as_of.isoformat(), "interactions": interactions}))

    article_index_df = read_table(spark, join_uri(factors_uri, "article_index"))
    user_factors_df = read_table(spark, join_uri(factors_uri, "user_factors"))
    item_factors_df = read_table(spark, join_uri(factors_uri, "item_factors"))
    n_items = article_index_df.count()

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
    segment_popular_df = signals.segment_popular(
        recent_df, segments_df, as_of, recs.trending_half_life_days, recs.top_k
    )
    fit = RecommenderFit(
        as_of=as_of, version=model_version(as_of, recs), recs=recs,
        user_factors_df=user_factors_df, item_factors_df=item_factors_df, repurchase_df=repurchase_df,
        segment_popular_df=segment_popular_df, context=context, interactions=interactions, factors_reused=reused,
    )
    if recs.ranker_enabled:
        fit = _with_ranking_inputs(fit, transactions_df, interactions_df, article_index_df, segments_df, recent_df)
    return fit


def _train_and_write_factors(
    spark: SparkSession, interactions_df: DataFrame, as_of: date, recs: RecsConfig, factors_uri: str,
    checkpoint_uri: str | None,
) -> int:
    """Index the ids, fit ALS and write indexes and factors; returns the number of interactions."""
    write_table(signals.build_id_index(interactions_df, "customer_id", "user_index"), join_uri(factors_uri, "user_index"))
    write_table(signals.build_id_index(interactions_df, "article_id", "item_index"), join_uri(factors_uri, "article_index"))
    user_index_df = read_table(spark, join_uri(factors_uri, "user_index"))
    article_index_df = read_table(spark, join_uri(factors_uri, "article_index"))

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
    write_table(
        user_index_df.join(model.userFactors.withColumnRenamed("id", "user_index"), on="user_index", how="inner")
        .select("customer_id", "user_index", "features"),
        join_uri(factors_uri, "user_factors"),
    )
    write_table(
        article_index_df.join(model.itemFactors.withColumnRenamed("id", "item_index"), on="item_index", how="inner")
        .select("article_id", "item_index", "features"),
        join_uri(factors_uri, "item_factors"),
    )
    return user_index_df.join(interactions_df, on="customer_id", how="inner").count()


def _with_ranking_inputs(
    fit: RecommenderFit, transactions_df: DataFrame, interactions_df: DataFrame, article_index_df: DataFrame,
    segments_df: DataFrame, recent_df: DataFrame,
) -> RecommenderFit:
    """Add the ranker's item arrays to the context and its per-customer history to the fit.

    What reaches the driver is bounded by the catalogue (one row per article, per segment and
    candidate, or per segment's top k), like the item factors of build_context."""
    recs, as_of, context = fit.recs, fit.as_of, fit.context
    n_items = len(context.article_ids)
    indexed_df = interactions_df.join(article_index_df, on="article_id", how="inner")
    last_week_df = signals.filter_days(transactions_df, signals.window_start(as_of, recs.popular_days), as_of)
    units_df = signals.trending_articles(last_week_df, as_of, 1.0).select("article_id", "units")
    items = (
        signals.article_statistics(indexed_df, as_of)
        .join(article_index_df.join(units_df, on="article_id", how="left"), on="item_index", how="inner")
        .select("item_index", "days_since_release", "mean_price", F.coalesce("units", F.lit(0)).alias("units"))
        .toPandas()
    )
    days_since_release = np.full(n_items, float(recs.history_days))
    log_price = np.zeros(n_items)
    popularity = np.zeros(n_items)
    index = items["item_index"].to_numpy(dtype=np.int64)
    days_since_release[index] = items["days_since_release"].to_numpy(dtype=np.float64)
    log_price[index] = np.log(np.maximum(items["mean_price"].to_numpy(dtype=np.float64), 1e-9))
    popularity[index] = items["units"].to_numpy(dtype=np.float64)

    segment_popular = fit.segment_popular_df.join(article_index_df, on="article_id", how="inner").select(
        "segment", "rank", "item_index").toPandas()
    segment_names = sorted(set(segment_popular["segment"]))
    segment_of = {name: row for row, name in enumerate(segment_names)}
    segment_top = np.full((len(segment_names), recs.top_k), -1, dtype=np.int64)
    for segment, rank, item in segment_popular.itertuples(index=False):
        if rank <= recs.top_k:
            segment_top[segment_of[segment], rank - 1] = item

    candidate_ids = context.article_ids[context.candidates].tolist()
    by_segment = (
        signals.segment_article_units(recent_df, segments_df, as_of, recs.trending_half_life_days)
        .filter(F.col("article_id").isin(candidate_ids))
        .join(article_index_df, on="article_id", how="inner")
        .select("segment", "item_index", "trend")
        .toPandas()
    )
    segment_lift = np.zeros((len(segment_names), n_items), dtype=np.float32)
    by_segment = by_segment[by_segment["segment"].isin(segment_of)]
    if len(by_segment):
        rows = by_segment["segment"].map(segment_of).to_numpy(dtype=np.int64)
        cols = by_segment["item_index"].to_numpy(dtype=np.int64)
        trend = by_segment["trend"].to_numpy(dtype=np.float64)
        segment_total = np.bincount(rows, weights=trend, minlength=len(segment_names))
        item_total = np.bincount(cols, weights=trend, minlength=n_items)
        grand_total = trend.sum()
        # Smoothed log lift: how much more of its sales an article makes in this segment than overall.
        share_in_segment = (trend + 0.5) / (segment_total[rows] + 0.5 * len(candidate_ids))
        share_overall = (item_total[cols] + 0.5) / (grand_total + 0.5 * len(candidate_ids))
        segment_lift[rows, cols] = np.log(share_in_segment / share_overall)

    # Enough best sellers to fill k after leaving out everything a customer bought.
    popular = np.argsort(-popularity, kind="stable")[: recs.top_k + recs.ranker_history_items]
    popular = popular[popularity[popular] > 0]
    neighbours = None
    if recs.ranker_neighbour_seeds and recs.ranker_neighbours_per_seed:
        neighbours = nearest_candidates(
            unit_rows(context.item_factors), context.candidates, np.arange(n_items), recs.ranker_neighbours_per_seed,
            top_k_columns,
        )
    arrays = RankingArrays(
        log_popularity=np.log1p(popularity), log_days_since_release=np.log1p(np.maximum(days_since_release, 0.0)),
        log_price=log_price, segment_lift=segment_lift, segment_top=segment_top, popular=popular.astype(np.int64),
        als_candidates=recs.ranker_als_candidates, neighbour_seeds=recs.ranker_neighbour_seeds,
        neighbours_per_seed=recs.ranker_neighbours_per_seed, neighbours=neighbours,
    )
    spark = transactions_df.sparkSession
    segment_index_df = spark.createDataFrame(
        [(name, row) for name, row in segment_of.items()], "segment string, segment_index long"
    )
    user_history_df = (
        signals.user_history(indexed_df, as_of, recs.ranker_history_items)
        .join(segments_df.join(F.broadcast(segment_index_df), on="segment", how="inner")
              .select("customer_id", "segment_index"), on="customer_id", how="left")
    )
    fit = fit.with_context(ranking=arrays, history_days=recs.history_days)
    return replace(fit, user_history_df=user_history_df)


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
        history_days=recs.history_days,
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


def scoring_inputs(fit: RecommenderFit, customers_df: DataFrame | None = None) -> DataFrame:
    """What score_user_batches reads for every customer with history (or those of `customers_df`)."""
    users_df = fit.user_factors_df
    if customers_df is not None:
        users_df = users_df.join(customers_df.select("customer_id").distinct(), on="customer_id", how="left_semi")
    users_df = users_df.join(fit.repurchase_df, on="customer_id", how="left")
    columns = ["customer_id", "features", "rep_items", "rep_scores"]
    if fit.user_history_df is not None:
        users_df = users_df.join(fit.user_history_df, on="customer_id", how="left")
        columns += [c for c in fit.user_history_df.columns if c != "customer_id"]
    # Without an explicit count, adaptive execution coalesces these few narrow columns into as
    # many partitions as it likes (one per core or fewer), and the per-user scoring that follows,
    # far heavier than the rows suggest, then runs in a handful of straggling tasks.
    partitions = users_df.sparkSession.sparkContext.defaultParallelism * SCORING_PARTITIONS_PER_CORE
    return users_df.select(*columns).repartition(partitions, "customer_id")


def score_users(
    spark: SparkSession, fit: RecommenderFit, customers_df: DataFrame | None = None, served_only: bool = False
) -> DataFrame:
    """SCORED_USERS_SCHEMA for every customer with history (or those of `customers_df`);
    `served_only`: only item_ids, item_scores and item_reasons are filled (the other lists are
    empty), for the nightly write, which serves one list and compares none."""
    context = spark.sparkContext.broadcast(fit.context)

    def score(batches):
        return score_user_batches(batches, context.value, served_only)

    return scoring_inputs(fit, customers_df).mapInPandas(score, SCORED_USERS_SCHEMA)


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
