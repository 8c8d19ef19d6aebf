"""The recommender end to end on the generator's `tiny` data, whose customers have planted tastes.

One lake is built for the module (generate -> land -> partition_raw, as the demo does); the
tests train, evaluate, load into moto and show, on that lake.
"""
import json
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fashion_pipeline.config import load_config
from fashion_pipeline.generate import generate_hm
from fashion_pipeline.lake import read_table
from fashion_pipeline.landing import land_directory
from fashion_pipeline.pipelines.evaluate_recs import run_evaluate_recs
from fashion_pipeline.pipelines.partition_raw import run_partition_raw
from fashion_pipeline.pipelines.train_als import run_train_als
from fashion_pipeline.recs.evaluation import run_recs_sweep
from fashion_pipeline.recs.tracking import list_runs
from fashion_pipeline.storage import storage_for
from fashion_pipeline.tables import ITEM_NEIGHBORS_TABLE, RECOMMENDATIONS_TABLE

SEED = 7
RUN_DATE = date(2020, 9, 22)  # the generator's last day of sales
TEST_RECS_SETTINGS = {"recs.num_blocks": 2, "recs.load_partitions": 2, "spark.shuffle_partitions": 2,
                      "spark.ui_enabled": False, "spark.driver_memory": "2g"}


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("recs-tiny")
    config = load_config("local", overrides={
        **TEST_RECS_SETTINGS,
        "paths.raw_root": str(root / "raw"), "paths.lake_root": str(root / "lake"), "paths.state_dir": str(root / "state"),
    })
    generated = generate_hm("tiny", SEED, root / "generated", progress=False)
    land_directory(generated.out_dir, config.paths.raw_root, date(2020, 9, 23), storage_for(config))
    run_partition_raw(spark, config, storage_for(config))
    return config, generated


@pytest.fixture(scope="module")
def trained(tiny_lake, spark):
    config, _ = tiny_lake
    return run_train_als(spark, config, storage_for(config), RUN_DATE)


def test_als_and_the_blend_beat_popularity_on_planted_taste(spark, tiny_lake):
    config, _ = tiny_lake
    # tiny has ~100 sales a week: four held-out weeks give enough buyers for a stable comparison.
    config = config.with_overrides({"recs.holdout_days": 28})
    report = run_evaluate_recs(spark, config, storage_for(config), RUN_DATE)
    maps = {r.strategy: r.map_at_12 for r in report.results}

    assert report.evaluated_customers > 80 and report.train_until == "2020-08-25"
    assert maps["als"] > 1.5 * max(maps["popular_last_week"], maps["trending"])
    assert maps["blend"] > 1.1 * maps["repurchase_trending"]
    assert all(0.0 <= r.recall_at_12 <= 1.0 and 0.0 < r.coverage <= 1.0 for r in report.results)
    assert "blend / repurchase_trending" in report.summary() and "MAP@12" in report.summary()
    # What is served won on the validation week before the holdout, never against the holdout.
    validation = report.ranker["validation_map_at_12"]
    assert report.served_strategy == report.ranker["served"]
    assert validation[report.served_strategy] == max(validation.values())
    if report.served_strategy in ("ranker", "blend"):  # same lists, same cold-start rule
        assert maps["served"] == maps[report.served_strategy]
    saved = list(Path(config.paths.lake("_reports", "recs")).glob("evaluation-2020-09-22-*.json"))
    assert saved and json.loads(saved[0].read_text())["results"][4]["strategy"] == "blend"
    recorded = next(run for run in list_runs(config) if run.kind == "evaluate")
    assert recorded.model_version == report.model_version and recorded.headline == pytest.approx(maps["served"])


def test_the_nights_run_is_recorded_with_its_version(tiny_lake, trained):
    config, _ = tiny_lake
    recorded = [run for run in list_runs(config) if run.kind == "train"]
    assert recorded and recorded[-1].model_version == trained.model_version and recorded[-1].run_date == "2020-09-22"


def test_a_sweep_records_one_run_with_a_child_per_grid_point(spark, tiny_lake):
    config, _ = tiny_lake
    config = config.with_overrides({"recs.holdout_days": 28, "recs.max_iter": 3})
    rows = run_recs_sweep(spark, config, storage_for(config), RUN_DATE, {"rank": [4, 8]})
    sweeps = [run for run in list_runs(config) if run.kind == "sweep"]
    assert len(sweeps) == 3 and sweeps[-1].note.startswith("2 points over rank, best rank=")
    best = max(row.map_served for row in rows)
    assert sweeps[-1].headline == pytest.approx(best)


