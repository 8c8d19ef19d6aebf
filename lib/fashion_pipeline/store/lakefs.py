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
