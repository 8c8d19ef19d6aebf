"""train_als: the nightly recommender run for one day, and what it leaves in the lake.

    spark-submit jobs/train_als.py --env emr --run-date 2020-09-22

Under `<lake_root>/recs/`:
- `recommendations/run_date=D/`: one row per customer: items (article_id, score, reason),
  model_version, generated_at. Customers with history get the blend; the others the popular
  articles of their segment (reason "popular").
- `item_neighbors/run_date=D/`: article_id, neighbors (article_id, score), model_version, generated_at.
- `models/version=V/`: model.json (parameters, counts, the served strategy and the ranker's
  validation) and ranker.json (its trees). V is derived from D and the parameters.
- `factors/version=F/`: user_index, article_index (the id mapping tables), user_factors and
  item_factors. F is derived from D and the ALS parameters alone: the ranker's training a week
  later reads them instead of fitting ALS again.
Customers with history get the strategy the ranker's validation chose (recs/ranker_training.py).
Re-running a day replaces that day's partitions and that version's files.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.recs.model import factors_version, item_neighbors, model_version
from fashion_pipeline.recs.ranker import FEATURES
from fashion_pipeline.recs.recommend import (
    factors_uri,
    fit_for_serving,
    model_uri,
    read_sales_and_customers,
    recommend_all,
)
from fashion_pipeline.recs.tracking import track_train_run
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import (
    ITEM_NEIGHBORS_TABLE,
    RECOMMENDATIONS_TABLE,
    reports_uri,
)

RUN_DATE_HELP = "YYYY-MM-DD: the last day of sales the run uses (inclusive)"


@dataclass
class TrainReport:
    run_date: str
    model_version: str
    generated_at: str
    interactions: int = 0
    users_with_history: int = 0
    cold_start_users: int = 0
    candidates: int = 0
    articles_with_neighbors: int = 0
    served_strategy: str = "blend"
    ranker: dict = field(default_factory=dict)
    recommendations_by_reason: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def summary(self) -> str:
        reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(self.recommendations_by_reason.items()))
        return (
            f"train_als run_date={self.run_date} model_version={self.model_version}: "
            f"{self.interactions:,} interactions, {self.users_with_history:,} users served {self.served_strategy}, "
            f"{self.cold_start_users:,} cold-start users, {self.candidates:,} candidate articles, "
            f"{self.articles_with_neighbors:,} articles with neighbours; items by reason: {reasons}; "
            f"{self.seconds:.0f} s -> {self.outputs.get('recommendations', '')}"
        )


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)


def run_train_als(spark: SparkSession, config: Config, storage: Storage, run_date: date) -> TrainReport:
    started = datetime.now(timezone.utc)
    recs = config.recs
    version = model_version(run_date, recs)
    generated_at = started.isoformat(timespec="seconds")
    report = TrainReport(run_date=run_date.isoformat(), model_version=version, generated_at=generated_at)
    transactions_df, customers_df = read_sales_and_customers(spark, config)

    fit, ranker = fit_for_serving(spark, config, storage, transactions_df, customers_df, run_date, recs)
    if ranker is not None:
        print(ranker.summary(), flush=True)
        report.ranker = ranker.to_dict()
        storage.write_text(model_uri(config, version) + "/ranker.json", json.dumps(
            {"features": list(FEATURES), **ranker.to_dict(),
             "model": ranker.model.to_dict() if ranker.model is not None else None}, sort_keys=True))
    report.served_strategy = fit.context.served
    stamp = {"model_version": F.lit(version), "generated_at": F.lit(generated_at), "run_date": F.lit(run_date)}

    recommendations_df = recommend_all(spark, fit, customers_df).withColumns(stamp)
    write_table(recommendations_df, RECOMMENDATIONS_TABLE.uri(config), partition_by=RECOMMENDATIONS_TABLE.partition_keys)
    neighbors_df = item_neighbors(spark, fit).withColumns(stamp)
    write_table(neighbors_df, ITEM_NEIGHBORS_TABLE.uri(config), partition_by=ITEM_NEIGHBORS_TABLE.partition_keys)

    written_df = read_table(spark, RECOMMENDATIONS_TABLE.uri(config)).filter(F.col("run_date") == F.lit(run_date))
    counts = written_df.agg(
        F.count_if(~F.col("cold_start")).alias("warm"), F.count_if(F.col("cold_start")).alias("cold")
    ).first()
    by_reason = written_df.select(F.explode("items.reason").alias("reason")).groupBy("reason").count().collect()
    report.interactions = fit.interactions
    report.users_with_history, report.cold_start_users = counts["warm"], counts["cold"]
    report.candidates = fit.n_candidates
    report.recommendations_by_reason = {row["reason"]: row["count"] for row in by_reason}
    report.articles_with_neighbors = (
        read_table(spark, ITEM_NEIGHBORS_TABLE.uri(config)).filter(F.col("run_date") == F.lit(run_date)).count()
    )
    report.outputs = {
        "recommendations": RECOMMENDATIONS_TABLE.uri(config, run_date=run_date),
        "item_neighbors": ITEM_NEIGHBORS_TABLE.uri(config, run_date=run_date),
        "model": model_uri(config, version),
        "factors": factors_uri(config, factors_version(run_date, recs)),
    }
    report.seconds = (datetime.now(timezone.utc) - started).total_seconds()
    storage.write_text(model_uri(config, version) + "/model.json", json.dumps(
        {"model_version": version, "run_date": run_date.isoformat(), "generated_at": generated_at,
         "parameters": recs.model_dump(mode="json"), "interactions": fit.interactions,
         "candidates": fit.n_candidates, "served_strategy": report.served_strategy, "ranker": report.ranker,
         "factors": report.outputs["factors"]}, indent=2, sort_keys=True))
    storage.write_text(reports_uri(config, "recs", f"train_als-{run_date}.json"), report.to_json())
    track_train_run(config, storage, report)
    return report