def test_every_customer_gets_twelve_distinct_items_and_cold_starts_get_their_segment(spark, tiny_lake, trained):
    config, generated = tiny_lake
    recommendations = read_table(spark, RECOMMENDATIONS_TABLE.uri(config)).filter(F.col("run_date") == RUN_DATE)
    customers = read_table(spark, config.paths.lake("curated", "customers"))
    buyers = read_table(spark, config.paths.lake("curated", "transactions")).filter(
        F.col("t_dat") > F.date_sub(F.lit(RUN_DATE), config.recs.history_days)
    ).select("customer_id").distinct()

    assert recommendations.count() == customers.count() == generated.row_counts["customers"]
    assert recommendations.filter(F.size("items") != 12).count() == 0
    assert recommendations.filter(F.size(F.array_distinct("items.article_id")) != 12).count() == 0
    cold = recommendations.filter("cold_start")
    assert cold.count() == customers.join(buyers, "customer_id", "left_anti").count() > 0
    assert cold.filter(F.array_contains("items.reason", "als") | F.array_contains("items.reason", "repurchase")).count() == 0
    reasons = {r.reason for r in recommendations.select(F.explode("items.reason").alias("reason")).distinct().collect()}
    assert {"als", "popular"} <= reasons <= {"als", "repurchase", "popular"}
    assert trained.served_strategy in ("ranker", "blend", "als", "repurchase_trending")
    assert recommendations.select("model_version").distinct().collect()[0][0] == trained.model_version
    assert trained.users_with_history + trained.cold_start_users == generated.row_counts["customers"]


def test_cold_start_items_follow_the_segment(spark, tiny_lake, trained):
    config, _ = tiny_lake
    recommendations = read_table(spark, RECOMMENDATIONS_TABLE.uri(config)).filter("cold_start")
    customers = read_table(spark, config.paths.lake("curated", "customers"))
    lists = (
        recommendations.join(customers, "customer_id")
        .select(F.when(F.col("age") < 30, "young").when(F.col("age") >= 45, "older").alias("band"), "items")
        .filter(F.col("band").isNotNull())
        .groupBy("band").agg(F.first(F.col("items.article_id")).alias("items"))
        .collect()
    )
    by_band = {row.band: row["items"] for row in lists}
    if trained.ranker["cold_start_served"] == "segment_popular":
        assert by_band["young"] != by_band["older"]  # segments differ: not one global list for all
    else:  # one list did better for last week's new buyers: everyone without history gets it
        assert by_band["young"] == by_band["older"]


def test_neighbours_and_versioned_model_files(spark, tiny_lake, trained):
    config, _ = tiny_lake
    neighbors = read_table(spark, ITEM_NEIGHBORS_TABLE.uri(config)).filter(F.col("run_date") == RUN_DATE)
    assert neighbors.count() == trained.articles_with_neighbors > 0
    assert neighbors.filter(F.size("neighbors") > config.recs.neighbors_k).count() == 0
    assert neighbors.filter(F.array_contains("neighbors.article_id", F.col("article_id"))).count() == 0
    model_dir = Path(trained.outputs["model"])
    assert model_dir.name == f"version={trained.model_version}"
    saved = json.loads((model_dir / "model.json").read_text())
    assert saved["parameters"]["rank"] == config.recs.rank and saved["served_strategy"] == trained.served_strategy
    ranker = json.loads((model_dir / "ranker.json").read_text())
    assert ranker["features"] and ranker["trees"] == config.recs.ranker_trees
    user_index = read_table(spark, str(Path(trained.outputs["factors"]) / "user_index"))
    assert user_index.agg(F.min("user_index"), F.max("user_index")).first() == (0, user_index.count() - 1)


def test_train_load_show_through_the_cli(spark, tiny_lake, trained, moto_service, capsys):
    from fashion_pipeline.cli import main

    config, _ = tiny_lake
    common = ["--lake-root", config.paths.lake_root, "--raw-root", config.paths.raw_root,
              "--set", f"paths.state_dir={config.paths.state_dir}",
              "--set", f"aws.endpoint_url={moto_service.address}", "--set", "recs.load_partitions=2"]
    moto_service.reset()
    assert main(["recs", "train", "--run-date", "2020-09-22", *common]) == 0
    again = capsys.readouterr().out
    assert f"model_version={trained.model_version}" in again  # same day, same parameters, same version
    assert main(["recs", "load", "--run-date", "2020-09-22", *common]) == 0
    assert "BatchWriteItem" in capsys.readouterr().out

    user = read_table(spark, RECOMMENDATIONS_TABLE.uri(config)).filter("not cold_start").first()
    assert main(["recs", "show", user.customer_id, *common]) == 0
    shown = capsys.readouterr().out
    articles = read_table(spark, config.paths.lake("curated", "articles"))
    first_name = articles.filter(F.col("article_id") == user["items"][0]["article_id"]).first()["prod_name"]
    assert first_name[:28] in shown and user["items"][0]["reason"] in shown
    assert len([line for line in shown.splitlines() if line[:2].strip().isdigit()]) == 12
