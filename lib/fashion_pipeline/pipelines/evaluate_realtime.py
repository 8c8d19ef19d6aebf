"""evaluate_realtime: offline evaluation of the real-time rule. For every customer who buys in the
`recs.holdout_days` up to the run date, a browsing session is drawn by the clickstream simulator
before their first held-out purchase; MAP@12 of the nightly list alone is compared with the
real-time rule on that session (see realtime/evaluation.py for exactly how sessions are drawn).
The report is printed and saved under `_reports/recs/`.

    spark-submit jobs/evaluate_realtime.py --env emr --run-date 2020-09-22
"""
from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession

from fashion_pipeline.config import Config
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.pipelines.evaluate_recs import RUN_DATE_HELP  # the same holdout, the same model
from fashion_pipeline.realtime.evaluation import RealtimeEvaluationReport, evaluate_realtime
from fashion_pipeline.recs.recommend import read_sales_and_customers
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import reports_uri


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)


def run_evaluate_realtime(spark: SparkSession, config: Config, storage: Storage, run_date: date) -> RealtimeEvaluationReport:
    transactions_df, customers_df = read_sales_and_customers(spark, config)
    report = evaluate_realtime(spark, config, storage, transactions_df, customers_df, run_date)
    storage.write_text(reports_uri(config, "recs", f"realtime-evaluation-{run_date}-{report.model_version}.json"),
                       report.to_json())
    return report
