"""Training the ranker on the week before the run date, and choosing what is served.

Features come from the recommender fitted up to T-7 (the factors the night of T-7 trained, when
they are in the lake), labels are the purchases of T-6..T: the model learns what customers
bought in the week after what it knew, as it will be used. The week's buyers with history are
split by a hash of their id: most train gradient-boosted trees (Spark ML) on their candidates
(every positive, a sample of negatives), the rest validate. On the validation buyers the ranker
competes with every single strategy; it is served only when it is at least as good as the best
of them, otherwise that strategy is served, and the outcome says so.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date

from pyspark.ml.classification import GBTClassifier
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import RecsConfig
from fashion_pipeline.recs import signals
from fashion_pipeline.recs.metrics import actual_purchases, average_precision_column
from fashion_pipeline.recs.model import RecommenderFit, score_users, scoring_inputs
from fashion_pipeline.recs.ranker import FEATURES, LEAF, TreeEnsemble
from fashion_pipeline.recs.scoring import CANDIDATE_ROWS_SCHEMA, candidate_row_batches

SINGLE_STRATEGIES = (
    "blend", "als", "als_unseen", "repurchase_trending", "trending", "popular_last_week", "popular_unseen",
)
RANKER = "ranker"


@dataclass
class RankerOutcome:
    served: str
    reason: str
    label_days: list[str]
    model: TreeEnsemble | None = None
    validation_map_at_12: dict[str, float] = field(default_factory=dict)
    train_customers: int = 0
    validation_customers: int = 0
    train_rows: int = 0
    positives: int = 0
    feature_importances: dict[str, float] = field(default_factory=dict)
    features_reused_factors: bool = False
    cold_start_served: str = "segment_popular"
    cold_start_map_at_12: dict[str, float] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("model")
        data["trees"] = len(self.model.roots) if self.model is not None else 0
        return data

    def summary(self) -> str:
        maps = ", ".join(f"{name} {value:.5f}" for name, value in sorted(
            self.validation_map_at_12.items(), key=lambda item: -item[1]))
        return (f"ranker: trained on {self.train_customers:,} buyers of {self.label_days[0]}..{self.label_days[1]} "
                f"({self.train_rows:,} candidate rows, {self.positives:,} bought), validated on "
                f"{self.validation_customers:,}: MAP@12 {maps or 'n/a'}; serving {self.served} ({self.reason}); "
                f"customers without history get {self.cold_start_served} "
                f"(MAP@12 {', '.join(f'{k} {v:.5f}' for k, v in self.cold_start_map_at_12.items())}); "
                f"{self.seconds:.0f} s")


def validation_split(fraction: float):
    """True for the share of customers that validate: a stable hash, the same on every run."""
    return (F.abs(F.xxhash64("customer_id")) % 10_000) < int(round(fraction * 10_000))


def train_ranker(
    spark: SparkSession, fit_before: RecommenderFit, transactions_df: DataFrame, first_label_day: date,
    last_label_day: date, recs: RecsConfig,
) -> RankerOutcome:
    started = time.perf_counter()
    outcome = RankerOutcome(served="blend", reason="", label_days=[first_label_day.isoformat(), last_label_day.isoformat()],
                            features_reused_factors=fit_before.factors_reused)
    actual_df = actual_purchases(signals.filter_days(transactions_df, first_label_day, last_label_day))
    buyers_df = actual_df.join(fit_before.user_factors_df.select("customer_id"), on="customer_id", how="left_semi")
    in_validation = validation_split(recs.ranker_validation_fraction)
    train_buyers_df = buyers_df.filter(~in_validation)
    validation_buyers_df = buyers_df.filter(in_validation).cache()
    outcome.validation_customers = validation_buyers_df.count()

    n_train = train_buyers_df.count()
    if n_train > recs.ranker_max_train_customers:
        train_buyers_df = train_buyers_df.sample(fraction=recs.ranker_max_train_customers / n_train, seed=recs.seed)
    rows_df = _training_rows(fit_before, train_buyers_df, recs).cache()
    counts = rows_df.agg(
        F.count_distinct("customer_id").alias("customers"), F.count(F.lit(1)).alias("rows"),
        F.sum("label").alias("positives"),
    ).first()
    outcome.train_customers, outcome.train_rows = counts["customers"], counts["rows"]
    outcome.positives = int(counts["positives"] or 0)

    if outcome.positives == 0 or outcome.positives == outcome.train_rows:
        outcome.reason = "no candidate of the training buyers was bought: nothing to learn"
    else:
        gbt = GBTClassifier(
            labelCol="label", featuresCol="features", maxIter=recs.ranker_trees, maxDepth=recs.ranker_depth,
            stepSize=recs.ranker_step_size, seed=recs.seed, subsamplingRate=0.8,
        )
        model = gbt.fit(rows_df.select("label", array_to_vector("features").alias("features")))
        outcome.model = export_trees(model)
        outcome.feature_importances = {
            name: round(float(weight), 4) for name, weight in zip(FEATURES, model.featureImportances.toArray())
        }
    rows_df.unpersist()

    outcome.validation_map_at_12 = validation_maps(spark, fit_before, outcome.model, validation_buyers_df)
    validation_buyers_df.unpersist()
    outcome.served, outcome.reason = choose_served(outcome.validation_map_at_12, outcome.reason)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _training_rows(fit: RecommenderFit, buyers_df: DataFrame, recs: RecsConfig) -> DataFrame:
    users_df = scoring_inputs(fit, buyers_df.select("customer_id")).join(buyers_df, on="customer_id", how="inner")
    context = users_df.sparkSession.sparkContext.broadcast(fit.context)
    negatives, seed = recs.ranker_negatives_per_customer, recs.seed

    def rows(batches):
        return candidate_row_batches(batches, context.value, negatives, seed)

    return users_df.mapInPandas(rows, CANDIDATE_ROWS_SCHEMA)


def validation_maps(
    spark: SparkSession, fit: RecommenderFit, model: TreeEnsemble | None, validation_buyers_df: DataFrame
) -> dict[str, float]:
    """MAP@12 of every strategy (and the ranker, when trained) over the validation buyers."""
    scored_fit = fit.with_context(ranker=model)
    scored_df = score_users(spark, scored_fit, validation_buyers_df.select("customer_id"))
    context = fit.context
    constant = {
        "trending": context.article_ids[context.trending].tolist(),
        "popular_last_week": context.article_ids[context.ranking.popular[: context.k]].tolist(),
    }
    columns = {"blend": "blend_ids", "als": "als_ids", "repurchase_trending": "repurchase_trending_ids",
               "als_unseen": "als_unseen_ids", "popular_unseen": "popular_unseen_ids"}
    if model is not None:
        columns[RANKER] = "ranker_ids"
    joined = validation_buyers_df.join(scored_df, on="customer_id", how="inner")
    averages = [F.avg(average_precision_column(F.col("actual"), F.col(column))).alias(name)
                for name, column in columns.items()]
    averages += [F.avg(average_precision_column(F.col("actual"), F.array(*[F.lit(a) for a in ids]).cast("array<string>")))
                 .alias(name) for name, ids in constant.items()]
    row = joined.agg(*averages).first()  # one row of averages
    return {name: round(float(row[name] or 0.0), 6) for name in [*columns, *constant]}


def choose_served(validation_map: dict[str, float], no_model_reason: str = "") -> tuple[str, str]:
    """The ranker when it is at least as good as the best single strategy, else that strategy."""
    singles = {name: validation_map[name] for name in SINGLE_STRATEGIES if name in validation_map}
    if not singles:
        return "blend", "no validation buyers: the hand-tuned blend is served"
    best = max(singles, key=lambda name: (singles[name], -SINGLE_STRATEGIES.index(name)))
    if RANKER not in validation_map:
        return best, f"{no_model_reason}; {best} is the best single strategy on the validation buyers"
    if validation_map[RANKER] >= singles[best]:
        return RANKER, f"ranker {validation_map[RANKER]:.5f} >= best single strategy {best} {singles[best]:.5f}"
    return best, (f"the ranker ({validation_map[RANKER]:.5f}) loses to {best} ({singles[best]:.5f}) "
                  f"on the validation buyers, so {best} is served")


def export_trees(model) -> TreeEnsemble:
    """A Spark ML GBT model's trees as arrays (read through the JVM model, once per night)."""
    trees = []
    for tree in model.trees:
        nodes: list[dict] = []
        pending = [(tree._java_obj.rootNode(), None, None)]
        while pending:
            node, parent, side = pending.pop()
            position = len(nodes)
            if parent is not None:
                nodes[parent][side] = position
            if node.getClass().getSimpleName() == "InternalNode":
                split = node.split()
                nodes.append({"feature": int(split.featureIndex()), "threshold": float(split.threshold()),
                              "left": -1, "right": -1, "value": float(node.prediction())})
                pending.append((node.rightChild(), position, "right"))
                pending.append((node.leftChild(), position, "left"))
            else:
                nodes.append({"feature": LEAF, "threshold": 0.0, "left": -1, "right": -1,
                              "value": float(node.prediction())})
        trees.append(nodes)
    return TreeEnsemble.from_trees(trees, [float(w) for w in model.treeWeights])
