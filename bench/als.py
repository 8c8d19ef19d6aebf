"""Spark MLlib ALS (ours) against the `implicit` library, tuned on validation weeks, judged on the test week.

    .venv/bin/python bench/als.py --scale small                     # generated data (generate -> land -> partition_raw)
    .venv/bin/python bench/als.py --data DIR --validation-weeks 4   # any H&M-schema directory, e.g. from
        fashion generate --dataset movielens-100k --out DIR
    options: [--rank 32] [--iterations 10] [--alpha 0.25,1,5,20] [--spark-reg 0.01,0.05,0.2,1]
             [--implicit-reg 0.1,1,10,100] [--history-days 800] [--seeds 3] [--oracle] [--work DIR]

The lake is built by the project's own land + partition_raw. Both libraries get the same
time-decayed interactions (`recs.signals`, as train_als builds them), the same rank, and confidence
1 + alpha * weight (`implicit` reads its matrix values as the confidence itself). Spark is fitted by
`recs.model.train_als`, i.e. with the platform's ALS settings.

Splits, each "train on everything up to a day, evaluate on the `holdout_days` after it":
- validation: the `--validation-weeks` weeks before the test week (pooled: every week-buyer counts once);
- test: train up to holdout_days before the last day, evaluate on the last week (as `recs evaluate`).
Each library's grid (reg x alpha x iterations: Spark's ALS-WR multiplies lambda by each user's and
article's number of interactions, `implicit` does not, so each gets its own reg grid) is run on the
validation weeks and scored under two seen-item policies: keep the articles the customer already
bought among the candidates, or remove them. The policy that wins on validation (the sum of both
libraries' best validation MAP) is the data set's policy; each library's best validation setting
under each policy is refitted on the test split (`--seeds` random starts, MAP averaged per buyer)
and judged once on the test week. `--oracle` also prints every setting's test MAP, for diagnosis.

Scoring is the same numpy code for both (`top_items`): the user's factors against the candidates'
(`recs.model.context_from_arrays`, the platform's rule: articles sold in the last candidate_days,
best max_candidates by trend), top 12 by ALS score, with `recs.scoring.top_k_columns`. Test MAP is
also given with every trained article as a candidate, to show what the recency rule costs. MAP@12
is Kaggle's, over the customers who bought in the evaluated week; those without history get the
top 12 by trend from both libraries, so the ratio over buyers with history is the stricter one.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import product
from pathlib import Path

# implicit threads itself and asks for single-threaded BLAS; it must be set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from fashion_pipeline.config import load_config

MAP_GOAL = 0.95
POLICIES = ("keep", "remove")
LIBRARIES = ("spark", "implicit")
LAND_DATE = date(2020, 9, 23)
SCORE_BLOCK_USERS = 2048


def build_lake(config, spark, generated_dir: Path, scale: str | None, seed: int) -> None:
    """generate (when no --data) -> land -> partition_raw, once per work directory."""
    from fashion_pipeline.generate import generate_hm
    from fashion_pipeline.landing import land_directory
    from fashion_pipeline.pipelines.partition_raw import run_partition_raw
    from fashion_pipeline.storage import storage_for

    if Path(config.paths.lake("curated", "transactions")).is_dir():
        return
    if scale and not (generated_dir / "_truth" / "manifest.json").is_file():
        print(f"generating {scale} seed={seed} -> {generated_dir}", flush=True)
        print(generate_hm(scale, seed, generated_dir, progress=False).summary(), flush=True)
    for outcome in land_directory(generated_dir, config.paths.raw_root, LAND_DATE, storage_for(config)):
        print(outcome.line(), flush=True)
    started = time.perf_counter()
    report = run_partition_raw(spark, config, storage_for(config))
    print(report.summary(), flush=True)
    for table in report.tables:
        if table.rows_quarantined:
            print(f"  quarantined {table.table}: {table.quarantined_by_reason}", flush=True)
    print(f"partition_raw {time.perf_counter() - started:.0f} s", flush=True)


@dataclass
class Split:
    """Interactions up to `train_until` (indexed densely) and what was bought in the week after."""

    name: str
    train_until: date
    indexed_df: object  # Spark: user_index, item_index, weight (cached)
    n_users: int
    n_items: int
    confidence_rows: np.ndarray  # user_index per interaction
    confidence_cols: np.ndarray  # item_index per interaction
    weights: np.ndarray
    customer_of_user: np.ndarray
    article_ids: np.ndarray  # by item_index
    recent_trend: np.ndarray  # decayed units over candidate_days, by item_index
    history_trend: np.ndarray  # decayed units over the whole history, by item_index
    actual: dict  # customer_id -> articles bought in the evaluated week

    def seen(self):
        """The articles each user bought in the training history, as a users x articles CSR."""
        from scipy.sparse import csr_matrix

        return csr_matrix((np.ones(len(self.weights), dtype=np.int8), (self.confidence_rows, self.confidence_cols)),
                          shape=(self.n_users, self.n_items))

    def scored_users(self) -> tuple[np.ndarray, list[str]]:
        """The users with history among the evaluated week's buyers."""
        user_of_customer = {c: u for u, c in enumerate(self.customer_of_user)}
        rows = np.array(sorted(user_of_customer[c] for c in self.actual if c in user_of_customer), dtype=np.int64)
        return rows, self.customer_of_user[rows].tolist()


