"""What the nightly job serves each customer: the blend where there is history, the popular
articles of the customer's segment where there is none; and where a model version's files live."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.recs import signals
from fashion_pipeline.recs.model import RecommenderFit, score_users
from fashion_pipeline.recs.scoring import REASON_POPULAR
from fashion_pipeline.schemas import RECOMMENDED_ITEM
from fashion_pipeline.tables import CUSTOMERS_TABLE, TRANSACTIONS_TABLE, read_lake_table

ITEM_STRUCT = f"array<{RECOMMENDED_ITEM.simpleString()}>"
MODELS = "recs/models"
EVALUATION_MODELS = "recs/_evaluation"


def model_uri(config: Config, version: str) -> str:
    """A model version's id mapping tables, factors and model.json."""
    return config.paths.lake(MODELS, f"version={version}")


def evaluation_model_uri(config: Config, version: str) -> str:
    """The same for models fitted by the offline evaluation (trained on fewer days)."""
    return config.paths.lake(EVALUATION_MODELS, f"version={version}")


def als_checkpoint_uri(config: Config) -> str:
    return config.paths.lake("_checkpoints", "als")


def read_sales_and_customers(spark: SparkSession, config: Config) -> tuple[DataFrame, DataFrame]:
    """The curated H&M transactions and customers the recommender learns from."""
    return read_lake_table(spark, config, TRANSACTIONS_TABLE), read_lake_table(spark, config, CUSTOMERS_TABLE)


def recommend_all(spark: SparkSession, fit: RecommenderFit, customers_df: DataFrame) -> DataFrame:
    """customer_id, items, cold_start for every customer: the blend where there is history,
    the segment's popular articles where there is none."""
    warm_df = score_users(spark, fit).select(
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
    """customer_id, items: the popular articles of each customer's segment."""
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
