"""The one place a SparkSession is built. Library code receives a session; it never makes one."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from fashion_pipeline.config import Config, find_conf_dir

PROJECT_CONF_DIR = find_conf_dir()


def build_spark(app_name: str, config: Config, extra_conf: dict[str, str] | None = None) -> SparkSession:
    spark_conf = config.spark
    if spark_conf.master and spark_conf.master.startswith("local"):
        _prepare_local_environment()
    builder = SparkSession.builder.appName(f"fashion-{app_name}")
    if spark_conf.master:
        builder = builder.master(spark_conf.master)
    settings = {
        "spark.sql.shuffle.partitions": str(spark_conf.shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        # Re-running a day replaces the partitions it writes and leaves the others alone.
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.ui.enabled": str(spark_conf.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
    }
    if spark_conf.master and spark_conf.master.startswith("local"):
        # A batch job on a laptop: the throughput collector beats G1 on two cores (bench/RESULTS.md).
        java_options = ["-XX:+UseParallelGC"]
        log_config = PROJECT_CONF_DIR / "log4j2.properties"
        if log_config.is_file():
            java_options.append(f"-Dlog4j2.configurationFile=file:{log_config}")
        settings["spark.driver.extraJavaOptions"] = " ".join(java_options)
    if spark_conf.driver_memory:
        settings["spark.driver.memory"] = spark_conf.driver_memory
    if spark_conf.jdbc_jar and Path(spark_conf.jdbc_jar).is_file():
        settings["spark.jars"] = spark_conf.jdbc_jar
    settings.update(spark_conf.extra)
    settings.update(extra_conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _prepare_local_environment() -> None:
    # Python workers must run the interpreter that has pyarrow and our package, and a laptop's
    # hostname may resolve to an address Spark cannot bind.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
