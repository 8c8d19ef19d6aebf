"""Pure transforms from curated transactions and customers to the recommender's signals.

Every function takes DataFrames and plain values (dates, day counts, half-lives) and returns a
DataFrame; none reads or writes. Dates are inclusive: `as_of` is the last day whose sales count.
"""
from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

UNKNOWN_CLUB_STATUS = "UNKNOWN"
UNKNOWN_AGE_BAND = "age_unknown"


def filter_days(transactions_df: DataFrame, first_day: date, last_day: date) -> DataFrame:
    """Rows with first_day <= t_dat <= last_day; prunes year_month partitions when present."""
    in_window = F.col("t_dat").between(F.lit(first_day), F.lit(last_day))
    if "year_month" in transactions_df.columns:
        in_window = in_window & F.col("year_month").between(
            F.lit(first_day.strftime("%Y-%m")), F.lit(last_day.strftime("%Y-%m"))
        )
    return transactions_df.filter(in_window)


def window_start(as_of: date, days: int) -> date:
    """First day of the `days`-day window that ends on `as_of`."""
    return as_of - timedelta(days=days - 1)


def decay(as_of: date, half_life_days: float) -> Column:
    """0.5 ** (age in days / half-life): a sale on `as_of` counts 1, one half-life earlier 0.5."""
    age_days = F.datediff(F.lit(as_of), F.col("t_dat"))
    return F.pow(F.lit(0.5), age_days / F.lit(float(half_life_days)))


def to_interactions(transactions_df: DataFrame, as_of: date, half_life_days: float) -> DataFrame:
    """customer_id, article_id, weight (time-decayed units), units, spent, first_day, last_day:
    one row per pair."""
    return (
        transactions_df.groupBy("customer_id", "article_id")
        .agg(
            F.sum(decay(as_of, half_life_days)).alias("weight"),
            F.count(F.lit(1)).alias("units"),
            F.sum("price").alias("spent"),
            F.min("t_dat").alias("first_day"),
            F.max("t_dat").alias("last_day"),
        )
        .select("customer_id", "article_id", "weight", "units", "spent", "first_day", "last_day")
    )


def user_history(indexed_interactions_df: DataFrame, as_of: date, max_items: int) -> DataFrame:
    """customer_id, hist_items, hist_units, hist_days (the `max_items` articles bought last, most
    recent first, as model indexes), log_mean_price: what the ranker knows of each customer."""
    latest = F.slice(
        F.sort_array(F.collect_list(F.struct(F.col("last_day"), F.col("item_index"), F.col("units"))), asc=False),
        1, max_items,
    )
    return (
        indexed_interactions_df.groupBy("customer_id")
        .agg(latest.alias("latest"), (F.sum("spent") / F.sum("units")).alias("mean_price"))
        .select(
            "customer_id",
            F.transform("latest", lambda x: x["item_index"].cast("long")).alias("hist_items"),
            F.transform("latest", lambda x: x["units"].cast("double")).alias("hist_units"),
            F.transform("latest", lambda x: F.datediff(F.lit(as_of), x["last_day"]).cast("double")).alias("hist_days"),
            F.when(F.col("mean_price") > 0, F.log("mean_price")).alias("log_mean_price"),
        )
    )


def article_statistics(indexed_interactions_df: DataFrame, as_of: date) -> DataFrame:
    """item_index, days_since_release (first sale in the history), mean_price."""
    return indexed_interactions_df.groupBy("item_index").agg(
        F.datediff(F.lit(as_of), F.min("first_day")).cast("double").alias("days_since_release"),
        (F.sum("spent") / F.sum("units")).alias("mean_price"),
    )


def segment_article_units(transactions_df: DataFrame, segments_df: DataFrame, as_of: date,
                          half_life_days: float) -> DataFrame:
    """segment, article_id, trend: decayed units each segment bought of each article."""
    return (
        transactions_df.join(segments_df, on="customer_id", how="inner")
        .groupBy("segment", "article_id")
        .agg(F.sum(decay(as_of, half_life_days)).alias("trend"))
    )


