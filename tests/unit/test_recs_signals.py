"""The recommender's signals from a handful of sales."""
from datetime import date

import pytest
from chispa import assert_df_equality

from fashion_pipeline.recs import signals

AS_OF = date(2020, 9, 22)
SALES_SCHEMA = "t_dat date, customer_id string, article_id string, price double"
SALES = [
    (date(2020, 9, 22), "c1", "A", 0.02),
    (date(2020, 9, 22), "c1", "A", 0.02),  # a second unit of the same sale
    (date(2020, 9, 12), "c1", "B", 0.05),  # ten days old: half weight with a ten-day half-life
    (date(2020, 9, 21), "c2", "B", 0.04),
    (date(2020, 8, 1), "c2", "C", 0.01),
]


@pytest.fixture
def sales_df(spark):
    return spark.createDataFrame(SALES, SALES_SCHEMA)


def test_interactions_sum_decayed_units_per_pair(spark, sales_df):
    result = signals.to_interactions(sales_df, AS_OF, half_life_days=10.0).select("customer_id", "article_id", "weight", "units")
    expected = spark.createDataFrame(
        [("c1", "A", 2.0, 2), ("c1", "B", 0.5, 1), ("c2", "B", 0.5 ** 0.1, 1), ("c2", "C", 0.5 ** 5.2, 1)],
        "customer_id string, article_id string, weight double, units bigint",
    )
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True, allow_nan_equality=True)


def test_user_history_lists_the_latest_articles_first_with_their_units_and_age(spark, sales_df):
    interactions = signals.to_interactions(sales_df, AS_OF, half_life_days=10.0)
    index = spark.createDataFrame([("A", 0), ("B", 1), ("C", 2)], "article_id string, item_index int")
    history = signals.user_history(interactions.join(index, "article_id"), AS_OF, max_items=2)
    rows = {r.customer_id: r for r in history.collect()}
    assert rows["c1"].hist_items == [0, 1] and rows["c1"].hist_units == [2.0, 1.0] and rows["c1"].hist_days == [0.0, 10.0]
    assert rows["c2"].hist_items == [1, 2] and rows["c2"].hist_days == [1.0, 52.0]
    assert rows["c1"].log_mean_price == pytest.approx(__import__("math").log(0.09 / 3))


def test_filter_days_is_inclusive_at_both_ends(sales_df):
    kept = signals.filter_days(sales_df, date(2020, 9, 12), AS_OF)
    assert sorted(r.t_dat.day for r in kept.collect()) == [12, 21, 22, 22]


def test_top_articles_rank_by_score_then_id(spark):
    scores = spark.createDataFrame([("B", 2.0), ("A", 2.0), ("C", 5.0)], "article_id string, trend double")
    assert [(r["rank"], r["article_id"]) for r in signals.top_articles(scores, "trend", 2).collect()] == [(1, "C"), (2, "A")]


def test_segment_is_age_band_and_club_status_with_unknowns_named(spark):
    customers = spark.createDataFrame(
        [("c1", 19, "ACTIVE"), ("c2", 40, None), ("c3", None, "PRE-CREATE"), ("c4", 70, "ACTIVE")],
        "customer_id string, age int, club_member_status string",
    )
    segments = {r.customer_id: r.segment for r in signals.with_segment(customers, (25, 35, 45)).collect()}
    assert segments == {"c1": "<25|ACTIVE", "c2": "35-44|UNKNOWN", "c3": "age_unknown|PRE-CREATE", "c4": "45+|ACTIVE"}


def test_segment_popular_ranks_the_segments_own_sales_first_then_fills_from_overall(spark, sales_df):
    segments = spark.createDataFrame([("c1", "young"), ("c2", "old"), ("c9", "empty")], "customer_id string, segment string")
    popular = signals.segment_popular(sales_df, segments, AS_OF, half_life_days=10.0, k=3)
    by_segment = {}
    for row in popular.orderBy("segment", "rank").collect():
        by_segment.setdefault(row.segment, []).append(row.article_id)
    # overall trend: A (2.0) > B (0.5 + 0.93) > C
    assert by_segment["young"] == ["A", "B", "C"]
    assert by_segment["old"] == ["B", "C", "A"]
    assert by_segment["empty"] == ["A", "B", "C"]  # nobody bought: the overall best sellers


def test_id_index_is_dense_in_id_order(spark, sales_df):
    index = signals.build_id_index(sales_df, "article_id", "item_index")
    assert [(r.article_id, r.item_index) for r in index.orderBy("item_index").collect()] == [("A", 0), ("B", 1), ("C", 2)]
