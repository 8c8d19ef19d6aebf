"""What the nightly job serves each customer: the strategy chosen on the validation week (the
learned ranker, or the best single strategy) where there is history, the popular articles of the
customer's segment where there is none; and where a model version's files live."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config, RecsConfig
from fashion_pipeline.recs import signals
from fashion_pipeline.recs.metrics import actual_purchases, average_precision_column
from fashion_pipeline.recs.model import (
    COLD_START_STRATEGIES,
    RecommenderFit,
    factors_version,
    fit_recommender,
    score_users,
)
from fashion_pipeline.recs.ranker_training import RankerOutcome, train_ranker
from fashion_pipeline.recs.scoring import REASON_POPULAR
from fashion_pipeline.schemas import RECOMMENDED_ITEM
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import CUSTOMERS_TABLE, TRANSACTIONS_TABLE, read_lake_table

ITEM_STRUCT = f"array<{RECOMMENDED_ITEM.simpleString()}>"
MODELS = "recs/models"
FACTORS = "recs/factors"


def model_uri(config: Config, version: str) -> str:
    """A model version's model.json and ranker.json."""
    return config.paths.lake(MODELS, f"version={version}")


def factors_uri(config: Config, version: str) -> str:
    """The ALS factors and id indexes of one day and ALS parameters (model.factors_version),
    shared by the nightly run, the ranker's training a week later and the evaluation."""
    return config.paths.lake(FACTORS, f"version={version}")


def fit_for_serving(
    spark: SparkSession, config: Config, storage: Storage, transactions_df: DataFrame, customers_df: DataFrame,
    as_of: date, recs: RecsConfig,
) -> tuple[RecommenderFit, RankerOutcome | None]:
    """The recommender of `as_of` as the nightly job serves it: ALS and signals up to `as_of`,
    and (recs.ranker_enabled) the ranker trained on the week before and the strategy it chose."""
    started = time.perf_counter()
    fit = fit_recommender(
        spark, transactions_df, customers_df, as_of, recs, factors_uri(config, factors_version(as_of, recs)),
        checkpoint_uri=als_checkpoint_uri(config), storage=storage,
    )
    if not recs.ranker_enabled:
        return fit, None
    fitted = time.perf_counter()
    features_day = as_of - timedelta(days=label_window_days(transactions_df, as_of, recs))
    fit_before = fit_recommender(
        spark, transactions_df, customers_df, features_day, recs,
        factors_uri(config, factors_version(features_day, recs)), checkpoint_uri=als_checkpoint_uri(config),
        storage=storage,
    )
    fitted_before = time.perf_counter()
    outcome = train_ranker(spark, fit_before, transactions_df, features_day + timedelta(days=1), as_of, recs)
    outcome.cold_start_served, outcome.cold_start_map_at_12 = choose_cold_start(
        fit_before, transactions_df, customers_df, features_day + timedelta(days=1), as_of)
    # Where the fit's time went (the serving pass itself runs later, when the lists are written).
    outcome.phase_seconds = {
        "fit_run_date": round(fitted - started, 1),
        "fit_features_day": round(fitted_before - fitted, 1),
        "ranker_and_cold_start": round(time.perf_counter() - fitted_before, 1),
    }
    fit = replace(fit, cold_start_served=outcome.cold_start_served)
    return fit.with_context(ranker=outcome.model, served=outcome.served), outcome


def label_window_days(transactions_df: DataFrame, as_of: date, recs: RecsConfig) -> int:
    """recs.ranker_label_days, doubled while the window up to `as_of` has too few buyers."""
    days = recs.ranker_label_days
    while days < recs.ranker_max_label_days:
        window_df = signals.filter_days(transactions_df, signals.window_start(as_of, days), as_of)
        if window_df.select("customer_id").distinct().count() >= recs.ranker_min_label_buyers:
            break
        days = min(2 * days, recs.ranker_max_label_days)
    return days


def als_checkpoint_uri(config: Config) -> str:
    return config.paths.lake("_checkpoints", "als")


