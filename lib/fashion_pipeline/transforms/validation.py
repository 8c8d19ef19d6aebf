"""Row validation as data: each rule is a named condition on a row.

A `Rule` rejects the whole row: its `_reject_reason` is the first rule it breaks, in the order
given, so every rejected row has exactly one reason and counts per reason add up to the
quarantined total.

An `AttributeRule` judges one attribute of a row that can be kept without it (a dimension row whose
key is sound): the row stays, the attribute is nulled, and `_attribute_issues` records the column,
the value as it arrived and the reason, so that facts referencing the row are not lost for one bad
attribute.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from fashion_pipeline.schemas import ATTRIBUTE_ISSUES, REJECT_REASON

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


@dataclass(frozen=True)
class AttributeRule:
    column: str  # the attribute nulled when the rule is broken
    reason: str
    broken: Column  # true when the value breaks the rule; null is treated as not broken


def with_attribute_issues(rules: list[AttributeRule]):
    """Adds `_attribute_issues`: an array of (column_name, original_value, reason), one per
    attribute that breaks a rule, named by the first rule of its column it breaks; empty when none.
    One entry per attribute, so that entries count nulled values."""

    def transform(df: DataFrame) -> DataFrame:
        issues = [
            F.coalesce(*[
                F.when(rule.broken, F.struct(
                    F.lit(column).alias("column_name"),
                    F.col(column).cast("string").alias("original_value"),
                    F.lit(rule.reason).alias("reason"),
                ))
                for rule in rules if rule.column == column
            ])
            for column in attribute_columns(rules)
        ]
        return df.withColumn(ATTRIBUTE_ISSUES, F.filter(F.array(*issues), lambda issue: issue.isNotNull()))

    return transform


def with_broken_attributes_nulled(rules: list[AttributeRule]):
    """Sets to null each attribute that `_attribute_issues` names; everything else is unchanged."""

    def transform(df: DataFrame) -> DataFrame:
        broken_columns = F.col(ATTRIBUTE_ISSUES).getField("column_name")
        nullable = set(attribute_columns(rules))
        return df.select(*[
            F.when(~F.array_contains(broken_columns, column), F.col(column)).alias(column)
            if column in nullable else F.col(column)
            for column in df.columns
        ])

    return transform


def attribute_columns(rules: list[AttributeRule]) -> list[str]:
    """The columns the rules judge, each once, in the order of their first rule."""
    return list(dict.fromkeys(rule.column for rule in rules))


def is_blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def missing_rules(columns: list[str] | tuple[str, ...]) -> list[Rule]:
    return [Rule(f"missing_{column}", is_blank(column)) for column in columns]


def missing_attribute_rules(columns: list[str] | tuple[str, ...]) -> list[AttributeRule]:
    return [AttributeRule(column, f"missing_{column}", is_blank(column)) for column in columns]


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
