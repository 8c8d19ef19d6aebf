"""Offline evaluation: hold out the last days before the run date, compare strategies by MAP@12.

The model is fitted on sales up to `run_date - holdout_days` with exactly the code the nightly
job runs, then every strategy predicts 12 articles for each customer who bought something in the
held-out days:
- popular_last_week: the articles with most units in the last `popular_days`, the same for all;
- trending: the best candidates by time-decayed units;
- repurchase_trending: the customer's own recent purchases, then trending;
- als: ALS alone over the candidates;
- blend: ALS + trend + repurchase with hand-set weights (segment popularity for cold starts);
- als_unseen, popular_unseen: ALS alone and last week's best sellers, without what the customer
  already bought (the seen-item policy some stores need);
- ranker: the learned ranker (recs/ranker_training.py), trained on the week before the holdout;
- served: what train_als would have served on the last training day: the ranker or, when it lost
  on its validation buyers, the best single strategy (segment popularity for cold starts).
Customers a strategy cannot score (no history) get trending, except in the blend and served,
which have their own cold-start rule.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config, ConfigError, RecsConfig
from fashion_pipeline.recs import signals
from fashion_pipeline.recs.metrics import (
    actual_purchases,
    average_precision_column,
    recall_column,
)
from fashion_pipeline.recs.model import RecommenderFit, model_version, score_users
from fashion_pipeline.recs.recommend import (
    cold_start_recommendations,
    fit_for_serving,
    read_sales_and_customers,
)
from fashion_pipeline.recs.tracking import SweepTracker
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import ARTICLES_TABLE, read_lake_table, reports_uri

STRATEGIES = (
    "popular_last_week", "trending", "repurchase_trending", "als", "blend", "als_unseen", "popular_unseen", "ranker",
    "served",
)
BASELINE_FOR_GOAL = "repurchase_trending"
BLEND_GOAL = 1.10


@dataclass
class StrategyResult:
    strategy: str
    map_at_12: float
    recall_at_12: float
    coverage: float  # distinct articles recommended to the evaluated customers / catalogue


@dataclass
class EvaluationReport:
    run_date: str
    train_until: str
    holdout: list[str]
    model_version: str
    parameters: dict
    evaluated_customers: int
    cold_start_customers: int
    catalogue_articles: int
    results: list[StrategyResult] = field(default_factory=list)
    served_strategy: str = "blend"
    ranker: dict = field(default_factory=dict)
    created_at: str = ""

    def result(self, strategy: str) -> StrategyResult:
        return next(r for r in self.results if r.strategy == strategy)

    @property
    def best_single(self) -> StrategyResult:
        """The best of the strategies that are not combinations learned or chosen from the others."""
        singles = [r for r in self.results if r.strategy not in ("ranker", "served")]
        return max(singles, key=lambda r: r.map_at_12)

    @property
    def blend_lift(self) -> float:
        baseline = self.result(BASELINE_FOR_GOAL).map_at_12
        return self.result("blend").map_at_12 / baseline if baseline else float("inf")

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "blend_lift_over_repurchase_trending": self.blend_lift}, indent=2, sort_keys=True)

    def summary(self) -> str:
        lines = [
            f"recs evaluation: train up to {self.train_until}, held out {self.holdout[0]}..{self.holdout[-1]}, "
            f"{self.evaluated_customers:,} customers who bought ({self.cold_start_customers:,} without history), "
            f"model {self.model_version}",
            f"{'strategy':<22} {'MAP@12':>9} {'recall@12':>10} {'coverage':>9}",
        ]
        for r in self.results:
            lines.append(f"{r.strategy:<22} {r.map_at_12:>9.5f} {r.recall_at_12:>10.5f} {r.coverage:>9.4f}")
        verdict = "meets" if self.blend_lift >= BLEND_GOAL else "misses"
        lines.append(f"blend / repurchase_trending = {self.blend_lift:.3f}x ({verdict} the {BLEND_GOAL:.2f}x goal)")
        served, best = self.result("served"), self.best_single
        lines.append(f"served = {self.served_strategy} ({self.ranker.get('reason', 'ranker disabled')}); "
                     f"served / best single strategy ({best.strategy}) = "
                     f"{served.map_at_12 / best.map_at_12 if best.map_at_12 else float('inf'):.3f}x")
        return "\n".join(lines)


def holdout_window(run_date: date, holdout_days: int) -> tuple[date, date, date]:
    """(last training day, first held-out day, last held-out day)."""
    train_until = run_date - timedelta(days=holdout_days)
    return train_until, train_until + timedelta(days=1), run_date


def evaluate(
    spark: SparkSession, config: Config, storage: Storage, transactions_df: DataFrame, customers_df: DataFrame,
    run_date: date, recs: RecsConfig,
) -> EvaluationReport:
    train_until, first_held_out, last_held_out = holdout_window(run_date, recs.holdout_days)
    version = model_version(train_until, recs)
    fit, ranker = fit_for_serving(spark, config, storage, transactions_df, customers_df, train_until, recs)
    if ranker is not None:
        print(ranker.summary(), flush=True)
    actual_df = actual_purchases(signals.filter_days(transactions_df, first_held_out, last_held_out)).cache()
    evaluated = actual_df.count()
    predictions_df = strategy_predictions(spark, fit, transactions_df, customers_df, actual_df)
    n_articles = read_lake_table(spark, config, ARTICLES_TABLE).count()
    results = [
        StrategyResult(strategy, **metrics, coverage=covered / n_articles if n_articles else 0.0)
        for strategy, metrics, covered in strategy_metrics(actual_df, predictions_df, evaluated)
    ]
    counts = actual_df.join(fit.user_factors_df, on="customer_id", how="left_anti").count()
    report = EvaluationReport(
        run_date=run_date.isoformat(), train_until=train_until.isoformat(),
        holdout=[first_held_out.isoformat(), last_held_out.isoformat()], model_version=version,
        parameters=recs.model_dump(mode="json"), evaluated_customers=evaluated,
        cold_start_customers=counts, catalogue_articles=n_articles, results=results,
        served_strategy=fit.context.served, ranker=ranker.to_dict() if ranker is not None else {},
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    actual_df.unpersist()
    return report


def strategy_metrics(actual_df: DataFrame, predictions_df: DataFrame, evaluated: int):
    """(strategy, {map_at_12, recall_at_12}, distinct articles recommended) for every strategy.

    Sums are divided by every customer who bought, so one without a prediction scores 0."""
    predictions_df = predictions_df.cache()
    scored_df = predictions_df.join(actual_df, on="customer_id", how="inner").select(
        "strategy",
        average_precision_column(F.col("actual"), F.col("predicted")).alias("ap"),
        recall_column(F.col("actual"), F.col("predicted")).alias("recall"),
    )
    # One row per strategy: safe to collect.
    sums = {row["strategy"]: row for row in scored_df.groupBy("strategy").agg(
        F.sum("ap").alias("ap"), F.sum("recall").alias("recall")).collect()}
    covered = {row["strategy"]: row["count"] for row in (
        predictions_df.select("strategy", F.explode("predicted").alias("article_id")).distinct()
        .groupBy("strategy").count().collect())}
    predictions_df.unpersist()
    results = []
    for strategy in STRATEGIES:
        if strategy not in covered:
            continue  # not produced (the ranker when it could not be trained)
        row = sums.get(strategy)
        metrics = {
            "map_at_12": float(row["ap"]) / evaluated if row and evaluated else 0.0,
            "recall_at_12": float(row["recall"]) / evaluated if row and evaluated else 0.0,
        }
        results.append((strategy, metrics, covered.get(strategy, 0)))
    return results


def strategy_predictions(
    spark: SparkSession, fit: RecommenderFit, transactions_df: DataFrame, customers_df: DataFrame, actual_df: DataFrame
) -> DataFrame:
    """strategy, customer_id, predicted (ordered article ids) for every evaluated customer."""
    k = fit.recs.top_k
    evaluated_df = actual_df.select("customer_id")
    scored_df = score_users(spark, fit, evaluated_df).cache()

    last_week_df = signals.filter_days(
        transactions_df, signals.window_start(fit.as_of, fit.recs.popular_days), fit.as_of
    )
    popular = _constant_list(
        spark, signals.top_articles(signals.trending_articles(last_week_df, fit.as_of, 1.0), "units", k)
    )
    trending = F.array(*[F.lit(a) for a in fit.context.article_ids[fit.context.trending].tolist()]).cast("array<string>")

    def everyone(strategy: str, predicted) -> DataFrame:
        return evaluated_df.select(F.lit(strategy).alias("strategy"), "customer_id", predicted.alias("predicted"))

    def warm_or_trending(strategy: str, column: str) -> DataFrame:
        warm_df = scored_df.select(F.lit(strategy).alias("strategy"), "customer_id", F.col(column).alias("predicted"))
        cold_df = evaluated_df.join(scored_df, on="customer_id", how="left_anti").select(
            F.lit(strategy).alias("strategy"), "customer_id", trending.alias("predicted")
        )
        return warm_df.unionByName(cold_df)

    cold_df = cold_start_recommendations(
        customers_df.join(evaluated_df, on="customer_id", how="left_semi")
        .join(scored_df, on="customer_id", how="left_anti"),
        fit,
    ).select("customer_id", F.col("items.article_id").alias("predicted"))

    def warm_or_segment(strategy: str, column: str) -> DataFrame:
        warm_df = scored_df.select(F.lit(strategy).alias("strategy"), "customer_id", F.col(column).alias("predicted"))
        return warm_df.unionByName(cold_df.select(F.lit(strategy).alias("strategy"), "customer_id", "predicted"))

    predictions_df = (
        everyone("popular_last_week", popular)
        .unionByName(everyone("trending", trending))
        .unionByName(warm_or_trending("repurchase_trending", "repurchase_trending_ids"))
        .unionByName(warm_or_trending("als", "als_ids"))
        .unionByName(warm_or_segment("blend", "blend_ids"))
        .unionByName(warm_or_segment("served", "item_ids"))
    )
    if fit.context.ranking is not None:
        predictions_df = (predictions_df.unionByName(warm_or_trending("als_unseen", "als_unseen_ids"))
                          .unionByName(warm_or_trending("popular_unseen", "popular_unseen_ids")))
    if fit.context.ranker is not None:
        predictions_df = predictions_df.unionByName(warm_or_segment("ranker", "ranker_ids"))
    return predictions_df


def _constant_list(spark: SparkSession, top_df: DataFrame):
    # At most k rows: safe to bring to the driver and inline as a literal array.
    ids = [row["article_id"] for row in top_df.orderBy("rank").collect()]
    return F.array(*[F.lit(a) for a in ids]).cast("array<string>")


DEFAULT_GRID = {"rank": [16, 32], "reg_param": [0.01, 0.1], "alpha": [10.0, 40.0]}


def parse_grid(assignments: list[str]) -> dict[str, list]:
    """`rank=16,32` -> {"rank": [16, 32]} with values typed like the config field."""
    grid = {}
    for assignment in assignments:
        key, sep, values = assignment.partition("=")
        if not sep or key not in RecsConfig.model_fields:
            raise ConfigError(f"grid entries look like rank=16,32 with a recs.* key, got {assignment!r}")
        grid[key] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


@dataclass
class SweepRow:
    parameters: dict
    map_als: float
    map_blend: float
    map_repurchase_trending: float
    map_served: float = 0.0
    served_strategy: str = ""


def run_recs_sweep(
    spark: SparkSession, config: Config, storage: Storage, run_date: date, grid: dict[str, list] | None = None
) -> list[SweepRow]:
    """Evaluate every combination of `grid` (recs.* values); returns rows, best served first."""
    grid = grid or DEFAULT_GRID
    transactions_df, customers_df = read_sales_and_customers(spark, config)
    rows = []
    tracked = SweepTracker(config, run_date, grid)
    for values in itertools.product(*grid.values()):
        overrides = {f"recs.{key}": value for key, value in zip(grid, values)}
        trial = config.with_overrides(overrides)
        report = evaluate(spark, trial, storage, transactions_df, customers_df, run_date, trial.recs)
        tracked.record_point(trial, report)
        rows.append(SweepRow(
            parameters={key: getattr(trial.recs, key) for key in grid},
            map_als=report.result("als").map_at_12,
            map_blend=report.result("blend").map_at_12,
            map_repurchase_trending=report.result(BASELINE_FOR_GOAL).map_at_12,
            map_served=report.result("served").map_at_12,
            served_strategy=report.served_strategy,
        ))
        print(format_sweep(rows[-1:], header=len(rows) == 1), flush=True)
    rows.sort(key=lambda r: r.map_served, reverse=True)
    storage.write_text(
        reports_uri(config, "recs", f"sweep-{run_date}.json"), json.dumps([asdict(r) for r in rows], indent=2)
    )
    tracked.finish(rows)
    return rows


def format_sweep(rows: list[SweepRow], header: bool = True) -> str:
    if not rows:
        return "(no grid points)"
    keys = list(rows[0].parameters)
    lines = []
    if header:
        lines.append("  ".join(f"{k:>12}" for k in keys) + f"  {'MAP als':>9} {'MAP blend':>9} {'MAP rep+tr':>10} {'MAP served':>10}  served")
    for r in rows:
        lines.append("  ".join(f"{str(r.parameters[k]):>12}" for k in keys)
                     + f"  {r.map_als:>9.5f} {r.map_blend:>9.5f} {r.map_repurchase_trending:>10.5f} {r.map_served:>10.5f}"
                     f"  {r.served_strategy}")
    return "\n".join(lines)