def read_sales_and_customers(spark: SparkSession, config: Config) -> tuple[DataFrame, DataFrame]:
    """The curated H&M transactions and customers the recommender learns from."""
    return read_lake_table(spark, config, TRANSACTIONS_TABLE), read_lake_table(spark, config, CUSTOMERS_TABLE)


def recommend_all(spark: SparkSession, fit: RecommenderFit, customers_df: DataFrame) -> DataFrame:
    """customer_id, items, cold_start for every customer: the served strategy where there is
    history, the segment's popular articles where there is none."""
    warm_df = score_users(spark, fit, served_only=True).select(
        "customer_id",
        F.arrays_zip(
            F.col("item_ids").alias("article_id"), F.col("item_scores").alias("score"),
            F.col("item_reasons").alias("reason"),
        ).cast(ITEM_STRUCT).alias("items"),
        F.lit(False).alias("cold_start"),
    )
    cold_df = cold_start_recommendations(
        customers_df.join(fit.user_factors_df, on="customer_id", how="left_anti"), fit
    ).withColumn("cold_start", F.lit(True))
    return warm_df.unionByName(cold_df)


def cold_start_recommendations(customers_df: DataFrame, fit: RecommenderFit) -> DataFrame:
    """customer_id, items for customers without history: the popular articles of each customer's
    segment, or (fit.cold_start_served) one list for all when that did better on the validation week."""
    constant = constant_list(fit, fit.cold_start_served)
    if constant is not None:
        items = F.array(*[
            F.struct(F.lit(article).alias("article_id"), F.lit(round(1.0 - position / fit.recs.top_k, 6)).alias("score"),
                     F.lit(REASON_POPULAR).alias("reason"))
            for position, article in enumerate(constant)
        ]).cast(ITEM_STRUCT)
        return customers_df.select("customer_id", items.alias("items"))
    segment_lists = fit.segment_popular_df.groupBy("segment").agg(
        F.transform(
            F.sort_array(F.collect_list(F.struct("rank", "article_id", "score"))),
            lambda item: F.struct(
                item["article_id"].alias("article_id"), item["score"].alias("score"),
                F.lit(REASON_POPULAR).alias("reason"),
            ),
        ).cast(ITEM_STRUCT).alias("items")
    )
    return (
        signals.with_segment(customers_df, fit.recs.age_band_edges)
        .join(F.broadcast(segment_lists), on="segment", how="left")
        .select("customer_id", F.coalesce("items", F.array().cast(ITEM_STRUCT)).alias("items"))
    )


def constant_list(fit: RecommenderFit, strategy: str) -> list[str] | None:
    """The article ids of a strategy that gives everyone the same list (None for the segment's)."""
    context = fit.context
    if strategy == "trending":
        return context.article_ids[context.trending].tolist()
    if strategy == "popular_last_week" and context.ranking is not None:
        return context.article_ids[context.ranking.popular[: context.k]].tolist()
    return None


def choose_cold_start(
    fit_before: RecommenderFit, transactions_df: DataFrame, customers_df: DataFrame, first_label_day: date,
    last_label_day: date,
) -> tuple[str, dict[str, float]]:
    """Which list customers without history get: the one with the best MAP@12 for the label
    window's buyers who had no history on its eve (the segment's when none bought)."""
    actual_df = actual_purchases(signals.filter_days(transactions_df, first_label_day, last_label_day))
    cold_df = actual_df.join(fit_before.user_factors_df.select("customer_id"), on="customer_id", how="left_anti")
    cold_customers_df = customers_df.join(cold_df, on="customer_id", how="left_semi")
    maps = {}
    for strategy in COLD_START_STRATEGIES:
        lists_df = cold_start_recommendations(cold_customers_df, replace(fit_before, cold_start_served=strategy))
        row = (cold_df.join(lists_df, on="customer_id", how="inner")
               .agg(F.avg(average_precision_column(F.col("actual"), F.col("items.article_id"))).alias("map"))
               .first())  # one row
        maps[strategy] = round(float(row["map"] or 0.0), 6)
    best = max(COLD_START_STRATEGIES, key=lambda name: (maps[name], -COLD_START_STRATEGIES.index(name)))
    return best, maps
