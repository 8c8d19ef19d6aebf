"""Reading raw files and writing lake tables: the Spark I/O edges of the batch jobs."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from fashion_pipeline.schemas import CORRUPT_RECORD, INGEST_DATE, SOURCE_FILE, TableSpec

INGEST_DATE_IN_PATH = r"ingest_date=(\d{4}-\d{2}-\d{2})"


def read_raw_csv(spark: SparkSession, spec: TableSpec, uris: list[str], with_lineage: bool = True) -> DataFrame:
    """Raw rows as strings, with the file and ingest date each came from. Never infers types.

    Without lineage the scan spares a struct of file metadata per row: once `_metadata` is read,
    Spark builds all of it for every row even where the columns are later dropped.
    """
    reader = (
        spark.read.schema(spec.raw_schema)
        .option("header", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        # RFC 4180 quoting ("" inside quotes), as H&M and every CSV writer we meet produce it.
        .option("quote", '"')
        .option("escape", '"')
        .option("encoding", "UTF-8")
        # Keep values exactly as they arrived; blanks become null, whitespace is a validation matter.
        .option("ignoreLeadingWhiteSpace", "false")
        .option("ignoreTrailingWhiteSpace", "false")
        # Descriptions may hold quoted line breaks; only the small dimension files need this.
        .option("multiLine", "true" if spec.primary_key else "false")
    )
    raw_df = reader.csv(uris)
    if not with_lineage:
        return raw_df
    return raw_df.withColumn(SOURCE_FILE, F.col("_metadata.file_path")).withColumn(
        INGEST_DATE, F.regexp_extract(F.col(SOURCE_FILE), INGEST_DATE_IN_PATH, 1)
    )


def write_table(
    df: DataFrame, uri: str, partition_by: tuple[str, ...] = (), plain_encoded: tuple[str, ...] = ()
) -> None:
    """Replace a table, or with partition columns only the partitions present in `df`.

    `plain_encoded` names near-unique columns (64-hex ids): Parquet would build a dictionary for
    them, overflow its page limit and fall back to plain encoding anyway, after the work.
    """
    writer = df.write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
    for column in plain_encoded:
        writer = writer.option(f"parquet.enable.dictionary#{column}", "false")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(uri)


def read_table(spark: SparkSession, uri: str, schema: StructType | None = None) -> DataFrame:
    reader = spark.read.schema(schema) if schema is not None else spark.read
    return reader.parquet(uri)
