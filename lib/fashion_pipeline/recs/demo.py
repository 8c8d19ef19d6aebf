"""The recommender's part of `make demo`: train, evaluate, load DynamoDB, show one user."""
from __future__ import annotations

import time
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.storage import Storage, storage_for


def _indent(text: str) -> str:
    return "   " + text.replace("\n", "\n   ")


def latest_sales_day(spark: SparkSession, config: Config) -> date:
    from fashion_pipeline.recs.pipeline import read_curated

    transactions_df, _ = read_curated(spark, config)
    return transactions_df.agg(F.max("t_dat")).first()[0]


def run_recs_demo(
    config: Config, spark: SparkSession, storage: Storage | None = None, run_date: date | None = None,
    step_prefix: str = "6",
) -> dict:
    """Needs the curated tables (partition_raw) and moto running; returns figures for the summary."""
    from fashion_pipeline.recs.evaluation import run_recs_evaluation
    from fashion_pipeline.recs.pipeline import recs_uri, run_train_als
    from fashion_pipeline.recs.serving import read_recommendations, run_load_recommendations
    from fashion_pipeline.recs.show import article_names, format_recommendations
    from fashion_pipeline.lake import read_table

    storage = storage or storage_for(config)
    run_date = run_date or latest_sales_day(spark, config)

    started = time.monotonic()
    print(f"\n== {step_prefix}a. evaluate the recommender: hold out {config.recs.holdout_days} days up to {run_date}", flush=True)
    evaluation = run_recs_evaluation(spark, config, storage, run_date)
    print(_indent(evaluation.summary()))
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)

    started = time.monotonic()
    print(f"\n== {step_prefix}b. train_als --run-date {run_date}", flush=True)
    trained = run_train_als(spark, config, storage, run_date)
    print(_indent(trained.summary()))
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)

    started = time.monotonic()
    print(f"\n== {step_prefix}c. load DynamoDB serving tables (moto)", flush=True)
    loaded = run_load_recommendations(spark, config, storage, run_date)
    print(_indent(loaded.summary()))
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)

    # Show someone whose list mixes reasons: a returning customer reads best in a demo.
    sample = (
        read_table(spark, recs_uri(config, "recommendations"))
        .filter((F.col("run_date") == F.lit(run_date)) & F.array_contains("items.reason", "repurchase"))
        .select("customer_id").orderBy("customer_id").first()
    )
    shown_user = sample["customer_id"] if sample else None
    if shown_user:
        print(f"\n== {step_prefix}d. fashion recs show {shown_user}", flush=True)
        served = read_recommendations(config, shown_user)
        print(_indent(format_recommendations(served, article_names(config, [i.article_id for i in served.items]))))
    return {
        "run_date": run_date.isoformat(),
        "model_version": trained.model_version,
        "map_at_12": {r.strategy: round(r.map_at_12, 5) for r in evaluation.results},
        "blend_lift": round(evaluation.blend_lift, 3),
        "shown_user": shown_user,
    }
