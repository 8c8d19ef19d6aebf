"""Spark MLlib ALS (ours) against the `implicit` library, on the same interactions and holdout.

    .venv/bin/python bench/als.py [--scale medium] [--seed 42] [--rank 32] [--iterations 10] [--history-days 800]
                                  [--spark-reg 0.01,0.05,0.2] [--implicit-reg 0.01,0.1,1,10]

Both libraries get the same time-decayed interactions (train_als's own transforms, up to the day
before the held-out week), the same rank and iterations, and confidence 1 + alpha * weight. Each
gets its own small regularisation grid, because Spark's ALS-WR scales lambda by each user's and
item's number of ratings and `implicit` does not. Both score with the same blocked scorer
(`recs.scoring.score_block`, ALS alone, recently sold candidates); Spark runs it on its executors
(mapInPandas), `implicit`'s factors are scored in-process. MAP@12 is Kaggle's, over the customers
who bought in the held-out week (customers without history get the trend in both).

Reports, for the best regularisation of each: MAP@12 ratio (goal >= 0.95) and train + score time
ratio Spark / implicit (goal <= 8x).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

# implicit threads itself and asks for single-threaded BLAS; it must be set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from fashion_pipeline.config import load_config  # noqa: E402

MAP_GOAL, TIME_GOAL = 0.95, 8.0


def build_lake(config, scale: str, seed: int, generated_dir: Path, spark) -> None:
    from fashion_pipeline.generate import generate_hm
    from fashion_pipeline.landing import land_directory
    from fashion_pipeline.pipelines.partition_raw import run_partition_raw
    from fashion_pipeline.storage import storage_for

    if Path(config.paths.lake("curated", "transactions")).is_dir():
        return
    if not (generated_dir / "_truth" / "manifest.json").is_file():
        print(f"generating {scale} seed={seed} -> {generated_dir}", flush=True)
        print(generate_hm(scale, seed, generated_dir, progress=False).summary(), flush=True)
    land_directory(generated_dir, config.paths.raw_root, date(2020, 9, 23), storage_for(config))
    started = time.perf_counter()
    print(run_partition_raw(spark, config, storage_for(config)).summary(), flush=True)
    print(f"partition_raw {time.perf_counter() - started:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=20.0)
    parser.add_argument("--history-days", type=int, default=800, help="sales used for training (default: all)")
    parser.add_argument("--spark-reg", default="0.01,0.05,0.2")
    parser.add_argument("--implicit-reg", default="0.01,0.1,1,10")
    parser.add_argument("--work", type=Path, default=None, help="default: <state_dir>/bench/als-<scale>-seed<seed>")
    args = parser.parse_args(argv)

    base = load_config("local")
    work = args.work or Path(base.paths.state_dir) / "bench" / f"als-{args.scale}-seed{args.seed}"
    config = base.with_overrides({
        "paths.raw_root": str(work / "raw"), "paths.lake_root": str(work / "lake"), "paths.state_dir": str(work / "state"),
        "recs.rank": args.rank, "recs.max_iter": args.iterations, "recs.alpha": args.alpha,
        "recs.history_days": args.history_days,
    })

    from pyspark.sql import functions as F

    from fashion_pipeline.lake import read_table, write_table
    from fashion_pipeline.recs import signals
    from fashion_pipeline.recs.metrics import mean_average_precision_at_k
    from fashion_pipeline.recs.model import build_context, train_als
    from fashion_pipeline.recs.recommend import read_sales_and_customers
    from fashion_pipeline.recs.scoring import SCORED_USERS_SCHEMA, score_block, score_user_batches
    from fashion_pipeline.spark import build_spark

    spark = build_spark("bench_als", config)
    build_lake(config, args.scale, args.seed, work / "generated", spark)
    transactions_df, _ = read_sales_and_customers(spark, config)
    last_day = transactions_df.agg(F.max("t_dat")).first()[0]
    recs = config.recs
    train_until = last_day - timedelta(days=recs.holdout_days)

    # The same interactions for both libraries, written once.
    interactions_uri = str(work / "bench" / f"interactions-{train_until}")
    history_df = signals.filter_days(transactions_df, signals.window_start(train_until, recs.history_days), train_until)
    interactions_df = signals.to_interactions(history_df, train_until, recs.decay_half_life_days)
    users_df = signals.build_id_index(interactions_df, "customer_id", "user_index")
    items_df = signals.build_id_index(interactions_df, "article_id", "item_index")
    write_table(
        interactions_df.join(users_df, "customer_id").join(items_df, "article_id")
        .select("customer_id", "article_id", "user_index", "item_index", "weight"),
        interactions_uri,
    )
    indexed_df = read_table(spark, interactions_uri).cache()
    n_interactions = indexed_df.count()
    recent_df = signals.filter_days(transactions_df, signals.window_start(train_until, recs.candidate_days), train_until)
    trending_df = signals.trending_articles(recent_df, train_until, recs.trending_half_life_days)
    holdout_df = signals.filter_days(transactions_df, train_until + timedelta(days=1), last_day)
    actual = {
        row["customer_id"]: row["items"]
        for row in holdout_df.groupBy("customer_id").agg(F.collect_set("article_id").alias("items")).collect()
    }
    interactions_pd = indexed_df.select("customer_id", "user_index", "item_index", "weight").toPandas()
    n_users, n_items = int(interactions_pd.user_index.max()) + 1, int(interactions_pd.item_index.max()) + 1
    customer_of_user = interactions_pd.drop_duplicates("user_index").sort_values("user_index")["customer_id"].to_numpy()
    user_of_customer = {c: i for i, c in enumerate(customer_of_user)}
    article_index = items_df.toPandas().sort_values("item_index")
    buyers_with_history = [c for c in actual if c in user_of_customer]
    print(f"\n{args.scale}: {n_interactions:,} interactions ({n_users:,} users x {n_items:,} articles) up to {train_until}; "
          f"{len(actual):,} customers bought in the held-out week, {len(buyers_with_history):,} with history; "
          f"rank {args.rank}, {args.iterations} iterations, alpha {args.alpha}", flush=True)

    def map_of(predicted: dict, context) -> float:
        fallback = context.article_ids[context.trending].tolist()
        return mean_average_precision_at_k(actual, {c: predicted.get(c, fallback) for c in actual})

    results = []
    holdout_customers_df = spark.createDataFrame([(c,) for c in buyers_with_history], "customer_id string")
    for reg in [float(x) for x in args.spark_reg.split(",")]:
        trial = recs.model_copy(update={"reg_param": reg})
        started = time.perf_counter()
        model = train_als(spark, indexed_df.select("user_index", "item_index", "weight"), trial,
                          checkpoint_uri=str(work / "state" / "checkpoints"))
        item_factors_df = items_df.join(model.itemFactors.withColumnRenamed("id", "item_index"), "item_index")
        context = build_context(item_factors_df, trending_df, n_items, trial)
        trained = time.perf_counter()
        scoring_input = (
            users_df.join(holdout_customers_df, "customer_id", "left_semi")
            .join(model.userFactors.withColumnRenamed("id", "user_index"), "user_index")
            .select("customer_id", "features", F.lit(None).cast("array<int>").alias("rep_items"),
                    F.lit(None).cast("array<double>").alias("rep_scores"))
        )
        shared = spark.sparkContext.broadcast(context)
        scored = scoring_input.mapInPandas(lambda b: score_user_batches(b, shared.value), SCORED_USERS_SCHEMA)
        predicted = {row["customer_id"]: row["als_ids"] for row in scored.select("customer_id", "als_ids").collect()}
        done = time.perf_counter()
        results.append(("spark", reg, map_of(predicted, context), trained - started, done - trained))
        print(f"spark    reg={reg:<6} MAP@12={results[-1][2]:.5f} train {results[-1][3]:.1f}s score {results[-1][4]:.1f}s", flush=True)

    from implicit.cpu.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix

    confidence = csr_matrix(
        (1.0 + args.alpha * interactions_pd.weight.to_numpy(np.float32),
         (interactions_pd.user_index.to_numpy(), interactions_pd.item_index.to_numpy())),
        shape=(n_users, n_items), dtype=np.float32,
    )
    trending_pd = trending_df.select("article_id", "trend").toPandas()
    scored_rows = np.array([user_of_customer[c] for c in buyers_with_history], dtype=np.int64)
    for reg in [float(x) for x in args.implicit_reg.split(",")]:
        started = time.perf_counter()
        model = AlternatingLeastSquares(factors=args.rank, regularization=reg, alpha=1.0, iterations=args.iterations,
                                        random_state=recs.seed)
        model.fit(confidence, show_progress=False)
        trained = time.perf_counter()
        factors = np.asarray(model.item_factors)
        context = context_for_factors(factors, article_index, trending_pd, recs)
        predicted = {}
        for start in range(0, len(scored_rows), recs.scoring_block_users):
            rows = scored_rows[start:start + recs.scoring_block_users]
            empty = [np.empty(0, dtype=np.int64)] * len(rows)
            block = score_block(np.asarray(model.user_factors)[rows], empty, [np.empty(0)] * len(rows), context)
            predicted.update(zip(customer_of_user[rows], block["als_ids"]))
        done = time.perf_counter()
        results.append(("implicit", reg, map_of(predicted, context), trained - started, done - trained))
        print(f"implicit reg={reg:<6} MAP@12={results[-1][2]:.5f} train {results[-1][3]:.1f}s score {results[-1][4]:.1f}s", flush=True)

    best = {lib: max((r for r in results if r[0] == lib), key=lambda r: r[2]) for lib in ("spark", "implicit")}
    print(f"\n{'library':<9} {'best reg':>9} {'MAP@12':>9} {'train s':>8} {'score s':>8} {'total s':>8}")
    for lib in ("spark", "implicit"):
        _, reg, score, train_s, score_s = best[lib]
        print(f"{lib:<9} {reg:>9} {score:>9.5f} {train_s:>8.1f} {score_s:>8.1f} {train_s + score_s:>8.1f}")
    map_ratio = best["spark"][2] / best["implicit"][2] if best["implicit"][2] else float("inf")
    time_ratio = (best["spark"][3] + best["spark"][4]) / (best["implicit"][3] + best["implicit"][4])
    print(f"MAP@12 ratio spark/implicit = {map_ratio:.3f} (goal >= {MAP_GOAL}: {'met' if map_ratio >= MAP_GOAL else 'missed'})")
    print(f"train+score time ratio spark/implicit = {time_ratio:.2f}x (goal <= {TIME_GOAL}x: {'met' if time_ratio <= TIME_GOAL else 'missed'})")
    spark.stop()
    return 0


def context_for_factors(item_factors: np.ndarray, article_index, trending_pd, recs):
    """The scoring context of `implicit`'s factors: the same candidates and trend as Spark's."""
    from fashion_pipeline.recs.model import context_from_arrays

    trend = article_index.merge(trending_pd, on="article_id", how="left")["trend"].fillna(0.0).to_numpy()
    return context_from_arrays(item_factors, article_index["article_id"].to_numpy().astype(str), trend, recs)


if __name__ == "__main__":
    sys.exit(main())
