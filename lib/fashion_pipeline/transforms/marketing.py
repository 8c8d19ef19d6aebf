"""Marketing aggregates over the store's curated orders: daily sales by dimension, RFM segments,
top sellers and week-over-week trend movers. Pure functions; the pipeline does the I/O."""
from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fashion_pipeline.store.schemas import AMOUNT, NET_SALES_STATUSES, ORDER_DATE, SALES_CHANNEL_NAMES

UNKNOWN = "unknown"
SALES_DATE = "sales_date"
AS_OF_DATE = "as_of_date"
# dimension name -> column of the sales lines it groups by
SALES_DIMENSIONS = {
    "article": "article_id",
    "product_type": "product_type_name",
    "colour": "colour_group_name",
    "department": "department_name",
    "index_group": "index_group_name",
    "channel": "sales_channel",
}
ARTICLE_ATTRIBUTES = ("prod_name", "product_type_name", "colour_group_name", "department_name", "index_group_name")
RFM_QUANTILES = (0.2, 0.4, 0.6, 0.8)
TREND_WINDOW_DAYS = 7
# (segment, condition on the 1-5 recency and frequency scores), first match wins
RFM_SEGMENTS = (
    ("champions", lambda r, f: (r >= 4) & (f >= 4)),
    ("loyal", lambda r, f: (r >= 3) & (f >= 3)),
    ("promising", lambda r, f: (r >= 4) & (f <= 2)),
    ("at_risk", lambda r, f: (r <= 2) & (f >= 3)),
    ("hibernating", lambda r, f: (r <= 2) & (f <= 2)),
)
OTHER_SEGMENT = "needs_attention"


def net_sales_lines(orders_df: DataFrame, items_df: DataFrame, articles_df: DataFrame) -> DataFrame:
    """One row per order line that counts as a sale (not cancelled, not returned), with the
    article's attributes; a line whose article left the catalogue keeps its revenue as 'unknown'."""
    channel_names = F.create_map(*[F.lit(x) for kv in SALES_CHANNEL_NAMES.items() for x in kv])
    sold_orders = orders_df.filter(F.col("status").isin(*NET_SALES_STATUSES)).select(
        "order_id", "customer_id", ORDER_DATE, channel_names[F.col("sales_channel_id")].alias("sales_channel")
    )
    attributes = articles_df.select("article_id", *ARTICLE_ATTRIBUTES)
    return (
        items_df.select("order_id", "article_id", "quantity", "line_amount")
        .join(sold_orders, on="order_id", how="inner")
        .join(attributes, on="article_id", how="left")
        .select(
            F.col(ORDER_DATE).alias(SALES_DATE), "order_id", "customer_id", "sales_channel", "article_id",
            *[F.coalesce(F.col(c), F.lit(UNKNOWN)).alias(c) for c in ARTICLE_ATTRIBUTES],
            "quantity", "line_amount",
        )
    )


def _sales_measures() -> list[Column]:
    return [
        F.sum("quantity").cast("long").alias("units"),
        F.sum("line_amount").cast(AMOUNT).alias("revenue"),
        F.countDistinct("order_id").alias("orders"),
        F.countDistinct("customer_id").alias("customers"),
    ]


def daily_sales_by_dimension(lines_df: DataFrame) -> DataFrame:
    """Long format: (dimension, dimension_value) per day with units, revenue, orders and distinct
    customers. Distinct counts do not add up across values, hence one grouping per dimension."""
    per_dimension = [
        lines_df.groupBy(SALES_DATE, F.col(column).alias("dimension_value"))
        .agg(*_sales_measures())
        .withColumn("dimension", F.lit(dimension))
        for dimension, column in SALES_DIMENSIONS.items()
    ]
    combined = per_dimension[0]
    for df in per_dimension[1:]:
        combined = combined.unionByName(df)
    return combined.select("dimension", "dimension_value", "units", "revenue", "orders", "customers", SALES_DATE)


def rfm_measures(lines_df: DataFrame, as_of: date) -> DataFrame:
    """Recency (days since the last order, as of the end of `as_of`), frequency (orders) and
    monetary value (revenue) per customer over the lines given."""
    return lines_df.groupBy("customer_id").agg(
        F.datediff(F.lit(as_of), F.max(SALES_DATE)).alias("recency_days"),
        F.countDistinct("order_id").alias("frequency"),
        F.sum("line_amount").cast(AMOUNT).alias("monetary"),
    )


def rfm_threshold_columns() -> list[Column]:
    """Aggregates giving the quintile cut points of each measure (one small row)."""
    quantiles = F.array(*[F.lit(q) for q in RFM_QUANTILES])
    return [
        F.percentile_approx("recency_days", quantiles).alias("recency_days"),
        F.percentile_approx("frequency", quantiles).alias("frequency"),
        F.percentile_approx(F.col("monetary").cast("double"), quantiles).alias("monetary"),
    ]


