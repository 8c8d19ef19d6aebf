"""Offline evaluation of the real-time rule: does a browsing session before a purchase make the
list better than the nightly batch alone?

The batch model is fitted exactly as `recs evaluation` fits it (`recs.holdout_days` held out up to
the run date, `fit_recommender`). Then, for every customer who buys in the held-out days:

- the session day is their first held-out purchase day; the anchor is one article they bought
  that day, picked by a hash of (customer, article) (a stable, arbitrary choice);
- the browsing session is drawn by the clickstream simulator (`ClickstreamSimulator.session`)
  for that customer on that day (the taste model of that day, the customer's segment), with
  the anchor as the first article of the session's intent. So the focus product type is that of
  an article they went on to buy, and the other 2-8 articles of the intent are drawn from the
  segment's taste within that type. Views, their count (35% of sessions bounce after one view),
  adds to cart and removals are drawn as in every simulated session: the bought article is
  viewed only when the draws happen to pick it, and nothing else they bought that day, or on
  later held-out days, is planted. The session's own checkout is dropped (the purchase is what
  is predicted); what remains are views, adds to cart and removals;
- "batch only" is the customer's nightly list of the training day (the blend, or the
  cold-start list of their segment); "batch + session" is `rule.score_realtime` on the session,
  the item neighbours of the fitted model and that nightly list (no live trending: there is no
  site-wide clickstream in this evaluation). Two ablations show where the lift comes from:
  the rule without the viewed articles themselves (neighbours only), and without the batch.

MAP@12 (`recs/metrics.py`) is measured on what the customer bought on the session day (the
purchase the session leads to), and, for comparison with `recs evaluation`, on everything they
bought in the held-out days. The rule runs inside Spark (`mapInPandas`, `realtime/frames.py`),
as the streaming job runs it. The goal: batch + session >= 1.2x batch only on the session day.

The lake must hold the generator's data of the taste model `clickstream.scale` /
`clickstream.model_seed` (the demo's `small`, seed 42, by default): sessions are drawn for the
lake's customers and articles, which must be the model's.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timezone

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.realtime.frames import EVENT_STRUCT, plain, rule_inputs
from fashion_pipeline.realtime.rule import RuleSettings, epoch_ms, score_realtime
from fashion_pipeline.recs import signals
from fashion_pipeline.recs.evaluation import holdout_window
from fashion_pipeline.recs.metrics import actual_purchases, average_precision_column, recall_column
from fashion_pipeline.recs.model import item_neighbors, model_version, score_users
from fashion_pipeline.recs.recommend import (
    ITEM_STRUCT,
    cold_start_recommendations,
    fit_for_serving,
)
from fashion_pipeline.storage import Storage

BATCH_ONLY, RULE = "batch_only", "batch_plus_session"
NEIGHBOURS_ONLY, SESSION_ONLY = "rule_without_viewed_articles", "rule_without_batch"
STRATEGIES = (BATCH_ONLY, RULE, NEIGHBOURS_ONLY, SESSION_ONLY)
LIFT_GOAL = 1.2
SESSION_START = time(12, 0)  # the held-out data has days, not times: every session starts at noon UTC
SESSION_SCHEMA = (
    f"customer_id string, matched boolean, events array<{EVENT_STRUCT}>, intent_size int, "
    "anchor_viewed boolean"
)
PREDICTIONS_SCHEMA = "customer_id string, strategy string, predicted array<string>"


class TasteModelMismatchError(PipelineError):
    """The lake's customers are not those of the configured taste model."""


@dataclass
class StrategyScore:
    strategy: str
    map_at_12_session_day: float
    recall_at_12_session_day: float
    map_at_12_holdout: float


