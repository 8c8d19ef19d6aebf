"""The real-time rule against the generator's planted truth (`tiny`): a simulated browsing session
before each held-out purchase, MAP@12 of the nightly list alone vs the rule on the session."""
import json
from datetime import date
from pathlib import Path

import pytest

from fashion_pipeline.config import load_config
from fashion_pipeline.generate import generate_hm
from fashion_pipeline.jobs import OneLineArgumentParser
from fashion_pipeline.landing import land_directory
from fashion_pipeline.pipelines.evaluate_realtime import run_evaluate_realtime
from fashion_pipeline.pipelines.partition_raw import run_partition_raw
from fashion_pipeline.realtime.commands import add_realtime_commands
from fashion_pipeline.realtime.evaluation import (
    BATCH_ONLY,
    LIFT_GOAL,
    RULE,
    SESSION_ONLY,
    TasteModelMismatchError,
)
from fashion_pipeline.storage import storage_for

SEED = 7
RUN_DATE = date(2020, 9, 22)


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("realtime-tiny")
    config = load_config("local", overrides={
        "recs.num_blocks": 2, "spark.shuffle_partitions": 2, "spark.ui_enabled": False, "spark.driver_memory": "2g",
        "paths.raw_root": str(root / "raw"), "paths.lake_root": str(root / "lake"), "paths.state_dir": str(root / "state"),
        # The sessions are drawn from the taste model the lake was generated with; tiny has ~100
        # sales a week, so four held-out weeks give enough buyers.
        "clickstream.scale": "tiny", "clickstream.model_seed": SEED, "recs.holdout_days": 28,
    })
    generated = generate_hm("tiny", SEED, root / "generated", progress=False)
    land_directory(generated.out_dir, config.paths.raw_root, date(2020, 9, 23), storage_for(config))
    run_partition_raw(spark, config, storage_for(config))
    return config


def test_the_session_signal_lifts_map_for_customers_who_browse_before_buying(spark, tiny_lake, capsys):
    config = tiny_lake
    parser = OneLineArgumentParser(prog="fashion")
    add_realtime_commands(parser.add_subparsers(dest="_command", required=True))
    args = parser.parse_args(["realtime", "evaluate", "--run-date", RUN_DATE.isoformat(),
                              "--lake-root", config.paths.lake_root, "--raw-root", config.paths.raw_root,
                              "--set", "clickstream.scale=tiny", "--set", f"clickstream.model_seed={SEED}",
                              "--set", "recs.holdout_days=28", "--set", "recs.num_blocks=2"])
    assert args._handler(args) == 0
    printed = capsys.readouterr().out

    saved = list(Path(config.paths.lake("_reports", "recs")).glob("realtime-evaluation-2020-09-22-*.json"))
    report = json.loads(saved[0].read_text())
    maps = {r["strategy"]: r["map_at_12_session_day"] for r in report["results"]}
    assert report["customers"] > 80 and report["train_until"] == "2020-08-25"
    # A rule that ignored the session would return the nightly list: the same MAP, no lift.
    assert maps[RULE] >= LIFT_GOAL * maps[BATCH_ONLY] > 0
    assert report["lift_session_day"] == pytest.approx(maps[RULE] / maps[BATCH_ONLY])
    assert maps[RULE] > maps[SESSION_ONLY]  # the nightly list still adds to the session
    holdout = {r["strategy"]: r["map_at_12_holdout"] for r in report["results"]}
    assert holdout[RULE] > holdout[BATCH_ONLY]
    # How much the sessions give away, pinned: a change in how they are drawn shows up here.
    assert 0.3 < report["sessions_viewing_a_purchase"] < 0.8 and 3 < report["mean_session_events"] < 15
    assert f"{RULE} / {BATCH_ONLY} on the session day" in printed and "meets the 1.2x goal" in printed


def test_a_lake_of_another_taste_model_is_refused_before_training(spark, tiny_lake):
    config = tiny_lake.with_overrides({"clickstream.model_seed": SEED + 1})
    with pytest.raises(TasteModelMismatchError, match="clickstream.scale=tiny, model_seed=8"):
        run_evaluate_realtime(spark, config, storage_for(config), RUN_DATE)


def test_the_demo_puts_a_new_style_on_top_of_a_customers_list(spark, tiny_lake, aws_config, capsys):
    from fashion_pipeline.clickstream.producer import ensure_clickstream_stream
    from fashion_pipeline.pipelines.load_recommendations import run_load_recommendations
    from fashion_pipeline.pipelines.train_als import run_train_als
    from fashion_pipeline.realtime.demo import run_realtime_demo

    config = tiny_lake.with_overrides({"aws.endpoint_url": aws_config.aws.endpoint_url,
                                       "clickstream.shard_count": 2, "recs.load_partitions": 2})
    run_train_als(spark, config, storage_for(config), RUN_DATE)
    run_load_recommendations(spark, config, storage_for(config), RUN_DATE)
    ensure_clickstream_stream(config, sleep=lambda s: None)
    capsys.readouterr()

    summary = run_realtime_demo(config, spark, step_prefix="8")

    printed = capsys.readouterr().out
    assert "== 8a." in printed and "== 8d." in printed and "1 ok" in printed
    assert summary["after_top3"] == summary["session_items"][:3]  # the session's articles lead
    assert set(summary["session_items"][:3]) <= set(summary["session_articles"])
    assert summary["before_top3"] != summary["after_top3"] and summary["invocations"] == 1
    from fashion_pipeline.lake import read_table

    articles = read_table(spark, config.paths.lake("curated", "articles"))
    bought_types = {r.product_type_name for r in read_table(spark, config.paths.lake("curated", "transactions"))
                    .filter(f"customer_id = '{summary['customer']}'").join(articles, "article_id").collect()}
    session_types = {r.product_type_name for r in articles.filter(articles.article_id.isin(summary["session_articles"])).collect()}
    assert bought_types and session_types == {summary["style"]} and summary["style"] not in bought_types
