"""Directory-level operations on the lake through Hadoop's FileSystem, so that the same call works
on local disk and on s3:// (EMRFS) from the driver of any cluster."""
from __future__ import annotations

from pyspark.sql import SparkSession


def _filesystem_and_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def path_exists(spark: SparkSession, uri: str) -> bool:
    filesystem, path = _filesystem_and_path(spark, uri)
    return bool(filesystem.exists(path))


def delete_path(spark: SparkSession, uri: str) -> None:
    """Remove a file or directory tree; a missing path is fine."""
    filesystem, path = _filesystem_and_path(spark, uri)
    filesystem.delete(path, True)


def replace_partitions(spark: SparkSession, staged_uri: str, table_uri: str, partitions: list[str]) -> None:
    """Make each partition folder of a table (`"sales_date=2020-09-01"`) what the staged copy holds:
    the staged folder moves in, or where the staging has none, the table's folder is removed.

    Everything is written before anything moves, so a failure while writing leaves the table as it
    was, and a failure here leaves at most one partition between its two renames (the re-run
    completes it). Each swap is two renames, atomic on HDFS and local disk; on S3 (EMRFS) a rename
    copies, which for the partitions of an aggregate is a few small files.
    """
    filesystem, _ = _filesystem_and_path(spark, table_uri)
    jvm_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    retired_root = f"{staged_uri.rstrip('/')}/_retired"
    for partition in partitions:
        staged = jvm_path(f"{staged_uri.rstrip('/')}/{partition}")
        target = jvm_path(f"{table_uri.rstrip('/')}/{partition}")
        if filesystem.exists(target):
            retired = jvm_path(f"{retired_root}/{partition}")
            filesystem.mkdirs(retired.getParent())
            _rename(filesystem, target, retired)
        if filesystem.exists(staged):
            filesystem.mkdirs(target.getParent())
            _rename(filesystem, staged, target)
    filesystem.delete(jvm_path(retired_root), True)


def _rename(filesystem, source, target) -> None:
    if not filesystem.rename(source, target):
        raise OSError(f"could not move {source.toString()} to {target.toString()}")