@dataclass
class RealtimeEvaluationReport:
    run_date: str
    train_until: str
    holdout: list[str]
    model_version: str
    taste_model: dict
    customers: int
    cold_start_customers: int
    mean_session_events: float
    bounced_sessions: float  # share of sessions with one view
    sessions_viewing_a_purchase: float  # share whose views include an article bought that day
    rule_parameters: dict
    results: list[StrategyScore] = field(default_factory=list)
    created_at: str = ""

    def result(self, strategy: str) -> StrategyScore:
        return next(r for r in self.results if r.strategy == strategy)

    @property
    def lift(self) -> float:
        batch = self.result(BATCH_ONLY).map_at_12_session_day
        return self.result(RULE).map_at_12_session_day / batch if batch else float("inf")

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "lift_session_day": self.lift, "lift_goal": LIFT_GOAL}, indent=2, sort_keys=True)

    def summary(self) -> str:
        lines = [
            f"real-time rule evaluation: model trained up to {self.train_until} ({self.model_version}), "
            f"held out {self.holdout[0]}..{self.holdout[1]}",
            f"{self.customers:,} customers who bought ({self.cold_start_customers:,} without history), one simulated "
            f"session each before their first held-out purchase: {self.mean_session_events:.1f} events on average, "
            f"{self.bounced_sessions:.0%} bounced after one view, {self.sessions_viewing_a_purchase:.0%} viewed an "
            f"article bought that day",
            f"{'strategy':<30} {'MAP@12 day':>10} {'recall day':>10} {'MAP@12 holdout':>14}",
        ]
        for r in self.results:
            lines.append(f"{r.strategy:<30} {r.map_at_12_session_day:>10.5f} {r.recall_at_12_session_day:>10.5f} "
                         f"{r.map_at_12_holdout:>14.5f}")
        verdict = "meets" if self.lift >= LIFT_GOAL else "misses"
        lines.append(f"{RULE} / {BATCH_ONLY} on the session day = {self.lift:.2f}x ({verdict} the {LIFT_GOAL:.1f}x goal)")
        return "\n".join(lines)