def build_split(spark, transactions_df, recs, name: str, train_until: date, evaluate_until: date) -> Split:
    from pyspark.sql import functions as F

    from fashion_pipeline.recs import signals

    history_df = signals.filter_days(transactions_df, signals.window_start(train_until, recs.history_days), train_until)
    interactions_df = signals.to_interactions(history_df, train_until, recs.decay_half_life_days)
    users_pd = signals.build_id_index(interactions_df, "customer_id", "user_index").toPandas().sort_values("user_index")
    items_pd = signals.build_id_index(interactions_df, "article_id", "item_index").toPandas().sort_values("item_index")
    users_df, items_df = spark.createDataFrame(users_pd), spark.createDataFrame(items_pd)
    indexed_df = (
        interactions_df.join(users_df, "customer_id").join(items_df, "article_id")
        .select("user_index", "item_index", "weight").cache()
    )
    interactions_pd = indexed_df.toPandas()

    def trend_by_item(days: int) -> np.ndarray:
        window_df = signals.filter_days(transactions_df, signals.window_start(train_until, days), train_until)
        trend_pd = signals.trending_articles(window_df, train_until, recs.trending_half_life_days).toPandas()
        return items_pd.merge(trend_pd, on="article_id", how="left")["trend"].fillna(0.0).to_numpy()

    evaluated_df = signals.filter_days(transactions_df, train_until + timedelta(days=1), evaluate_until)
    actual = {
        row["customer_id"]: row["items"]
        for row in evaluated_df.groupBy("customer_id").agg(F.collect_set("article_id").alias("items")).collect()
    }
    return Split(
        name=name, train_until=train_until, indexed_df=indexed_df,
        n_users=len(users_pd), n_items=len(items_pd),
        confidence_rows=interactions_pd.user_index.to_numpy(np.int64),
        confidence_cols=interactions_pd.item_index.to_numpy(np.int64),
        weights=interactions_pd.weight.to_numpy(np.float64),
        customer_of_user=users_pd.customer_id.to_numpy().astype(str),
        article_ids=items_pd.article_id.to_numpy().astype(str),
        recent_trend=trend_by_item(recs.candidate_days), history_trend=trend_by_item(recs.history_days),
        actual=actual,
    )


@dataclass(frozen=True)
class Setting:
    reg: float
    alpha: float
    iterations: int

    def __str__(self) -> str:
        return f"reg={self.reg:g} alpha={self.alpha:g} it={self.iterations}"


