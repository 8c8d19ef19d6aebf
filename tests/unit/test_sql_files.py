"""Every shipped SQL file is valid Athena (Trino) SQL and carries what its runners rely on."""
from importlib import resources

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify

from fashion_pipeline.catalog.glue import hive_type
from fashion_pipeline.catalog.local_query import QueryError, athena_to_duckdb
from fashion_pipeline.quality.checks import load_sql_checks
from fashion_pipeline.tables import LAKE_TABLES

SQL_FILES = sorted(p for p in resources.files("fashion_pipeline").joinpath("sql").rglob("*.sql"))


def test_there_are_analyst_queries_and_dq_checks():
    names = {p.name for p in SQL_FILES}
    assert {"daily_revenue_trend.sql", "top_categories_this_week.sql", "trend_movers.sql", "rfm_mix.sql"} <= names
    assert len(load_sql_checks()) >= 10


LAKE_SCHEMA = {t.name: {f.name: hive_type(f.dataType) for f in t.schema.fields} for t in LAKE_TABLES}


@pytest.mark.parametrize("sql_file", SQL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_table_and_column_a_file_names_exists_in_the_registry(sql_file):
    statements = sqlglot.parse(sql_file.read_text(), read="athena")
    assert len(statements) == 1 and isinstance(statements[0], exp.Query)
    ctes = {cte.alias for cte in statements[0].find_all(exp.CTE)}
    tables = {t.name for t in statements[0].find_all(exp.Table)} - ctes
    assert tables and tables <= set(LAKE_SCHEMA), tables - set(LAKE_SCHEMA)
    # Resolves every column against the declared schemas; a misspelt or dropped column fails.
    qualify(statements[0], schema=LAKE_SCHEMA, dialect="athena", validate_qualify_columns=True)


def test_a_column_the_schemas_do_not_have_is_caught():
    with pytest.raises(OptimizeError, match="order_idd"):
        qualify(sqlglot.parse_one("SELECT order_idd FROM orders", read="athena"), schema=LAKE_SCHEMA,
                dialect="athena", validate_qualify_columns=True)


def test_local_runner_refuses_what_athena_would_not_run():
    with pytest.raises(QueryError, match="not valid Athena SQL"):
        athena_to_duckdb("SELECT order_id FROM orders WHERE (order_date = ")
    with pytest.raises(QueryError, match="expected one statement, found 2"):
        athena_to_duckdb("SELECT 1; SELECT 2")


def test_dq_checks_declare_blocking_and_return_the_agreed_columns():
    for check in load_sql_checks():
        select = sqlglot.parse_one(check.sql, read="athena")
        assert select.named_selects == ["check_name", "checked_rows", "failed_rows"], check.name
        assert f"'{check.name}' AS check_name" in check.sql
        assert check.placeholder_count >= 1  # scoped to the run date
        assert check.athena_execution_parameters(__import__("datetime").date(2020, 9, 23))[0] == "'2020-09-23'"
    assert {c.name for c in load_sql_checks() if not c.blocking} == {"duplicate_orders"}
