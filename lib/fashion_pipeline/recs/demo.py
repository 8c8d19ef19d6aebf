"""The recommender's part of `make demo`: train, evaluate, load DynamoDB, show one user."""
from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.console import demo_step, say
from fashion_pipeline.storage import Storage, storage_for


def latest_sales_day(spark: SparkSession, config: Config) -> date:
    from fashion_pipeline.tables import TRANSACTIONS_TABLE, read_lake_table

    transactions_df = read_lake_table(spark, config, TRANSACTIONS_TABLE)
    return transactions_df.agg(F.max("t_dat")).first()[0]


def run_recs_demo(
    config: Config, spark: SparkSession, storage: Storage | None = None, run_date: date | None = None,
    step_prefix: str = "6",
) -> dict:
    """Needs the curated tables (partition_raw) and moto running; returns figures for the summary."""
    from fashion_pipeline.lake import read_table
    from fashion_pipeline.pipelines.evaluate_recs import run_evaluate_recs
    from fashion_pipeline.pipelines.load_recommendations import run_load_recommendations
    from fashion_pipeline.pipelines.train_als import run_train_als
    from fashion_pipeline.recs.reader import read_recommendations
    from fashion_pipeline.recs.show import article_names, format_recommendations
    from fashion_pipeline.tables import RECOMMENDATIONS_TABLE

    storage = storage or storage_for(config)
    run_date = run_date or latest_sales_day(spark, config)

    with demo_step(f"{step_prefix}a. evaluate the recommender: hold out {config.recs.holdout_days} days up to {run_date}"):
        evaluation = run_evaluate_recs(spark, config, storage, run_date)
        say(evaluation.summary())

    with demo_step(f"{step_prefix}b. train_als --run-date {run_date}"):
        trained = run_train_als(spark, config, storage, run_date)
        say(trained.summary())

    with demo_step(f"{step_prefix}c. load DynamoDB serving tables (moto)"):
        # A re-run of the demo replays its own days: a later step's night (the Airflow DAG) has
        # served a newer day since, and the demo means to go back to this one (--allow-older).
        loaded = run_load_recommendations(spark, config, storage, run_date, allow_older=True)
        say(loaded.summary())

    # Show someone whose list mixes reasons: a returning customer reads best in a demo.
    sample = (
        read_table(spark, RECOMMENDATIONS_TABLE.uri(config))
        .filter((F.col("run_date") == F.lit(run_date)) & F.array_contains("items.reason", "repurchase"))
        .select("customer_id").orderBy("customer_id").first()
    )
    shown_user = sample["customer_id"] if sample else None
    if shown_user:
        with demo_step(f"{step_prefix}d. fashion recs show {shown_user}"):
            served = read_recommendations(config, shown_user)
            say(format_recommendations(served, article_names(config, [i.article_id for i in served.items])))
    return {
        "run_date": run_date.isoformat(),
        "model_version": trained.model_version,
        "map_at_12": {r.strategy: round(r.map_at_12, 5) for r in evaluation.results},
        "blend_lift": round(evaluation.blend_lift, 3),
        "shown_user": shown_user,
    }
