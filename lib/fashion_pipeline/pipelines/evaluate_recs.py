"""evaluate_recs: offline evaluation of the recommender. The `recs.holdout_days` up to the run
date are held out; the model is fitted on what comes before with exactly the nightly code, and
five strategies are compared by MAP@12, recall@12 and coverage (see recs/evaluation.py). The
report is printed and saved under `_reports/recs/`.

    spark-submit jobs/evaluate_recs.py --env emr --run-date 2020-09-22
"""
from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession

from fashion_pipeline.config import Config
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.recs.evaluation import EvaluationReport, evaluate
from fashion_pipeline.recs.recommend import read_sales_and_customers
from fashion_pipeline.recs.tracking import track_evaluation_run
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import reports_uri

RUN_DATE_HELP = "YYYY-MM-DD: the last held-out day (the model learns from the days before the holdout)"


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)


def run_evaluate_recs(spark: SparkSession, config: Config, storage: Storage, run_date: date) -> EvaluationReport:
    transactions_df, customers_df = read_sales_and_customers(spark, config)
    report = evaluate(spark, config, storage, transactions_df, customers_df, run_date, config.recs)
    storage.write_text(reports_uri(config, "recs", f"evaluation-{run_date}-{report.model_version}.json"), report.to_json())
    track_evaluation_run(config, report)
    return report
