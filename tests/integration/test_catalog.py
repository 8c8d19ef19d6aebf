"""Glue tables generated from the declared schemas, against moto's Glue; Athena DDL from the same."""
import sqlglot

from fashion_pipeline.aws import aws_client
from fashion_pipeline.catalog.glue import athena_ddl, sync_catalog
from fashion_pipeline.store.schemas import ORDERS_SCHEMA
from fashion_pipeline.tables import LAKE_TABLES, LAKE_TABLES_BY_NAME


def test_sync_creates_then_updates_tables_matching_the_schemas(aws_config):
    first = sync_catalog(aws_config)
    assert first[0] == "created database fashion_lake" and len(first) == 1 + len(LAKE_TABLES)
    assert all(line.startswith("updated") for line in sync_catalog(aws_config))

    glue = aws_client("glue", aws_config)
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="fashion_lake")["TableList"]}
    assert set(tables) == set(LAKE_TABLES_BY_NAME)
    orders = tables["orders"]
    columns = [(c["Name"], c["Type"]) for c in orders["StorageDescriptor"]["Columns"]]
    assert [name for name, _ in columns] == [f.name for f in ORDERS_SCHEMA.fields if f.name != "order_date"]
    assert ("order_id", "bigint") in columns and ("created_at", "timestamp") in columns
    assert orders["PartitionKeys"] == [{"Name": "order_date", "Type": "date"}]
    parameters = orders["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.order_date.type"] == "date"
    assert parameters["projection.order_date.format"] == "yyyy-MM-dd"
    assert parameters["storage.location.template"] == aws_config.paths.lake("curated/orders") + "/order_date=${order_date}"
    items = {c["Name"]: c["Type"] for c in tables["order_items"]["StorageDescriptor"]["Columns"]}
    assert items["unit_price"] == "decimal(10,2)" and items["line_amount"] == "decimal(20,2)"
    assert tables["transactions"]["Parameters"]["projection.year_month.interval.unit"] == "MONTHS"
    assert tables["articles"]["PartitionKeys"] == []


def test_athena_ddl_names_every_table_with_its_projection(config):
    ddl = athena_ddl(config)
    for table in LAKE_TABLES:
        assert f"CREATE EXTERNAL TABLE IF NOT EXISTS fashion_lake.{table.name} (" in ddl
    assert "PARTITIONED BY (`order_date` date)" in ddl
    assert "'projection.order_date.range' = '2018-09-20,NOW'" in ddl
    for statement in ddl.split(";\n"):  # Hive DDL, as Athena takes it
        assert sqlglot.parse_one(statement.strip().rstrip(";"), read="hive") is not None