def _score(column: str, cut_points: list[float], lower_is_better: bool = False) -> Column:
    # 1..5: one more than the number of cut points the value exceeds (ties stay low).
    above = sum((F.col(column).cast("double") > F.lit(float(p))).cast("int") for p in cut_points)
    score = F.lit(1) + above
    return (F.lit(6) - score) if lower_is_better else score


def with_rfm_segments(measures_df: DataFrame, thresholds: dict[str, list[float]], as_of: date) -> DataFrame:
    r = _score("recency_days", thresholds["recency_days"], lower_is_better=True)
    f = _score("frequency", thresholds["frequency"])
    m = _score("monetary", thresholds["monetary"])
    scored = measures_df.select("*", r.alias("r_score"), f.alias("f_score"), m.alias("m_score"))
    segment = F.lit(OTHER_SEGMENT)
    for name, condition in reversed(RFM_SEGMENTS):
        segment = F.when(condition(F.col("r_score"), F.col("f_score")), F.lit(name)).otherwise(segment)
    return scored.select(
        "customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
        segment.alias("segment"), F.lit(as_of).alias(AS_OF_DATE),
    )


def _week(as_of: date, weeks_back: int) -> tuple[date, date]:
    end = as_of - timedelta(days=TREND_WINDOW_DAYS * weeks_back)
    return end - timedelta(days=TREND_WINDOW_DAYS - 1), end


def _article_week(lines_df: DataFrame, first: date, last: date, prefix: str) -> DataFrame:
    return (
        lines_df.filter(F.col(SALES_DATE).between(F.lit(first), F.lit(last)))
        .groupBy("article_id", *ARTICLE_ATTRIBUTES)
        .agg(
            F.sum("quantity").cast("long").alias(f"{prefix}_units"),
            F.sum("line_amount").cast(AMOUNT).alias(f"{prefix}_revenue"),
            F.countDistinct("customer_id").alias(f"{prefix}_customers"),
        )
    )


def top_sellers(lines_df: DataFrame, as_of: date, top_n: int) -> DataFrame:
    """The `top_n` articles by units in the seven days ending `as_of` (revenue breaks ties)."""
    first, last = _week(as_of, 0)
    week = _article_week(lines_df, first, last, "week")
    top = week.orderBy(F.desc("week_units"), F.desc("week_revenue"), "article_id").limit(top_n)
    return top.withColumn(AS_OF_DATE, F.lit(as_of)).select(
        F.row_number().over(_rank_window(F.desc("week_units"), F.desc("week_revenue"), F.col("article_id"))).alias("rank"),
        "article_id", *ARTICLE_ATTRIBUTES,
        F.col("week_units").alias("units"), F.col("week_revenue").alias("revenue"), F.col("week_customers").alias("customers"),
        AS_OF_DATE,
    )


def trend_movers(lines_df: DataFrame, as_of: date, min_units: int, top_n: int) -> DataFrame:
    """Articles whose units moved most this week against last week, `top_n` rising and `top_n`
    falling. Only articles that sold at least `min_units` in one of the two weeks take part, so a
    jump from 1 to 3 units does not top the list."""
    this_first, this_last = _week(as_of, 0)
    last_first, last_last = _week(as_of, 1)
    keys = ["article_id", *ARTICLE_ATTRIBUTES]
    both = (
        _article_week(lines_df, this_first, this_last, "this_week")
        .join(_article_week(lines_df, last_first, last_last, "last_week"), on=keys, how="full_outer")
        .select(*keys, *[F.coalesce(F.col(f"{w}_units"), F.lit(0)).alias(f"{w}_units") for w in ("this_week", "last_week")])
        .filter(F.greatest("this_week_units", "last_week_units") >= min_units)
        .withColumn("growth", (F.col("this_week_units") - F.col("last_week_units")) / F.greatest(F.col("last_week_units"), F.lit(1)))
    )
    rising = both.filter(F.col("growth") > 0).orderBy(F.desc("growth"), F.desc("this_week_units"), "article_id").limit(top_n)
    falling = both.filter(F.col("growth") < 0).orderBy(F.asc("growth"), F.desc("last_week_units"), "article_id").limit(top_n)

    def ranked(df: DataFrame, direction: str, *order: Column) -> DataFrame:
        return df.withColumn(AS_OF_DATE, F.lit(as_of)).select(
            F.lit(direction).alias("direction"), F.row_number().over(_rank_window(*order)).alias("rank"),
            *keys, "this_week_units", "last_week_units", F.round("growth", 4).alias("growth"),
            AS_OF_DATE,
        )

    return ranked(rising, "rising", F.desc("growth"), F.desc("this_week_units"), F.col("article_id")).unionByName(
        ranked(falling, "falling", F.asc("growth"), F.desc("last_week_units"), F.col("article_id"))
    )


def _rank_window(*order: Column):
    from pyspark.sql.window import Window

    # Over the top_n rows `limit` already brought together, all of one day.
    return Window.partitionBy(AS_OF_DATE).orderBy(*order)
