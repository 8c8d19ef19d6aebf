"""Glue tables generated from the declared schemas, against moto's Glue; Athena DDL from the same."""
import sqlglot
from sqlglot import exp

from fashion_pipeline.aws import aws_client
from fashion_pipeline.catalog.glue import athena_ddl, hive_type, sync_catalog
from fashion_pipeline.store.schemas import ORDERS_SCHEMA
from fashion_pipeline.tables import LAKE_TABLES, LAKE_TABLES_BY_NAME, ORDERS_TABLE


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
    # The compacted clickstream is read through each hour's symlink manifest, never by listing.
    clicks = tables["clickstream"]
    assert clicks["StorageDescriptor"]["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert clicks["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert clicks["Parameters"]["storage.location.template"] == (
        aws_config.paths.lake("curated/clickstream/_symlink") + "/event_date=${event_date}/event_hour=${event_hour}")
    assert orders["StorageDescriptor"]["InputFormat"].endswith("MapredParquetInputFormat")


def _hive_text(type_text: str) -> str:
    """A Hive type as the parser below prints it (it spaces decimal(10, 2))."""
    return exp.DataType.build(type_text, dialect="hive").sql("hive").lower()


def _hive(data_type) -> str:
    return _hive_text(hive_type(data_type))


def _parsed_ddl(ddl: str) -> dict[str, dict]:
    """Each CREATE TABLE of the DDL read back by a Hive parser: columns, partitions, location, properties."""
    tables = {}
    for statement in [s.strip() for s in ddl.split(";\n") if s.strip()][1:]:
        create = sqlglot.parse_one(statement.rstrip(";"), read="hive")
        properties = create.args["properties"].expressions
        partitioned = next((p for p in properties if isinstance(p, exp.PartitionedByProperty)), None)
        tables[create.this.this.name] = {
            "database": create.this.this.db,
            "columns": [(c.name, c.args["kind"].sql("hive").lower()) for c in create.this.expressions],
            "partitions": [(c.name, c.args["kind"].sql("hive").lower()) for c in partitioned.this.expressions] if partitioned else [],
            "location": next(p.this.name for p in properties if isinstance(p, exp.LocationProperty)),
            "properties": {p.this.name: p.args["value"].name for p in properties if type(p) is exp.Property},
        }
    return tables


def test_athena_ddl_declares_every_table_as_the_registry_does(config):
    ddl = athena_ddl(config)
    assert ddl.startswith("CREATE DATABASE IF NOT EXISTS fashion_lake;")
    parsed = _parsed_ddl(ddl)
    assert set(parsed) == set(LAKE_TABLES_BY_NAME)
    for table in LAKE_TABLES:
        declared = parsed[table.name]
        assert declared["database"] == "fashion_lake"
        assert declared["columns"] == [(f.name, _hive(f.dataType)) for f in table.data_fields], table.name
        assert declared["partitions"] == [(f.name, _hive(f.dataType)) for f in table.partition_fields], table.name
        expected_location = table.uri(config) + ("/_symlink/" if table.name == "clickstream" else "/")
        assert declared["location"] == expected_location, table.name
        for field in table.partition_fields:  # hours are numbers, days and months dates, table names a list
            expected = "integer" if field.dataType.typeName() == "integer" else "enum" if field.name == "table_name" else "date"
            assert declared["properties"][f"projection.{field.name}.type"] == expected, (table.name, field.name)
    orders = parsed["orders"]
    assert orders["partitions"] == [("order_date", "date")]
    assert orders["properties"]["projection.order_date.range"] == "2018-09-20,NOW"
    assert orders["properties"]["storage.location.template"] == ORDERS_TABLE.uri(config) + "/order_date=${order_date}"
    assert parsed["transactions"]["properties"]["projection.year_month.range"] == "2018-09,NOW"
    clicks = parsed["clickstream"]
    assert clicks["partitions"] == [("event_date", "date"), ("event_hour", "int")]
    assert clicks["properties"]["projection.event_hour.range"] == "0,23"
    assert ("items", _hive_text("array<struct<article_id:string,score:double,reason:string>>")) in parsed["recommendations"]["columns"]
    issues = parsed["attribute_issues"]
    assert issues["partitions"] == [("table_name", "string")]
    assert issues["properties"]["projection.table_name.values"] == "articles,customers"