def fit_spark(spark, split: Split, setting: Setting, recs, checkpoint_uri: str) -> tuple[np.ndarray, np.ndarray, float]:
    from fashion_pipeline.recs.model import train_als

    trial = recs.model_copy(update={"reg_param": setting.reg, "alpha": setting.alpha, "max_iter": setting.iterations})
    started = time.perf_counter()
    model = train_als(spark, split.indexed_df, trial, checkpoint_uri=checkpoint_uri)
    user_factors = _dense_factors(model.userFactors.toPandas(), split.n_users, recs.rank)
    item_factors = _dense_factors(model.itemFactors.toPandas(), split.n_items, recs.rank)
    return user_factors, item_factors, time.perf_counter() - started


def _dense_factors(factors_pd, n: int, rank: int) -> np.ndarray:
    dense = np.zeros((n, rank), dtype=np.float32)
    dense[factors_pd["id"].to_numpy()] = np.stack(factors_pd["features"].to_numpy())
    return dense


def fit_implicit(split: Split, setting: Setting, recs) -> tuple[np.ndarray, np.ndarray, float]:
    from implicit.cpu.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix

    started = time.perf_counter()
    confidence = csr_matrix(
        (1.0 + setting.alpha * split.weights, (split.confidence_rows, split.confidence_cols)),
        shape=(split.n_users, split.n_items), dtype=np.float32,
    )
    # alpha=1: the matrix already holds the confidence, which implicit reads as c_ui itself.
    model = AlternatingLeastSquares(factors=recs.rank, regularization=setting.reg, alpha=1.0,
                                    iterations=setting.iterations, random_state=recs.seed)
    model.fit(confidence, show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors), time.perf_counter() - started


def candidates_for(split: Split, item_factors: np.ndarray, recs, every_article: bool) -> np.ndarray:
    """The platform's candidate rule (recent sales), or every article trained on."""
    from fashion_pipeline.recs.model import context_from_arrays

    if every_article:
        recs = recs.model_copy(update={"max_candidates": split.n_items})
        return context_from_arrays(item_factors, split.article_ids, split.history_trend, recs).candidates
    return context_from_arrays(item_factors, split.article_ids, split.recent_trend, recs).candidates


def top_items(user_factors: np.ndarray, item_factors: np.ndarray, candidates: np.ndarray, seen, k: int) -> np.ndarray:
    """Per user, the k candidates with the best ALS score (item indexes, -1 where fewer remain);
    with `seen` (users x items CSR, rows aligned with user_factors) those are never recommended."""
    from fashion_pipeline.recs.scoring import top_k_columns

    column_of = np.full(item_factors.shape[0], -1, dtype=np.int64)
    column_of[candidates] = np.arange(len(candidates))
    candidate_factors = item_factors[candidates].T
    out = np.full((user_factors.shape[0], min(k, len(candidates))), -1, dtype=np.int64)
    for start in range(0, user_factors.shape[0], SCORE_BLOCK_USERS):
        scores = user_factors[start:start + SCORE_BLOCK_USERS] @ candidate_factors
        if seen is not None:
            block = seen[start:start + SCORE_BLOCK_USERS]
            rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            cols = column_of[block.indices]
            scores[rows[cols >= 0], cols[cols >= 0]] = -np.inf
        best = top_k_columns(scores, k)
        valid = np.isfinite(np.take_along_axis(scores, best, axis=1))
        out[start:start + SCORE_BLOCK_USERS] = np.where(valid, candidates[best], -1)
    return out


@dataclass(frozen=True)
class Scores:
    """AP@12 of each buyer of the evaluated week(s); those without history got the trend."""

    average_precision: np.ndarray
    warm: np.ndarray  # the buyer had history, so ALS (not the fallback) ranked for them
    seconds: float = 0.0

    @property
    def map_all(self) -> float:
        return float(self.average_precision.mean()) if len(self.average_precision) else 0.0

    @property
    def map_warm(self) -> float:
        return float(self.average_precision[self.warm].mean()) if self.warm.any() else 0.0

    @staticmethod
    def averaged(scores: list[Scores]) -> Scores:
        """Several fits (random starts) judged on the same buyers: each buyer's mean AP."""
        return Scores(np.mean([s.average_precision for s in scores], axis=0), scores[0].warm,
                      float(np.median([s.seconds for s in scores])))

    @staticmethod
    def pooled(scores: list[Scores]) -> Scores:
        """Several weeks as one: every (week, buyer) pair counts once."""
        return Scores(np.concatenate([s.average_precision for s in scores]), np.concatenate([s.warm for s in scores]),
                      sum(s.seconds for s in scores))


