"""Row validation as data: each rule is a named condition that marks a row as rejected.

A row's `_reject_reason` is the first rule it breaks, in the order given, so every rejected row
has exactly one reason and counts per reason add up to the quarantined total.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from fashion_pipeline.schemas import REJECT_REASON

HEX_64 = r"^[0-9a-f]{64}$"


@dataclass(frozen=True)
class Rule:
    reason: str
    broken: Column  # true when the row breaks the rule; null is treated as not broken


def with_reject_reason(rules: list[Rule]):
    """Adds `_reject_reason`: the first broken rule's reason, or null for a valid row."""

    def transform(df: DataFrame) -> DataFrame:
        first_broken = F.coalesce(*[F.when(rule.broken, F.lit(rule.reason)) for rule in rules])
        return df.withColumn(REJECT_REASON, first_broken)

    return transform


def is_blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def missing_rules(columns: list[str] | tuple[str, ...]) -> list[Rule]:
    return [Rule(f"missing_{column}", is_blank(column)) for column in columns]


def not_integer(column: str) -> Column:
    return F.col(column).isNotNull() & F.col(column).try_cast("int").isNull()


def outside(column: Column, allowed: list[str] | tuple[str, ...]) -> Column:
    return column.isNotNull() & ~column.isin(*allowed)


def with_duplicate_key_rule(key: str, reason: str, order_by: list[Column]):
    """Rejects every row of a key but the first by `order_by`, once other rules have passed.

    Rows that already have a reason do not take part, so one valid row survives per key even when
    an earlier duplicate was malformed.
    """

    def transform(df: DataFrame) -> DataFrame:
        still_valid = F.col(REJECT_REASON).isNull()
        rank_window = Window.partitionBy(F.col(key), still_valid).orderBy(*order_by)
        duplicate = still_valid & (F.row_number().over(rank_window) > 1)
        return df.withColumn(REJECT_REASON, F.when(duplicate, F.lit(reason)).otherwise(F.col(REJECT_REASON)))

    return transform


def filter_valid(df: DataFrame) -> DataFrame:
    return df.filter(F.col(REJECT_REASON).isNull()).drop(REJECT_REASON)


def filter_rejected(df: DataFrame) -> DataFrame:
    return df.filter(F.col(REJECT_REASON).isNotNull())