def evaluate_realtime(spark: SparkSession, config: Config, storage: Storage, transactions_df: DataFrame,
                      customers_df: DataFrame, run_date: date) -> RealtimeEvaluationReport:
    recs, clicks = config.recs, config.clickstream
    train_until, first_held_out, last_held_out = holdout_window(run_date, recs.holdout_days)
    version = model_version(train_until, recs)
    held_out_df = signals.filter_days(transactions_df, first_held_out, last_held_out)
    buyers_df = session_buyers(held_out_df, clicks.seed).cache()
    sessions_df = buyers_df.groupBy("session_day").applyInPandas(
        session_drawer(clicks.scale, clicks.model_seed, clicks.seed), SESSION_SCHEMA).cache()
    unmatched = sessions_df.filter(~F.col("matched")).count()  # before the fit: a mistake fails fast
    if unmatched:
        raise TasteModelMismatchError(
            f"{unmatched:,} buyers are not customers of the taste model clickstream.scale={clicks.scale}, "
            f"model_seed={clicks.model_seed}: set both to the scale and seed the lake's data was generated with")

    fit, _ = fit_for_serving(spark, config, storage, transactions_df, customers_df, train_until, recs)
    batch_df = batch_lists(spark, fit, buyers_df, customers_df)
    neighbors_df = session_neighbors(sessions_df, item_neighbors(spark, fit))
    inputs_df = (
        buyers_df.select("customer_id")
        .join(sessions_df.select("customer_id", "events"), on="customer_id", how="inner")
        .join(batch_df, on="customer_id", how="left")
        .join(neighbors_df, on="customer_id", how="left")
        .select(F.col("customer_id").alias("shopper_key"), "events", "neighbors", "batch_items")
    )
    settings = RuleSettings.from_config(config)
    predictions_df = inputs_df.mapInPandas(lambda frames: strategy_predictions(frames, settings), PREDICTIONS_SCHEMA)
    results = strategy_scores(buyers_df, predictions_df)

    # One row of aggregates: safe to collect.
    stats = sessions_df.agg(
        F.avg(F.size("events")).alias("events"),
        F.avg((F.size(F.filter("events", lambda e: e["event_type"] == "view")) == 1).cast("double")).alias("bounced"),
    ).first()
    viewing = (
        sessions_df.join(buyers_df, on="customer_id", how="inner")
        .agg(F.avg((F.size(F.array_intersect("events.article_id", "day_actual")) > 0).cast("double")).alias("share"))
        .first()["share"]
    )
    report = RealtimeEvaluationReport(
        run_date=run_date.isoformat(), train_until=train_until.isoformat(),
        holdout=[first_held_out.isoformat(), last_held_out.isoformat()], model_version=version,
        taste_model={"scale": clicks.scale, "model_seed": clicks.model_seed, "click_seed": clicks.seed},
        customers=buyers_df.count(),
        cold_start_customers=buyers_df.join(fit.user_factors_df, on="customer_id", how="left_anti").count(),
        mean_session_events=float(stats["events"] or 0.0), bounced_sessions=float(stats["bounced"] or 0.0),
        sessions_viewing_a_purchase=float(viewing or 0.0), rule_parameters=settings.as_dict(), results=results,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    buyers_df.unpersist()
    sessions_df.unpersist()
    return report


def session_buyers(held_out_df: DataFrame, seed: int) -> DataFrame:
    """customer_id, session_day (first held-out purchase day), anchor_article_id (one article
    bought that day, picked by a hash), day_actual (distinct articles bought that day),
    window_actual (distinct articles bought in all the held-out days)."""
    first_day_df = held_out_df.groupBy("customer_id").agg(F.min("t_dat").alias("session_day"))
    pick = F.sha2(F.concat_ws("|", F.col("customer_id"), F.col("article_id"), F.lit(str(seed))), 256)
    day_df = (
        held_out_df.join(first_day_df, on="customer_id", how="inner")
        .filter(F.col("t_dat") == F.col("session_day"))
        .groupBy("customer_id", "session_day")
        .agg(F.array_sort(F.array_distinct(F.collect_list("article_id"))).alias("day_actual"),
             F.min_by("article_id", pick).alias("anchor_article_id"))
    )
    window_df = actual_purchases(held_out_df).withColumnRenamed("actual", "window_actual")
    return day_df.join(window_df, on="customer_id", how="inner").select(
        "customer_id", "session_day", "anchor_article_id", "day_actual", "window_actual")


def batch_lists(spark: SparkSession, fit, buyers_df: DataFrame, customers_df: DataFrame) -> DataFrame:
    """customer_id, batch_items: what the nightly run of the training day serves each buyer."""
    warm_df = score_users(spark, fit, buyers_df).select(
        "customer_id",
        F.arrays_zip(F.col("item_ids").alias("article_id"), F.col("item_scores").alias("score"),
                     F.col("item_reasons").alias("reason")).cast(ITEM_STRUCT).alias("batch_items"),
    )
    cold_df = cold_start_recommendations(
        customers_df.join(buyers_df, on="customer_id", how="left_semi").join(warm_df, on="customer_id", how="left_anti"),
        fit,
    ).select("customer_id", F.col("items").alias("batch_items"))
    return warm_df.unionByName(cold_df)


def session_neighbors(sessions_df: DataFrame, neighbors_df: DataFrame) -> DataFrame:
    """customer_id, neighbors: the item neighbours of each session's articles (known ones only)."""
    articles_df = sessions_df.select("customer_id", F.explode(F.array_distinct("events.article_id")).alias("article_id"))
    return (
        articles_df.join(neighbors_df, on="article_id", how="inner")
        .groupBy("customer_id")
        .agg(F.collect_list(F.struct("article_id", "neighbors")).alias("neighbors"))
    )


# ---------------------------------------------------------------------------------- on the executors
_MODELS: dict = {}


def _taste_model(scale: str, model_seed: int):
    """The TasteModel and its customer index, built once per Python worker."""
    key = (scale, model_seed)
    if key not in _MODELS:
        from fashion_pipeline.generate import TasteModel, scale_spec

        model = TasteModel.build(scale_spec(scale), model_seed)
        index = {cid.decode(): i for i, cid in enumerate(model.customers.customer_id.tolist())}
        _MODELS[key] = (model, index)
    return _MODELS[key]


def session_drawer(scale: str, model_seed: int, click_seed: int):
    """applyInPandas body, grouped by session day: one session per buyer, drawn in customer-id
    order by one simulator of that day, so the sessions do not depend on Spark's partitioning."""
    from fashion_pipeline.clickstream.contract import PURCHASE, VIEW
    from fashion_pipeline.clickstream.events import ClickstreamSimulator

    def draw(buyers: pd.DataFrame) -> pd.DataFrame:
        model, index = _taste_model(scale, model_seed)
        day = pd.Timestamp(buyers["session_day"].iloc[0]).date()
        simulator = ClickstreamSimulator(model, seed=click_seed, model_day=day)
        start = datetime.combine(day, SESSION_START, tzinfo=timezone.utc)
        rows = []
        for customer_id, anchor in sorted(zip(buyers["customer_id"], buyers["anchor_article_id"])):
            position = index.get(customer_id)
            if position is None:
                rows.append({"customer_id": customer_id, "matched": False, "events": [], "intent_size": 0,
                             "anchor_viewed": False})
                continue
            session = simulator.session(start, customer_index=position, anchor_article_id=anchor)
            events = [e for e in session.events if e.event_type != PURCHASE]
            rows.append({
                "customer_id": customer_id, "matched": True,
                "events": [{"event_id": e.event_id, "event_type": e.event_type, "article_id": e.article_id,
                            "event_time_ms": epoch_ms(e.event_time)} for e in events],
                "intent_size": len(session.intent.interest_article_ids),
                "anchor_viewed": anchor in session.articles(VIEW),
            })
        return pd.DataFrame(rows, columns=["customer_id", "matched", "events", "intent_size", "anchor_viewed"])

    return draw


def strategy_predictions(frames, settings: RuleSettings):
    """mapInPandas body: per customer, the predicted list of every strategy."""
    variants = {
        RULE: settings,
        NEIGHBOURS_ONLY: settings.with_weights(viewed_weight=0.0),
        SESSION_ONLY: settings.with_weights(batch_weight=0.0),
    }
    for frame in frames:
        rows = []
        for row in frame.to_dict("records"):
            inputs = rule_inputs(row)
            customer = row["shopper_key"]
            rows.append({"customer_id": customer, "strategy": BATCH_ONLY,
                         "predicted": [i["article_id"] for i in (plain(row.get("batch_items")) or [])][: settings.k]})
            for strategy, variant in variants.items():
                items = score_realtime(inputs["events"], inputs["neighbors"], inputs["batch_items"], [], variant)
                rows.append({"customer_id": customer, "strategy": strategy, "predicted": [i.article_id for i in items]})
        yield pd.DataFrame(rows, columns=["customer_id", "strategy", "predicted"])


def strategy_scores(buyers_df: DataFrame, predictions_df: DataFrame) -> list[StrategyScore]:
    """MAP@12 and recall@12 of every strategy, summed over every buyer (one without a list scores 0)."""
    evaluated = buyers_df.count()
    scored_df = predictions_df.join(buyers_df, on="customer_id", how="inner").select(
        "strategy",
        average_precision_column(F.col("day_actual"), F.col("predicted")).alias("ap_day"),
        recall_column(F.col("day_actual"), F.col("predicted")).alias("recall_day"),
        average_precision_column(F.col("window_actual"), F.col("predicted")).alias("ap_window"),
    )
    # One row per strategy: safe to collect.
    sums = {row["strategy"]: row for row in scored_df.groupBy("strategy").agg(
        F.sum("ap_day").alias("ap_day"), F.sum("recall_day").alias("recall_day"),
        F.sum("ap_window").alias("ap_window")).collect()}
    results = []
    for strategy in STRATEGIES:
        row = sums.get(strategy)
        mean = (lambda column: float(row[column]) / evaluated) if row and evaluated else (lambda column: 0.0)
        results.append(StrategyScore(strategy, mean("ap_day"), mean("recall_day"), mean("ap_window")))
    return results
