"""Ranking metrics as the H&M Personalized Fashion Recommendations competition defines them.

MAP@12 (Kaggle's evaluation page):

    MAP@12 = 1/U * sum over users of  1/min(m, 12) * sum_{k=1..12} P(k) * rel(k)

U counts the customers who bought something in the evaluation window (the others are not
scored); m is the number of distinct articles a customer bought there; P(k) is the precision at
cut-off k; rel(k) is 1 when the k-th prediction is a bought article. A prediction repeated in the
list counts only at its first position (the competition's `apk`), and fewer than 12 predictions
are not penalised beyond the hits they miss. A scored customer with no prediction scores 0.

The plain-Python functions are the reference; the Column versions compute the same per user
inside Spark (no UDF, no collect) and are tested against the reference.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

MAP_K = 12


def average_precision_at_k(actual: Sequence[str], predicted: Sequence[str], k: int = MAP_K) -> float:
    """AP@k of one user; `actual` is what they bought (duplicates ignored)."""
    relevant = set(actual)
    if not relevant:
        return 0.0
    hits, score, seen = 0, 0.0, set()
    for position, item in enumerate(list(predicted)[:k], start=1):
        if item in relevant and item not in seen:
            hits += 1
            score += hits / position
        seen.add(item)
    return score / min(len(relevant), k)


def mean_average_precision_at_k(
    actual_by_user: dict[str, Sequence[str]], predicted_by_user: dict[str, Sequence[str]], k: int = MAP_K
) -> float:
    """MAP@k over the users who bought something; users missing from the predictions score 0."""
    scored = [user for user, items in actual_by_user.items() if items]
    if not scored:
        return 0.0
    return sum(average_precision_at_k(actual_by_user[u], predicted_by_user.get(u, []), k) for u in scored) / len(scored)


def recall_at_k(actual: Sequence[str], predicted: Sequence[str], k: int = MAP_K) -> float:
    relevant = set(actual)
    if not relevant:
        return 0.0
    return len(relevant & set(list(predicted)[:k])) / len(relevant)


def average_precision_column(actual: Column, predicted: Column, k: int = MAP_K) -> Column:
    """AP@k per row, from an array of distinct bought articles and an ordered prediction array."""
    top = F.slice(F.coalesce(predicted, F.array().cast("array<string>")), 1, k)
    # sequence(1, 0) counts down, so an empty prediction gets an empty list of positions.
    positions = F.when(F.size(top) > 0, F.sequence(F.lit(1), F.size(top))).otherwise(F.array().cast("array<int>"))
    initial = F.struct(F.lit(0).alias("hits"), F.lit(0.0).alias("score"))

    def step(acc: Column, position: Column) -> Column:
        item = F.element_at(top, position)
        first_time = ~F.array_contains(F.slice(top, 1, position - 1), item)
        is_hit = F.array_contains(actual, item) & first_time
        hits = acc["hits"] + 1
        return F.when(
            is_hit, F.struct(hits.alias("hits"), (acc["score"] + hits / position).alias("score"))
        ).otherwise(acc)

    summed = F.aggregate(positions, initial, step)
    return F.when(F.size(actual) == 0, F.lit(0.0)).otherwise(
        summed["score"] / F.least(F.size(actual), F.lit(k))
    )


def recall_column(actual: Column, predicted: Column, k: int = MAP_K) -> Column:
    top = F.slice(F.coalesce(predicted, F.array().cast("array<string>")), 1, k)
    return F.when(F.size(actual) == 0, F.lit(0.0)).otherwise(
        F.size(F.array_intersect(actual, top)) / F.size(actual)
    )


def actual_purchases(transactions_df: DataFrame) -> DataFrame:
    """customer_id, actual: the distinct articles each customer bought in the given rows."""
    return transactions_df.groupBy("customer_id").agg(F.array_distinct(F.collect_list("article_id")).alias("actual"))


def score_predictions(actual_df: DataFrame, predictions_df: DataFrame, k: int = MAP_K) -> DataFrame:
    """One row per customer who bought something: actual, predicted, ap and recall.

    `predictions_df` has customer_id and predicted (ordered array of article ids); customers who
    bought and got no prediction stay in, with an empty prediction, and score 0."""
    return (
        actual_df.join(predictions_df.select("customer_id", "predicted"), on="customer_id", how="left")
        .withColumn("predicted", F.coalesce("predicted", F.array().cast("array<string>")))
        .withColumn("ap", average_precision_column(F.col("actual"), F.col("predicted"), k))
        .withColumn("recall", recall_column(F.col("actual"), F.col("predicted"), k))
        .select("customer_id", "actual", "predicted", "ap", "recall")
    )