def trending_articles(transactions_df: DataFrame, as_of: date, half_life_days: float) -> DataFrame:
    """article_id, trend (decayed units), units over the rows given (filter the window first)."""
    return (
        transactions_df.groupBy("article_id")
        .agg(F.sum(decay(as_of, half_life_days)).alias("trend"), F.count(F.lit(1)).alias("units"))
        .select("article_id", "trend", "units")
    )


def top_articles(articles_df: DataFrame, score_column: str, k: int) -> DataFrame:
    """The k best articles by a score (ties broken by article_id, so runs agree), with rank 1..k."""
    ranked = Window.orderBy(F.col(score_column).desc(), F.col("article_id"))
    return (
        articles_df.withColumn("rank", F.row_number().over(ranked))
        .filter(F.col("rank") <= k)
        .select("rank", "article_id", F.col(score_column).cast("double").alias("score"))
    )


def repurchase_signals(transactions_df: DataFrame, as_of: date, half_life_days: float) -> DataFrame:
    """customer_id, article_id, repurchase: the customer's own recent purchases, decayed."""
    return (
        transactions_df.groupBy("customer_id", "article_id")
        .agg(F.sum(decay(as_of, half_life_days)).alias("repurchase"))
        .select("customer_id", "article_id", "repurchase")
    )


def age_band(age: Column, edges: tuple[int, ...]) -> Column:
    """'<25', '25-34', ..., '65+' for the given band edges; unknown ages get their own band."""
    band = F.when(age < edges[0], F.lit(f"<{edges[0]}"))
    for low, high in zip(edges, edges[1:]):
        band = band.when(age < high, F.lit(f"{low}-{high - 1}"))
    band = band.otherwise(F.lit(f"{edges[-1]}+"))
    return F.when(age.isNull(), F.lit(UNKNOWN_AGE_BAND)).otherwise(band)


def with_segment(customers_df: DataFrame, age_band_edges: tuple[int, ...]) -> DataFrame:
    """customer_id, segment: age band and club status, the cold-start segment of a customer."""
    club = F.coalesce(F.upper(F.trim(F.col("club_member_status"))), F.lit(UNKNOWN_CLUB_STATUS))
    return customers_df.select(
        "customer_id",
        F.concat_ws("|", age_band(F.col("age"), age_band_edges), club).alias("segment"),
    )


def segment_popular(
    transactions_df: DataFrame, segments_df: DataFrame, as_of: date, half_life_days: float, k: int
) -> DataFrame:
    """segment, rank, article_id, score: what each segment bought lately, best k per segment,
    topped up from the overall trend where a segment bought fewer than k articles."""
    by_segment = segment_article_units(transactions_df, segments_df, as_of, half_life_days)
    overall = top_articles(trending_articles(transactions_df, as_of, half_life_days), "trend", k)
    # Overall best sellers rank after every article the segment itself bought.
    fill = (
        segments_df.select("segment").distinct()
        .crossJoin(overall.select("article_id", (-F.col("rank")).cast("double").alias("fill")))
    )
    candidates = (
        by_segment.join(fill, on=["segment", "article_id"], how="full")
        .withColumn("has_own", F.col("trend").isNotNull())
        .withColumn("score", F.coalesce("trend", F.lit(0.0)))
    )
    ranked = Window.partitionBy("segment").orderBy(
        F.col("has_own").desc(), F.col("trend").desc_nulls_last(), F.col("fill").desc(), F.col("article_id")
    )
    return (
        candidates.withColumn("rank", F.row_number().over(ranked))
        .filter(F.col("rank") <= k)
        .select("segment", "rank", "article_id", "score")
    )


def build_id_index(ids_df: DataFrame, id_column: str, index_column: str) -> DataFrame:
    """id -> dense int index 0..n-1, in id order, computed on the executors (zipWithIndex).

    Sorting first makes the index the same on every run over the same ids."""
    schema = f"{id_column} string, {index_column} int"
    distinct_ids = ids_df.select(id_column).distinct().orderBy(id_column)
    indexed = distinct_ids.rdd.zipWithIndex().map(lambda pair: (pair[0][0], int(pair[1])))
    return indexed.toDF(schema)
