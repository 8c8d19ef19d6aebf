"""The one place a SparkSession is built. Library code receives a session; it never makes one."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from fashion_pipeline.config import Config
from fashion_pipeline.local_spark import active_conf_dir


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
    if spark_conf.driver_memory:
        settings["spark.driver.memory"] = spark_conf.driver_memory
    if spark_conf.jdbc_jar:
        # A missing jar is not this job's failure unless it reads the store: the JDBC jobs check
        # for the driver class first (store.jdbc.require_jdbc_driver) and say what to pass.
        if Path(spark_conf.jdbc_jar).is_file() or "://" in spark_conf.jdbc_jar:
            settings["spark.jars"] = spark_conf.jdbc_jar
        else:
            logging.getLogger(__name__).warning("spark.jdbc_jar %s does not exist: not added", spark_conf.jdbc_jar)
    settings.update(spark_conf.extra)
    settings.update(extra_conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _prepare_local_environment() -> None:
    # Spark's own configuration for local runs (conf/spark: JVM options, class path, logging,
    # loopback), the same for in-process sessions as for spark-submit: pyspark starts the driver
    # JVM through spark-submit, which reads SPARK_CONF_DIR. An explicit SPARK_CONF_DIR of the
    # user's wins.
    conf_dir = active_conf_dir()
    if (conf_dir / "spark-defaults.conf").is_file():
        os.environ.setdefault("SPARK_CONF_DIR", str(conf_dir))
    # This process is the driver: its Python workers run the interpreter that has pyarrow and our
    # package (spark-env.sh derives the same for spark-submit, where the JVM starts the driver).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
