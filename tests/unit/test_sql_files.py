"""Every shipped SQL file is valid Athena (Trino) SQL and carries what its runners rely on."""
from importlib import resources

import pytest
import sqlglot
from sqlglot import exp

from fashion_pipeline.quality.checks import load_sql_checks
from fashion_pipeline.tables import LAKE_TABLES_BY_NAME

SQL_FILES = sorted(p for p in resources.files("fashion_pipeline").joinpath("sql").rglob("*.sql"))


def test_there_are_analyst_queries_and_dq_checks():
    names = {p.name for p in SQL_FILES}
    assert {"daily_revenue_trend.sql", "top_categories_this_week.sql", "trend_movers.sql", "rfm_mix.sql"} <= names
    assert len(load_sql_checks()) >= 10


@pytest.mark.parametrize("sql_file", SQL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parses_as_one_athena_select_over_catalog_tables(sql_file):
    statements = sqlglot.parse(sql_file.read_text(), read="athena")
    assert len(statements) == 1 and isinstance(statements[0], exp.Query)
    ctes = {cte.alias for cte in statements[0].find_all(exp.CTE)}
    tables = {t.name for t in statements[0].find_all(exp.Table)} - ctes
    assert tables and tables <= set(LAKE_TABLES_BY_NAME), tables - set(LAKE_TABLES_BY_NAME)


def test_broken_sql_is_rejected_by_the_athena_dialect():
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse_one("SELECT order_id FROM orders WHERE (order_date = ", read="athena")


def test_dq_checks_declare_blocking_and_return_the_agreed_columns():
    for check in load_sql_checks():
        select = sqlglot.parse_one(check.sql, read="athena")
        assert select.named_selects == ["check_name", "checked_rows", "failed_rows"], check.name
        assert f"'{check.name}' AS check_name" in check.sql
        assert check.placeholder_count >= 1  # scoped to the run date
        assert check.athena_execution_parameters(__import__("datetime").date(2020, 9, 23))[0] == "'2020-09-23'"
    assert {c.name for c in load_sql_checks() if not c.blocking} == {"duplicate_orders"}
