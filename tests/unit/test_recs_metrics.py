"""MAP@12 as the H&M Kaggle competition scores it, against cases worked out by hand."""
import pytest
from pyspark.sql import functions as F

from fashion_pipeline.recs.metrics import (
    average_precision_at_k,
    average_precision_column,
    mean_average_precision_at_k,
    recall_at_k,
    recall_column,
    score_predictions,
)

TWELVE_MISSES = [f"x{i}" for i in range(12)]

# (actual, predicted, AP@12 worked out by hand)
HAND_CASES = [
    # hits at 1 and 3: (1/1 + 2/3) / min(2, 12)
    (["A", "B"], ["A", "X", "B"], (1 + 2 / 3) / 2),
    # one hit at 2: (1/2) / 1
    (["A"], ["X", "A"], 0.5),
    # the same article bought twice counts once: m = 1
    (["A", "A"], ["A"], 1.0),
    # a repeated prediction counts only where it first appears: (1/1 + 2/3) / 2
    (["A", "B"], ["A", "A", "B"], (1 + 2 / 3) / 2),
    # more than 12 bought: the denominator is capped at 12, so 12 straight hits score 1
    ([f"a{i}" for i in range(13)], [f"a{i}" for i in range(12)], 1.0),
    # a hit after the 12th prediction does not count
    (["Z"], [*TWELVE_MISSES, "Z"], 0.0),
    # nothing predicted
    (["A"], [], 0.0),
    # hits at 2, 4 and 12 of 4 bought: (1/2 + 2/4 + 3/12) / 4
    (["A", "B", "C", "D"], ["x", "A", "x2", "B", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "C"],
     (1 / 2 + 2 / 4 + 3 / 12) / 4),
]


@pytest.mark.parametrize("actual,predicted,expected", HAND_CASES)
def test_average_precision_matches_hand_computed_cases(actual, predicted, expected):
    assert average_precision_at_k(actual, predicted) == pytest.approx(expected)


def test_map_counts_buyers_without_predictions_as_zero_and_ignores_non_buyers():
    actual = {"u1": ["A"], "u2": ["B"], "u3": []}
    predicted = {"u1": ["X", "A"], "u3": ["A"]}
    # u1 scores 0.5, u2 bought but got nothing (0), u3 bought nothing and is not scored
    assert mean_average_precision_at_k(actual, predicted) == pytest.approx(0.25)


def test_recall_is_the_share_of_bought_articles_in_the_first_twelve():
    assert recall_at_k(["A", "B", "C", "D"], ["A", "x", "C"]) == pytest.approx(0.5)
    assert recall_at_k(["Z"], [*TWELVE_MISSES, "Z"]) == 0.0


def test_spark_columns_agree_with_the_reference_on_every_hand_case(spark):
    rows = [(str(i), sorted(set(actual)), predicted) for i, (actual, predicted, _) in enumerate(HAND_CASES)]
    df = spark.createDataFrame(rows, "customer_id string, actual array<string>, predicted array<string>")
    scored = df.select(
        "customer_id",
        average_precision_column(F.col("actual"), F.col("predicted")).alias("ap"),
        recall_column(F.col("actual"), F.col("predicted")).alias("recall"),
    ).collect()
    by_id = {row["customer_id"]: row for row in scored}
    for i, (actual, predicted, expected) in enumerate(HAND_CASES):
        assert by_id[str(i)]["ap"] == pytest.approx(expected), (actual, predicted)
        assert by_id[str(i)]["recall"] == pytest.approx(recall_at_k(actual, predicted))


def test_score_predictions_keeps_buyers_without_a_prediction(spark):
    actual_df = spark.createDataFrame([("u1", ["A"]), ("u2", ["B"])], "customer_id string, actual array<string>")
    predictions_df = spark.createDataFrame([("u1", ["X", "A"]), ("u9", ["B"])], "customer_id string, predicted array<string>")
    scored = {r["customer_id"]: r["ap"] for r in score_predictions(actual_df, predictions_df).collect()}
    assert scored == {"u1": pytest.approx(0.5), "u2": 0.0}