def evaluate(split: Split, user_factors, item_factors, recs, policy: str, every_article: bool = False) -> Scores:
    """AP@12 of each of the split's buyers, in customer order, and the seconds scoring took."""
    from fashion_pipeline.recs.metrics import average_precision_at_k

    started = time.perf_counter()
    rows, customers = split.scored_users()
    candidates = candidates_for(split, item_factors, recs, every_article)
    seen = split.seen()[rows] if policy == "remove" else None
    best = top_items(user_factors[rows], item_factors, candidates, seen, recs.top_k)
    predicted = {c: split.article_ids[items[items >= 0]].tolist() for c, items in zip(customers, best)}
    seconds = time.perf_counter() - started
    recent = candidates_for(split, item_factors, recs, every_article=False)
    fallback = split.article_ids[recent[: recs.top_k]].tolist()
    buyers = sorted(split.actual)
    return Scores(
        average_precision=np.array([average_precision_at_k(split.actual[c], predicted.get(c, fallback)) for c in buyers]),
        warm=np.array([c in predicted for c in buyers], dtype=bool),
        seconds=seconds,
    )


def trending_baseline(split: Split, recs, policy: str) -> Scores:
    """The same scorer with the recent trend as the only 'factor': popularity, minus what was bought."""
    trend = split.recent_trend[:, None].astype(np.float32)
    return evaluate(split, np.ones((split.n_users, 1), dtype=np.float32), trend, recs, policy)


