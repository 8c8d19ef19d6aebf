"""Glue database and tables from `LAKE_TABLES`, with partition projection on the date partitions,
and the same definitions as Athena DDL for review or for creating them by hand."""
from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructType,
    TimestampType,
)

from fashion_pipeline.config import Config, join_uri
from fashion_pipeline.hour_manifest import SYMLINK_DIR
from fashion_pipeline.tables import CLICKSTREAM_TABLE, LAKE_TABLES, LakeTable

PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
# A partition folder of symlink manifests: text files naming the Parquet files to read.
SYMLINK_INPUT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
SYMLINK_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
_SIMPLE_TYPES = {
    StringType: "string", IntegerType: "int", LongType: "bigint", ShortType: "smallint",
    DoubleType: "double", BooleanType: "boolean", DateType: "date", TimestampType: "timestamp",
    BinaryType: "binary",
}


def hive_type(data_type: DataType) -> str:
    if isinstance(data_type, DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    if isinstance(data_type, ArrayType):
        return f"array<{hive_type(data_type.elementType)}>"
    if isinstance(data_type, StructType):
        return "struct<" + ",".join(f"{f.name}:{hive_type(f.dataType)}" for f in data_type.fields) + ">"
    for spark_type, name in _SIMPLE_TYPES.items():
        if isinstance(data_type, spark_type):
            return name
    raise ValueError(f"no Glue type for {data_type.simpleString()}")


def table_location(config: Config, table: LakeTable) -> str:
    lake = config.paths.lake_root
    # Athena wants s3:// (EMR's s3a:// would not do); locally the path is kept as it is.
    location = join_uri(lake.replace("s3a://", "s3://", 1), table.location)
    if reads_symlinks(table):
        location = join_uri(location, SYMLINK_DIR)
    return location + "/"


def reads_symlinks(table: LakeTable) -> bool:
    """The clickstream is compacted in place (pipelines/compact_clickstream.py): listing its
    folders would show a compacted hour twice for a while, so Athena reads each hour's symlink
    manifest (hour_manifest.py), swapped by one PUT, instead."""
    return table is CLICKSTREAM_TABLE


def table_input(config: Config, table: LakeTable) -> dict:
    location = table_location(config, table)
    parameters = {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "ZSTD"}
    if table.partition_keys:
        parameters["projection.enabled"] = "true"
        template = location + "/".join(f"{key}=${{{key}}}" for key in table.partition_keys)
        parameters["storage.location.template"] = template
        for key in table.partition_keys:
            for setting, value in table.projection(key).items():
                parameters[f"projection.{key}.{setting}"] = value
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": [{"Name": f.name, "Type": hive_type(f.dataType)} for f in table.partition_fields],
        "StorageDescriptor": {
            "Columns": [{"Name": f.name, "Type": hive_type(f.dataType)} for f in table.data_fields],
            "Location": location,
            "InputFormat": SYMLINK_INPUT if reads_symlinks(table) else PARQUET_INPUT,
            "OutputFormat": SYMLINK_OUTPUT if reads_symlinks(table) else PARQUET_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        },
    }


def sync_catalog(config: Config, tables: tuple[LakeTable, ...] = LAKE_TABLES) -> list[str]:
    """Create the database and each table, or update a table whose definition exists. Idempotent."""
    from fashion_pipeline.aws import aws_client

    glue = aws_client("glue", config)
    database = config.names.glue_database
    done = []
    try:
        glue.create_database(DatabaseInput={"Name": database, "Description": "fashion-pipeline lake"})
        done.append(f"created database {database}")
    except glue.exceptions.AlreadyExistsException:
        pass
    for table in tables:
        definition = table_input(config, table)
        try:
            glue.create_table(DatabaseName=database, TableInput=definition)
            done.append(f"created {database}.{table.name}")
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=definition)
            done.append(f"updated {database}.{table.name}")
    return done


def athena_ddl(config: Config, tables: tuple[LakeTable, ...] = LAKE_TABLES) -> str:
    """CREATE EXTERNAL TABLE statements equivalent to what `sync_catalog` creates."""
    database = config.names.glue_database
    statements = [f"CREATE DATABASE IF NOT EXISTS {database};"]
    for table in tables:
        definition = table_input(config, table)
        columns = ",\n".join(f"  `{c['Name']}` {c['Type']}" for c in definition["StorageDescriptor"]["Columns"])
        parts = [f"CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{table.name} (\n{columns}\n)"]
        if table.description:
            parts.append(f"COMMENT '{table.description.replace(chr(39), chr(39) * 2)}'")
        if definition["PartitionKeys"]:
            keys = ", ".join(f"`{k['Name']}` {k['Type']}" for k in definition["PartitionKeys"])
            parts.append(f"PARTITIONED BY ({keys})")
        if reads_symlinks(table):
            parts.append(f"ROW FORMAT SERDE '{PARQUET_SERDE}'\nSTORED AS INPUTFORMAT '{SYMLINK_INPUT}'\n"
                         f"OUTPUTFORMAT '{SYMLINK_OUTPUT}'")
        else:
            parts.append("STORED AS PARQUET")
        parts.append(f"LOCATION '{definition['StorageDescriptor']['Location']}'")
        properties = {k: v for k, v in definition["Parameters"].items() if k != "EXTERNAL"}
        rendered = ",\n".join(f"  '{k}' = '{v}'" for k, v in sorted(properties.items()))
        parts.append(f"TBLPROPERTIES (\n{rendered}\n);")
        statements.append("\n".join(parts))
    return "\n\n".join(statements)
