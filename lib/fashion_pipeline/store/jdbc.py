"""Spark JDBC reads from the store database: partitioned, with a fetch size, and always naming
the driver class (without it a second read in one session fails with a DriverWrapper error).

The password is passed as the `password` option, which Spark redacts from plan strings
(`spark.sql.redaction.options.regex` covers password and url); it is never part of the URL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from fashion_pipeline.config import Config
from fashion_pipeline.store.credentials import RdsConnection
from fashion_pipeline.store.database import StoreUnavailableError

HEX_DIGITS = "0123456789abcdef"
DECIMAL_DIGITS = "0123456789"
_PSQL_MESSAGE = re.compile(r"(?:PSQLException|SQLException|ConnectException): ([^\n]+)")


@dataclass(frozen=True)
class JdbcSource:
    """Everything a read needs, built once per job from the configuration and the credentials."""

    connection: RdsConnection
    driver: str
    fetch_size: int
    num_partitions: int
    connect_timeout_s: int

    @classmethod
    def from_config(cls, config: Config, connection: RdsConnection) -> "JdbcSource":
        rds = config.rds
        return cls(connection, rds.jdbc_driver, rds.fetch_size, rds.num_partitions, rds.connect_timeout_s)

    def _reader(self, spark: SparkSession):
        return (
            spark.read.format("jdbc")
            .option("url", self.connection.jdbc_url)
            .option("driver", self.driver)
            .option("user", self.connection.user)
            .option("password", self.connection.password)
            .option("fetchsize", str(self.fetch_size))
            .option("connectTimeout", str(self.connect_timeout_s))
            .option("loginTimeout", str(self.connect_timeout_s))
            .option("ApplicationName", "fashion-pipeline")
        )

    def query_one_row(self, spark: SparkSession, sql: str) -> dict:
        """A one-row answer (bounds, counts) on the driver. Also the connectivity check: an
        unreachable database or a wrong password fails here, before anything is written."""
        try:
            rows = self._reader(spark).option("query", sql).load().collect()
        except Exception as error:  # py4j and pyspark wrap the driver's SQLException differently
            raise StoreUnavailableError(describe_jdbc_failure(error, self.connection)) from None
        if len(rows) != 1:
            raise ValueError(f"expected one row, got {len(rows)} from: {sql}")
        return rows[0].asDict()

    def read_by_key_range(
        self, spark: SparkSession, sql: str, key: str, lower: int, upper: int, schema: StructType
    ) -> DataFrame:
        """`sql` as a subquery, split into `num_partitions` ranges of the integer column `key`."""
        source_df = (
            self._reader(spark)
            .option("dbtable", f"({sql}) AS source")
            .option("partitionColumn", key)
            .option("lowerBound", str(lower))
            .option("upperBound", str(upper + 1))
            .option("numPartitions", str(self.num_partitions))
            .load()
        )
        return _conform(source_df, schema)

    def read_by_prefix(
        self, spark: SparkSession, sql: str, key: str, alphabet: str, schema: StructType
    ) -> DataFrame:
        """`sql` as a subquery, split by the first character of the text column `key` (hex or
        decimal ids have no integer range to split on)."""
        predicates = prefix_predicates(key, alphabet, self.num_partitions)
        source_df = self._reader(spark).jdbc(
            self.connection.jdbc_url, f"({sql}) AS source", predicates=predicates,
            properties={
                "driver": self.driver, "user": self.connection.user, "password": self.connection.password,
                "fetchsize": str(self.fetch_size), "connectTimeout": str(self.connect_timeout_s),
            },
        )
        return _conform(source_df, schema)


class JdbcDriverMissingError(StoreUnavailableError):
    """The JDBC driver class is not on Spark's class path."""


def require_jdbc_driver(spark: SparkSession, driver: str) -> None:
    """Fail before anything is read when the driver jar was not handed to Spark: otherwise the
    first read fails inside a Spark job with "No suitable driver", far from the cause."""
    try:
        # Spark's own lookup (the thread's loader, then Spark's), as its JDBC source does.
        spark.sparkContext._jvm.org.apache.spark.util.Utils.classForName(driver, False, False)
    except Exception:  # py4j wraps the ClassNotFoundException
        raise JdbcDriverMissingError(
            f"the JDBC driver {driver} is not on Spark's class path: pass the PostgreSQL JDBC jar with "
            "--jars (locally /usr/share/java/postgresql.jar from Debian's libpostgresql-jdbc-java, which "
            "`make venv` puts on the class path; on EMR the release's jdbc_jar, which the nightly steps pass)"
        ) from None


def prefix_predicates(key: str, alphabet: str, parts: int) -> list[str]:
    """WHERE clauses that split `key` by its first character into at most `parts` ranges and
    together cover every value, including ones outside the alphabet and null."""
    parts = max(1, min(parts, len(alphabet)))
    cut_points = [alphabet[(len(alphabet) * i) // parts] for i in range(1, parts)]
    if not cut_points:
        return ["TRUE"]
    predicates = [f"({key} < '{cut_points[0]}' OR {key} IS NULL)"]
    predicates += [f"({key} >= '{low}' AND {key} < '{high}')" for low, high in zip(cut_points, cut_points[1:])]
    predicates.append(f"{key} >= '{cut_points[-1]}'")
    return predicates


def describe_jdbc_failure(error: Exception, connection: RdsConnection) -> str:
    """One line naming the database and the driver's own reason, without a stack trace."""
    text = str(error)
    match = _PSQL_MESSAGE.search(text)
    reason = match.group(1).strip() if match else (text.strip().splitlines() or [type(error).__name__])[0]
    hint = connection.local_hint(reason)
    if "relation" in reason and "does not exist" in reason:
        hint = "; the store schema is missing: run `fashion store migrate`"
    return f"cannot read from PostgreSQL {connection.where}: {reason[:300]}{hint}"


def _conform(source_df: DataFrame, schema: StructType) -> DataFrame:
    # PostgreSQL smallint arrives as short and numeric as decimal(38,x) without a declared scale:
    # cast to the declared lake types so every run writes the same schema.
    return source_df.select(*[source_df[f.name].cast(f.dataType).alias(f.name) for f in schema.fields])
