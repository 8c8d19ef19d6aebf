"""load_recommendations: one run date's recommendations and item neighbours, from the lake into
the DynamoDB serving tables the website reads (written from the executors, see recs/dynamodb.py).

    spark-submit jobs/load_recommendations.py --env emr --run-date 2020-09-22

A table that already serves a newer run date is not loaded (recs/dynamodb.py, recency guard):
the job fails in one line before writing anything. `--allow-older` rolls back on purpose.
Re-loading the day a table serves is allowed and leaves the same items.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.aws import aws_client
from fashion_pipeline.config import Config
from fashion_pipeline.errors import MissingInputError, PipelineError
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table
from fashion_pipeline.lakefs import path_exists
from fashion_pipeline.recs.dynamodb import (
    DynamoSettings,
    LoadStamp,
    OlderLoadError,
    claim_load,
    complete_load,
    ensure_serving_tables,
    older_load_message,
    read_load_marker,
    write_partitions,
)
from fashion_pipeline.recs.items import ARTICLE_KEY, USER_KEY, neighbor_item, recommendation_item
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import ITEM_NEIGHBORS_TABLE, RECOMMENDATIONS_TABLE

RUN_DATE_HELP = "YYYY-MM-DD: the run date of the train_als output to load"


class LoadReconciliationError(PipelineError):
    """Rows read from the lake do not equal items written to DynamoDB."""


@dataclass
class LoadReport:
    run_date: str
    tables: dict[str, dict] = field(default_factory=dict)
    served_before: dict[str, str | None] = field(default_factory=dict)  # run date each table served

    def summary(self) -> str:
        lines = [
            f"{table}: {t['rows']:,} rows -> {t['items']:,} items in {t['calls']:,} BatchWriteItem calls "
            f"({t['unprocessed_retries']} unprocessed retries)"
            for table, t in self.tables.items()
        ]
        lines += [f"{table}: rolled back from run_date {before} (--allow-older)"
                  for table, before in self.served_before.items() if before and before > self.run_date]
        return "\n".join(lines)


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)
    parser.add_argument(
        "--allow-older", action="store_true",
        help="load even if a table serves a newer run date: a deliberate rollback",
    )


def _recommendation_row_item(row: Row) -> dict:
    return recommendation_item(row["customer_id"], row["items"], row["model_version"], row["generated_at"])


def _neighbor_row_item(row: Row) -> dict:
    return neighbor_item(row["article_id"], row["neighbors"], row["model_version"], row["generated_at"])


def run_load_recommendations(
    spark: SparkSession, config: Config, storage: Storage, run_date: date, allow_older: bool = False,
) -> LoadReport:
    """Load one run date's recommendations and item neighbours into the serving tables."""
    report = LoadReport(run_date=run_date.isoformat())
    loads = (
        (RECOMMENDATIONS_TABLE, config.names.recommendations_table, USER_KEY, _recommendation_row_item),
        (ITEM_NEIGHBORS_TABLE, config.names.item_neighbors_table, ARTICLE_KEY, _neighbor_row_item),
    )
    for lake_table, _, _, _ in loads:
        if not path_exists(spark, lake_table.uri(config, run_date=run_date)):
            raise MissingInputError(
                f"no {lake_table.name} for run_date {run_date} in the lake: run `{lake_table.written_by} "
                f"--run-date {run_date}` first"
            )
    ensure_serving_tables(config)
    client = aws_client("dynamodb", config)
    planned = []
    # Both tables are checked before either is claimed or written, so a refusal changes nothing.
    for lake_table, dynamo_table, key, to_item in loads:
        rows_df = read_table(spark, lake_table.uri(config), lake_table.schema).filter(F.col("run_date") == F.lit(run_date))
        stamp = _stamp(rows_df, run_date)
        served = read_load_marker(client, dynamo_table, key)
        report.served_before[dynamo_table] = served[0].run_date if served else None
        if served and served[0].run_date > stamp.run_date and not allow_older:
            raise OlderLoadError(older_load_message(dynamo_table, stamp, *served))
        planned.append((rows_df, dynamo_table, key, to_item, stamp))
    for _, dynamo_table, key, _, stamp in planned:
        claim_load(client, dynamo_table, key, stamp, allow_older)
    for rows_df, dynamo_table, key, to_item, stamp in planned:
        rows = rows_df.count()
        stats = write_partitions(rows_df, DynamoSettings.from_config(config, dynamo_table), to_item, config.recs.load_partitions)
        report.tables[dynamo_table] = {"rows": rows, **asdict(stats)}
        if stats.items != rows:
            raise LoadReconciliationError(f"{dynamo_table}: {rows} rows read but {stats.items} items written")
        complete_load(client, dynamo_table, key, stamp)
    return report


def _stamp(rows_df, run_date: date) -> LoadStamp:
    # train_als stamps every row of a run date alike, so max() is that one value.
    row = rows_df.agg(F.max("model_version").alias("v"), F.max("generated_at").alias("g")).first()
    return LoadStamp(run_date.isoformat(), row["v"] or "", row["g"] or "")