def ratio_interval(numerator: Scores, denominator: Scores, warm_only: bool, draws: int = 2000) -> tuple[float, float]:
    """5th-95th percentile of MAP ratio over buyers resampled with replacement (paired: same buyers)."""
    a, b = numerator.average_precision, denominator.average_precision
    if warm_only:
        a, b = a[numerator.warm], b[numerator.warm]
    if len(a) == 0:
        return float("nan"), float("nan")
    picks = np.random.default_rng(0).integers(0, len(a), size=(draws, len(a)))
    sums_b = b[picks].sum(axis=1)
    ratios = a[picks].sum(axis=1)[sums_b > 0] / sums_b[sums_b > 0]
    return float(np.percentile(ratios, 5)), float(np.percentile(ratios, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--scale", help="generate this scale (default: small)")
    source.add_argument("--data", type=Path, help="an H&M-schema directory (articles/customers/transactions_train.csv)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--iterations", default="10", help="grid, comma-separated")
    parser.add_argument("--alpha", default="0.25,1,5,20", help="grid, comma-separated")
    parser.add_argument("--spark-reg", default="0.01,0.05,0.2,1")
    parser.add_argument("--implicit-reg", default="0.1,1,10,100")
    parser.add_argument("--validation-weeks", type=int, default=1,
                        help="weeks before the test week to choose settings on, pooled (more: steadier, slower)")
    parser.add_argument("--seeds", type=int, default=3, help="random starts per chosen setting on the test week (MAP averaged)")
    parser.add_argument("--oracle", action="store_true",
                        help="also print every setting's test MAP (diagnosis only: choosing on it would be cheating)")
    parser.add_argument("--history-days", type=int, default=800, help="sales used for training (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="default: <state_dir>/bench/als-<scale or data dir name>")
    args = parser.parse_args(argv)
    if args.data and not (args.data / "transactions_train.csv").is_file():
        parser.error(f"--data {args.data}: no transactions_train.csv there (make one with `fashion generate`)")
    scale = None if args.data else (args.scale or "small")

    base = load_config("local")
    name = f"data-{args.data.resolve().name}" if args.data else f"{scale}-seed{args.seed}"
    work = args.work or Path(base.paths.state_dir) / "bench" / f"als-{name}"
    config = base.with_overrides({
        "paths.raw_root": str(work / "raw"), "paths.lake_root": str(work / "lake"), "paths.state_dir": str(work / "state"),
        "recs.rank": args.rank, "recs.history_days": args.history_days,
    })
    alphas = [float(x) for x in args.alpha.split(",")]
    iterations = [int(x) for x in args.iterations.split(",")]
    grids = {
        "spark": [Setting(r, a, i) for r, a, i in product([float(x) for x in args.spark_reg.split(",")], alphas, iterations)],
        "implicit": [Setting(r, a, i) for r, a, i in product([float(x) for x in args.implicit_reg.split(",")], alphas, iterations)],
    }

    from pyspark.sql import functions as F

    from fashion_pipeline.recs.recommend import read_sales_and_customers
    from fashion_pipeline.spark import build_spark

    spark = build_spark("bench_als", config)
    build_lake(config, spark, args.data or work / "generated", scale, args.seed)
    recs = config.recs
    transactions_df, _ = read_sales_and_customers(spark, config)
    last_day = transactions_df.agg(F.max("t_dat")).first()[0]
    test_until = last_day - timedelta(days=recs.holdout_days)
    validation_splits = [
        build_split(spark, transactions_df, recs, f"valid-{week}", test_until - timedelta(days=week * recs.holdout_days),
                    test_until - timedelta(days=(week - 1) * recs.holdout_days))
        for week in range(1, args.validation_weeks + 1)
    ]
    test_split = build_split(spark, transactions_df, recs, "test", test_until, last_day)
    checkpoint_uri = str(work / "state" / "checkpoints")
    print(f"\n{name}: rank {recs.rank}, history {recs.history_days} days, decay half-life {recs.decay_half_life_days} days, "
          f"candidates: sold in the last {recs.candidate_days} days, best {recs.max_candidates} by trend", flush=True)
    for split in [*validation_splits, test_split]:
        rows, _ = split.scored_users()
        no_factors = np.zeros((split.n_items, 1))
        n_recent = len(candidates_for(split, no_factors, recs, every_article=False))
        n_every = len(candidates_for(split, no_factors, recs, every_article=True))
        print(f"  {split.name:<8} train up to {split.train_until}: {len(split.weights):,} interactions "
              f"({split.n_users:,} users x {split.n_items:,} articles, {n_recent:,} recent candidates of {n_every:,}); "
              f"{len(split.actual):,} buyers in the week after, {len(rows):,} with history", flush=True)

    seeds = [recs.seed + n for n in range(args.seeds)]

    def fit(library: str, split: Split, setting: Setting, seed: int = recs.seed):
        seeded = recs.model_copy(update={"seed": seed})
        if library == "spark":
            return fit_spark(spark, split, setting, seeded, checkpoint_uri)
        return fit_implicit(split, setting, seeded)

    # Validation: every setting of each library on every validation week, under both policies.
    validation = {}  # (library, setting) -> {policy: pooled Scores}
    fit_seconds = {library: [] for library in LIBRARIES}
    print(f"\nvalidation grid, {args.validation_weeks} week(s) pooled (MAP@12 all buyers keep / remove already-bought; "
          "buyers with history keep / remove):", flush=True)
    for library in LIBRARIES:
        for setting in grids[library]:
            per_week = {policy: [] for policy in POLICIES}
            for split in validation_splits:
                user_factors, item_factors, seconds = fit(library, split, setting)
                fit_seconds[library].append(seconds)
                for policy in POLICIES:
                    per_week[policy].append(evaluate(split, user_factors, item_factors, recs, policy))
            validation[library, setting] = {policy: Scores.pooled(per_week[policy]) for policy in POLICIES}
            keep, remove = validation[library, setting]["keep"], validation[library, setting]["remove"]
            print(f"  {library:<8} {setting!s:<28} {keep.map_all:.5f} / {remove.map_all:.5f}   "
                  f"{keep.map_warm:.5f} / {remove.map_warm:.5f}  fit {seconds:.1f}s", flush=True)

    def best_setting(library: str, policy: str) -> Setting:
        return max(grids[library], key=lambda s: validation[library, s][policy].map_all)

    policy_strength = {
        policy: sum(validation[lib, best_setting(lib, policy)][policy].map_all for lib in LIBRARIES) for policy in POLICIES
    }
    chosen_policy = max(POLICIES, key=policy_strength.get)

    # Test: each library's best validation setting per policy, refitted and judged once.
    print(f"\ntest week {test_until + timedelta(days=1)}..{last_day} (settings and policy chosen on validation; "
          f"policy chosen: {chosen_policy}):", flush=True)
    print(f"  (test: mean over {len(seeds)} random starts; fit s: median)")
    print(f"  {'library':<9}{'policy':<8}{'setting':<28}{'valid MAP':>10}{'test MAP':>10}{'warm MAP':>10}"
          f"{'warm, all articles':>20}{'fit s':>7}{'score s':>8}")
    test, fitted = {}, {}
    for library, policy in product(LIBRARIES, POLICIES):
        setting = best_setting(library, policy)
        if (library, setting) not in fitted:
            # Several random starts: one start's MAP moves by a few percent on a small week.
            fitted[library, setting] = [fit(library, test_split, setting, seed) for seed in seeds]
        runs = fitted[library, setting]
        scores = Scores.averaged([evaluate(test_split, u, i, recs, policy) for u, i, _ in runs])
        every_article = Scores.averaged([evaluate(test_split, u, i, recs, policy, every_article=True) for u, i, _ in runs])
        seconds = float(np.median([s for _, _, s in runs]))
        test[library, policy] = scores
        print(f"  {library:<9}{policy:<8}{setting!s:<28}{validation[library, setting][policy].map_all:>10.5f}"
              f"{scores.map_all:>10.5f}{scores.map_warm:>10.5f}{every_article.map_warm:>20.5f}{seconds:>7.1f}"
              f"{scores.seconds:>8.2f}", flush=True)
    for policy in POLICIES:
        baseline = trending_baseline(test_split, recs, policy)
        print(f"  {'trending':<9}{policy:<8}{'(no model)':<28}{'':>10}{baseline.map_all:>10.5f}{baseline.map_warm:>10.5f}")
    for policy in POLICIES:
        spark_scores, implicit_scores = test["spark", policy], test["implicit", policy]
        ratios = [a / b if b else float("inf") for a, b in (
            (spark_scores.map_all, implicit_scores.map_all), (spark_scores.map_warm, implicit_scores.map_warm))]
        low_all, high_all = ratio_interval(spark_scores, implicit_scores, warm_only=False)
        low_warm, high_warm = ratio_interval(spark_scores, implicit_scores, warm_only=True)
        verdict = f"goal >= {MAP_GOAL}: {'met' if min(ratios) >= MAP_GOAL else 'missed'}"
        print(f"MAP@12 ratio spark/implicit, {policy:<6}: all buyers {ratios[0]:.3f} [{low_all:.2f}, {high_all:.2f}], "
              f"buyers with history {ratios[1]:.3f} [{low_warm:.2f}, {high_warm:.2f}]"
              f"{f' ({verdict}; chosen policy)' if policy == chosen_policy else ''}")
    print("  [5th, 95th percentile of the ratio over buyers resampled with replacement]")
    print(f"median fit seconds over the validation grid: spark {np.median(fit_seconds['spark']):.1f}, "
          f"implicit {np.median(fit_seconds['implicit']):.1f} (shared machine: noisy)")

    if args.oracle:
        print("\noracle (every setting fitted on the test split; for diagnosis, never for choosing):", flush=True)
        for library in LIBRARIES:
            for setting in grids[library]:
                user_factors, item_factors, _ = (fitted.get((library, setting)) or [fit(library, test_split, setting)])[0]
                by_policy = {policy: evaluate(test_split, user_factors, item_factors, recs, policy) for policy in POLICIES}
                print(f"  {library:<8} {setting!s:<28} all {by_policy['keep'].map_all:.5f} / {by_policy['remove'].map_all:.5f}"
                      f"   warm {by_policy['keep'].map_warm:.5f} / {by_policy['remove'].map_warm:.5f}", flush=True)
    spark.stop()
    return 0

if __name__ == "__main__":
    sys.exit(main())
