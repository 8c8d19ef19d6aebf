"""Which slices of which tables the data-quality checks read, so that Spark reads each slice once.

The checks stay as written for Athena (fashion_pipeline/sql/dq, one query per check). Here each
file is parsed with sqlglot and every lake table it reads is reduced to the slice the check can
see: the table's partitions that the conditions on its partition columns in the same SELECT's
WHERE keep (`order_date = CAST(? AS DATE)` -> one day). Checks that read the same slice of the
same table form a group; each table reference is rewritten to read its group's view, and the
check's own conditions stay in place, so every check computes what it computed over the whole
table. A check with no usable condition on a table reads the whole table.

Why narrowing is safe: a slice condition is a top-level AND term of the WHERE of the SELECT whose
FROM or JOIN names the table, it mentions only that table's partition columns, and it is a
comparison that is never true for NULL. Rows it removes could only have been removed by the WHERE
anyway, also when the table is on the outer side of a LEFT JOIN (their NULL-extended rows fail the
same comparison). Anything else (OR, NOT, conditions in ON, columns of two tables) is left alone
and the table is read whole.

Pure Python: no Spark, no I/O. The pipeline (pipelines/data_quality.py) reads the slices.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping

from fashion_pipeline.quality.checks import SqlCheck

SLICE_VIEW_PREFIX = "dq_slice"


@dataclass(frozen=True)
class TableSlice:
    """The rows of one lake table that some checks read: the partitions `partition_filter` (Spark
    SQL over the partition columns only) keeps, or the whole table when it is None."""

    table: str
    partition_filter: str | None
    view: str  # the temporary view the rewritten checks read

    def describe(self) -> str:
        return f"{self.table} [{self.partition_filter or 'whole table'}]"


@dataclass(frozen=True)
class PlannedCheck:
    check: SqlCheck
    spark_sql: str  # the check in Spark SQL, run date filled in, reading slice views
    views: tuple[str, ...]  # the slices it reads, in order of first use


@dataclass(frozen=True)
class ScanPlan:
    slices: tuple[TableSlice, ...]
    checks: tuple[PlannedCheck, ...]

    def readers(self, table_slice: TableSlice) -> list[str]:
        """Names of the checks that read the slice."""
        return [p.check.name for p in self.checks if table_slice.view in p.views]

    def is_shared(self, table_slice: TableSlice) -> bool:
        return len(self.readers(table_slice)) > 1


def plan_shared_scans(checks: list[SqlCheck], run_date: date, partition_keys: Mapping[str, tuple[str, ...]]) -> ScanPlan:
    """Group the checks' table reads by slice. `partition_keys` names every lake table (the
    catalog's names) with its partition columns; other names (CTEs) are not tables."""
    slices: dict[tuple[str, str | None], TableSlice] = {}
    planned = []
    for check in checks:
        tree, views = _rewrite(check, run_date, partition_keys, slices)
        planned.append(PlannedCheck(check, tree.sql(dialect="spark", comments=False), tuple(views)))
    return ScanPlan(tuple(slices.values()), tuple(planned))


def _rewrite(check: SqlCheck, run_date: date, partition_keys: Mapping[str, tuple[str, ...]],
             slices: dict[tuple[str, str | None], TableSlice]):
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(check.sql, read="athena")
    # Spark binds each `?` of the per-check path as this very string literal.
    for placeholder, value in zip(list(tree.find_all(exp.Placeholder)), check.parameters(run_date)):
        placeholder.replace(exp.Literal.string(value))
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    views: list[str] = []
    for table in list(tree.find_all(exp.Table)):
        if table.name in cte_names or table.name not in partition_keys:
            continue
        partition_filter = _partition_filter(table, partition_keys[table.name])
        key = (table.name, partition_filter)
        if key not in slices:
            slices[key] = TableSlice(table.name, partition_filter, f"{SLICE_VIEW_PREFIX}_{len(slices)}_{table.name}")
        view = slices[key].view
        if view not in views:
            views.append(view)
        alias = table.alias_or_name  # the check's columns keep naming the table as before
        table.set("db", None)
        table.set("catalog", None)
        table.set("this", exp.to_identifier(view))
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return tree, views


def _partition_filter(table, keys: tuple[str, ...]) -> str | None:
    """The AND of the WHERE terms that narrow `table` to some of its partitions, in Spark SQL
    without table qualifiers; None when there are none (read the whole table)."""
    from sqlglot import exp

    select = table.parent
    if not isinstance(select, (exp.From, exp.Join)) or not isinstance(select.parent, exp.Select):
        return None
    select = select.parent
    where = select.args.get("where")
    if not keys or where is None:
        return None
    alias = table.alias_or_name
    only_source = not select.args.get("joins")
    # Comparisons that are NULL (so false in a WHERE) when their column is NULL.
    null_rejecting = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)
    terms = []
    for term in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if not isinstance(term, null_rejecting) or term.find(exp.Subquery, exp.Select, exp.AggFunc):
            continue
        columns = list(term.find_all(exp.Column))
        if not columns or not all(
            c.name in keys and (c.table == alias or (not c.table and only_source)) for c in columns
        ):
            continue
        narrowed = term.copy()
        for column in narrowed.find_all(exp.Column):
            column.set("table", None)
        terms.append(narrowed.sql(dialect="spark", comments=False))
    return " AND ".join(sorted(set(terms))) or None
