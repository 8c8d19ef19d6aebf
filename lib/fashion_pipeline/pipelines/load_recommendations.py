"""load_recommendations: one run date's recommendations and item neighbours, from the lake into
the DynamoDB serving tables the website reads (written from the executors, see recs/dynamodb.py).

    spark-submit jobs/load_recommendations.py --env emr --run-date 2020-09-22
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.errors import MissingInputError, PipelineError
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table
from fashion_pipeline.lakefs import path_exists
from fashion_pipeline.recs.dynamodb import (
    DynamoSettings,
    ensure_serving_tables,
    write_partitions,
)
from fashion_pipeline.recs.items import neighbor_item, recommendation_item
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import ITEM_NEIGHBORS_TABLE, RECOMMENDATIONS_TABLE

RUN_DATE_HELP = "YYYY-MM-DD: the run date of the train_als output to load"


class LoadReconciliationError(PipelineError):
    """Rows read from the lake do not equal items written to DynamoDB."""


@dataclass
class LoadReport:
    run_date: str
    tables: dict[str, dict] = field(default_factory=dict)

    def summary(self) -> str:
        return "\n".join(
            f"{table}: {t['rows']:,} rows -> {t['items']:,} items in {t['calls']:,} BatchWriteItem calls "
            f"({t['unprocessed_retries']} unprocessed retries)"
            for table, t in self.tables.items()
        )


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)


def _recommendation_row_item(row: Row) -> dict:
    return recommendation_item(row["customer_id"], row["items"], row["model_version"], row["generated_at"])


def _neighbor_row_item(row: Row) -> dict:
    return neighbor_item(row["article_id"], row["neighbors"], row["model_version"], row["generated_at"])


def run_load_recommendations(spark: SparkSession, config: Config, storage: Storage, run_date: date) -> LoadReport:
    """Load one run date's recommendations and item neighbours into the serving tables."""
    report = LoadReport(run_date=run_date.isoformat())
    loads = (
        (RECOMMENDATIONS_TABLE, config.names.recommendations_table, _recommendation_row_item),
        (ITEM_NEIGHBORS_TABLE, config.names.item_neighbors_table, _neighbor_row_item),
    )
    for lake_table, _, _ in loads:
        if not path_exists(spark, lake_table.uri(config, run_date=run_date)):
            raise MissingInputError(
                f"no {lake_table.name} for run_date {run_date} in the lake: run `{lake_table.written_by} "
                f"--run-date {run_date}` first"
            )
    ensure_serving_tables(config)
    for lake_table, dynamo_table, to_item in loads:
        rows_df = read_table(spark, lake_table.uri(config), lake_table.schema).filter(F.col("run_date") == F.lit(run_date))
        rows = rows_df.count()
        stats = write_partitions(rows_df, DynamoSettings.from_config(config, dynamo_table), to_item, config.recs.load_partitions)
        report.tables[dynamo_table] = {"rows": rows, **asdict(stats)}
        if stats.items != rows:
            raise LoadReconciliationError(f"{dynamo_table}: {rows} rows read but {stats.items} items written")
    return report
