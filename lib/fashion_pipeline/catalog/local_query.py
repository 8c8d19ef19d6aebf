"""Run an Athena (Trino) SQL file locally over the lake with DuckDB, so an analyst can try a
query before paying for Athena. The SQL is transpiled by sqlglot; every table of `LAKE_TABLES`
becomes a view over its Parquet files (an empty one when nothing has been written yet); the
clickstream's over the files its hour manifests make visible (hour_manifest.py)."""
from __future__ import annotations

from pathlib import Path

from pyspark.sql.types import ArrayType, DataType, StructType

from fashion_pipeline.catalog.glue import hive_type
from fashion_pipeline.config import Config, is_remote
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.hour_manifest import visible_files
from fashion_pipeline.storage import LocalStorage
from fashion_pipeline.tables import CLICKSTREAM_TABLE, LAKE_TABLES, LakeTable

_DUCKDB_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "smallint": "SMALLINT",
                 "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP WITH TIME ZONE",
                 "binary": "BLOB"}


class QueryError(PipelineError):
    """The SQL file cannot be read, transpiled or run."""


def duckdb_type(data_type: DataType) -> str:
    if isinstance(data_type, ArrayType):
        return f"{duckdb_type(data_type.elementType)}[]"
    if isinstance(data_type, StructType):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duckdb_type(f.dataType)}' for f in data_type.fields) + ")"
    name = hive_type(data_type)
    return name.upper() if name.startswith("decimal") else _DUCKDB_TYPES[name]


def athena_to_duckdb(sql: str) -> str:
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        statements = sqlglot.transpile(sql, read="athena", write="duckdb")
    except ParseError as error:
        raise QueryError(f"not valid Athena SQL: {str(error).splitlines()[0]}") from None
    statements = [s for s in statements if s.strip()]
    if len(statements) != 1:
        raise QueryError(f"expected one statement, found {len(statements)}")
    return statements[0]


def lake_views(connection, config: Config, tables: tuple[LakeTable, ...] = LAKE_TABLES,
               filters: dict[str, str] | None = None) -> None:
    """`filters`: a WHERE condition per table name (the dashboard sees the lake as of its run date)."""
    filters = filters or {}
    lake_root = config.paths.lake_root
    if is_remote(lake_root):
        raise QueryError("local queries read a local lake; for s3:// use Athena")
    for table in tables:
        folder = Path(lake_root) / table.location
        columns = ", ".join(f'CAST(NULL AS {duckdb_type(f.dataType)}) AS "{f.name}"' for f in table.schema.fields)
        if table is CLICKSTREAM_TABLE:
            # Through the hour manifests (hour_manifest.py): a glob would read a compacted hour twice.
            files = visible_files(LocalStorage(), str(folder))
            pattern = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]" if files else None
        else:
            pattern = f"'{folder}/**/*.parquet'" if any(folder.rglob("*.parquet")) else None
        if pattern is not None:
            hive_types = ", ".join(f"'{f.name}': '{duckdb_type(f.dataType)}'" for f in table.partition_fields)
            options = f", hive_partitioning = true, hive_types = {{{hive_types}}}" if table.partition_keys else ""
            names = ", ".join(f'"{f.name}"' for f in table.schema.fields)
            source = (f"SELECT {names} FROM read_parquet({pattern}, union_by_name = true{options})")
        else:
            source = f"SELECT {columns} WHERE FALSE"
        if table.name in filters:
            source = f"SELECT * FROM ({source}) WHERE {filters[table.name]}"
        connection.execute(f'CREATE OR REPLACE VIEW "{table.name}" AS {source}')


def run_athena_sql(config: Config, sql: str, params: list | None = None):
    """The result of one Athena statement as a pandas DataFrame."""
    import duckdb

    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        lake_views(connection, config)
        try:
            return connection.execute(athena_to_duckdb(sql), params or []).fetchdf()
        except duckdb.Error as error:
            raise QueryError(str(error).splitlines()[0]) from None
    finally:
        connection.close()


def run_athena_file(config: Config, sql_file: Path, params: list | None = None):
    try:
        sql = sql_file.read_text(encoding="utf-8")
    except OSError as error:
        raise QueryError(f"cannot read {sql_file}: {error.strerror}") from None
    return run_athena_sql(config, sql, params)
