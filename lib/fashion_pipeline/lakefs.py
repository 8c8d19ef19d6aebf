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


def publish_files(spark: SparkSession, staged_uri: str, table_uri: str, name: str) -> list[str]:
    """Move the data files of a staged copy into the same partition folders of the table, named
    `<name>.parquet` (or `<name>-<k>.parquet` when a folder holds several), replacing files of
    that name: publishing the same staged content twice leaves one copy.

    Readers that list the partition folders (Athena, Spark without a metadata log) see each file
    whole or not at all: it is written under `_staging` first and appears by a rename.
    Returns the published paths, in order.
    """
    filesystem, staged_root = _filesystem_and_path(spark, staged_uri)
    if not filesystem.exists(staged_root):
        return []
    jvm_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    root_text = staged_root.toUri().getPath().rstrip("/")
    by_folder: dict[str, list[str]] = {}
    files = filesystem.listFiles(staged_root, True)
    while files.hasNext():
        path = files.next().getPath()
        if path.getName().startswith(("_", ".")):
            continue
        relative_folder = path.getParent().toUri().getPath()[len(root_text):].strip("/")
        by_folder.setdefault(relative_folder, []).append(path.toString())
    published = []
    for folder, sources in sorted(by_folder.items()):
        target_folder = f"{table_uri.rstrip('/')}/{folder}" if folder else table_uri.rstrip("/")
        filesystem.mkdirs(jvm_path(target_folder))
        # An earlier attempt at the same name may have split the folder differently.
        for earlier in filesystem.globStatus(jvm_path(f"{target_folder}/{name}*.parquet")) or []:
            filesystem.delete(earlier.getPath(), False)
        for k, source in enumerate(sorted(sources)):
            suffix = f"-{k}" if len(sources) > 1 else ""
            target = jvm_path(f"{target_folder}/{name}{suffix}.parquet")
            _rename(filesystem, jvm_path(source), target)
            published.append(target.toString())
    return published


def total_size(spark: SparkSession, uris: list[str]) -> int:
    """Bytes of the given files together (a listing's lengths, no file is opened)."""
    total = 0
    for uri in uris:
        filesystem, path = _filesystem_and_path(spark, uri)
        total += int(filesystem.getFileStatus(path).getLen())
    return total


def partition_folders(spark: SparkSession, table_uri: str, key: str) -> dict[str, str]:
    """`{value: folder URI}` of a table's `key=value` folders, one listing of the table's top
    level (the files inside are not listed); empty when the table does not exist."""
    filesystem, path = _filesystem_and_path(spark, table_uri)
    if not filesystem.exists(path):
        return {}
    prefix = f"{key}="
    folders = {}
    for status in filesystem.listStatus(path):
        name = status.getPath().getName()
        if status.isDirectory() and name.startswith(prefix):
            folders[name[len(prefix):]] = status.getPath().toString()
    return folders
