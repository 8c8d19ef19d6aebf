"""Recommender runs recorded in MLflow (recs/tracking.py) against a temporary SQLite store, read back
through `fashion recs runs`; and the promise that recording never fails a job."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_pipeline.cli import main as fashion
from fashion_pipeline.config import load_config
from fashion_pipeline.pipelines.train_als import TrainReport
from fashion_pipeline.recs import tracking
from fashion_pipeline.recs.evaluation import EvaluationReport, StrategyResult
from fashion_pipeline.services import free_port
from fashion_pipeline.storage import storage_for

ROOT = Path(__file__).resolve().parents[2]
RUN_DATE = "2020-09-22"
TRAIN_VERSION = "20200922-0a1b2c3d"
EVALUATION_VERSION = "20200915-0a1b2c3d"
# "served" and "learned_ranker" stand for strategies the evaluation does not have yet: the
# recording must carry them without knowing their names.
MAP_BY_STRATEGY = {"popular_last_week": 0.004, "trending": 0.006, "repurchase_trending": 0.010,
                   "als": 0.008, "blend": 0.012, "learned_ranker": 0.013, "served": 0.014}


def _config(state_dir: Path, lake_root: Path, **overrides):
    return load_config("local", environ={}, overrides={
        "paths.state_dir": str(state_dir), "paths.lake_root": str(lake_root), **overrides})


def _train_report(model_dir: str) -> TrainReport:
    return TrainReport(run_date=RUN_DATE, model_version=TRAIN_VERSION, generated_at="2020-09-23T01:00:00+00:00",
                       interactions=12_000, users_with_history=900, cold_start_users=100, candidates=3000,
                       articles_with_neighbors=2500, recommendations_by_reason={"als": 8000, "popular": 1200},
                       outputs={"model": model_dir}, seconds=42.5)


def _evaluation_report(config, scale: float = 1.0, strategies=MAP_BY_STRATEGY) -> EvaluationReport:
    return EvaluationReport(
        run_date=RUN_DATE, train_until="2020-09-15", holdout=["2020-09-16", RUN_DATE],
        model_version=EVALUATION_VERSION, parameters=config.recs.model_dump(mode="json"),
        evaluated_customers=400, cold_start_customers=40, catalogue_articles=5000,
        results=[StrategyResult(name, value * scale, 2 * value * scale, 0.1) for name, value in strategies.items()],
        created_at="2020-09-23T02:00:00+00:00")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module (creating MLflow's database takes seconds): a train run, an
    evaluation with rank 16, and a sweep of two points."""
    base = tmp_path_factory.mktemp("tracked")
    config = _config(base / "state", base / "lake")
    model_dir = config.paths.lake("recs", "models", f"version={TRAIN_VERSION}")
    storage = storage_for(config)
    storage.write_text(model_dir + "/model.json", json.dumps({"model_version": TRAIN_VERSION, "candidates": 3000}))
    train_id = tracking.track_train_run(config, storage, _train_report(model_dir))
    evaluation_config = config.with_overrides({"recs.rank": 16})
    evaluation_id = tracking.track_evaluation_run(evaluation_config, _evaluation_report(evaluation_config))
    sweep = tracking.SweepTracker(config, RUN_DATE, {"rank": [16, 32]})
    for rank, scale in ((16, 1.0), (32, 1.5)):
        trial = config.with_overrides({"recs.rank": rank})
        sweep.record_point(trial, _evaluation_report(trial, scale))
    sweep.finish([{"parameters": {"rank": 32}}, {"parameters": {"rank": 16}}])
    return {"config": config, "base": base, "train": train_id, "evaluation": evaluation_id,
            "sweep": sweep.parent_run_id}


def _client(config):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking.tracking_uri(config))


def test_the_local_store_lives_under_the_state_dir_whatever_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config("local", environ={})
    assert tracking.tracking_uri(config) == f"sqlite:///{Path(config.paths.state_dir) / 'mlflow' / 'mlflow.db'}"
    assert Path(config.paths.state_dir).is_absolute() and str(ROOT) in config.paths.state_dir
    assert tracking.artifact_location(tracking.tracking_uri(config)) == (
        Path(config.paths.state_dir) / "mlflow" / "artifacts").as_uri()


def test_emr_takes_the_tracking_server_from_the_environment():
    environ = {"FASHION_BUCKET": "store-lake"}
    assert load_config("emr", environ=environ).tracking.uri == ""
    config = load_config("emr", environ={**environ, "FASHION_TRACKING_URI": "https://mlflow.internal:5000"})
    assert tracking.tracking_uri(config) == "https://mlflow.internal:5000"
    assert tracking.artifact_location(tracking.tracking_uri(config)) is None  # the server decides


def test_metrics_come_from_the_report_whatever_strategies_it_holds():
    report = {
        "run_date": RUN_DATE, "evaluated_customers": 400, "blend_lift": float("inf"), "flag": True,
        "parameters": {"rank": 32},
        "recommendations_by_reason": {"als": 10, "popular": 2},
        "results": [{"strategy": "served", "map_at_12": 0.02, "recall_at_12": 0.04, "coverage": 0.5},
                    {"strategy": "learned ranker@v2", "map_at_12": 0.03}],
    }
    assert tracking.report_metrics(report) == {
        "evaluated_customers": 400.0,
        "recommendations_by_reason.als": 10.0, "recommendations_by_reason.popular": 2.0,
        "served.map_at_12": 0.02, "served.recall_at_12": 0.04, "served.coverage": 0.5,
        "learned ranker_v2.map_at_12": 0.03,
    }
    assert tracking.headline({"blend.map_at_12": 0.1, "served.map_at_12": 0.2}) == 0.2
    assert tracking.headline({"blend.map_at_12": 0.1}) == 0.1
    assert tracking.headline({"interactions": 5}) is None


def test_a_train_run_holds_its_parameters_counts_report_and_model(store):
    run = _client(store["config"]).get_run(store["train"])
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert (tags["kind"], tags["run_date"], tags["model_version"]) == ("train", RUN_DATE, TRAIN_VERSION)
    assert params["recs.rank"] == "32" and params["recs.age_band_edges"] == "[25, 35, 45, 55, 65]"
    assert len([p for p in params if p.startswith("recs.")]) == len(store["config"].recs.model_dump())
    assert metrics["interactions"] == 12_000 and metrics["seconds"] == 42.5
    assert metrics["recommendations_by_reason.popular"] == 1200
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert artifacts.is_relative_to(store["base"] / "state" / "mlflow" / "artifacts")
    assert json.loads((artifacts / "report.json").read_text())["candidates"] == 3000
    assert json.loads((artifacts / "model.json").read_text()) == {"model_version": TRAIN_VERSION, "candidates": 3000}
    assert run.info.status == "FINISHED"


def test_an_evaluation_run_holds_every_strategy_of_its_report(store):
    run = _client(store["config"]).get_run(store["evaluation"])
    assert run.data.tags["kind"] == "evaluate" and run.data.tags["model_version"] == EVALUATION_VERSION
    for strategy, value in MAP_BY_STRATEGY.items():
        assert run.data.metrics[f"{strategy}.map_at_12"] == pytest.approx(value)
        assert run.data.metrics[f"{strategy}.recall_at_12"] == pytest.approx(2 * value)
    assert run.data.params["recs.rank"] == "16"


def test_a_sweep_is_one_run_with_a_child_per_grid_point(store):
    client = _client(store["config"])
    parent = client.get_run(store["sweep"])
    assert parent.data.tags["kind"] == "sweep" and parent.info.status == "FINISHED"
    assert parent.data.params["grid.rank"] == "16,32" and "recs.rank" not in parent.data.params
    assert parent.data.metrics["points"] == 2
    assert parent.data.metrics["best.served.map_at_12"] == pytest.approx(0.014 * 1.5)
    assert parent.data.tags["best_grid_point"] == "rank=32"
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{store['sweep']}'")
    assert sorted(child.data.tags["grid_point"] for child in children) == ["rank=16", "rank=32"]
    assert {child.data.params["recs.rank"] for child in children} == {"16", "32"}


def test_runs_are_listed_newest_first_through_the_cli(store, capsys):
    assert fashion(["recs", "runs", "--set", f"paths.state_dir={store['base'] / 'state'}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["run", "kind", "run_date", "model_version", "MAP@12"]
    rows = [line.split() for line in lines[1:]]
    assert [row[1] for row in rows] == ["sweep", "sweep", "sweep", "evaluate", "train"]
    # The parent was started first (before its points) and so is listed last of the three.
    assert rows[2][0] == store["sweep"][:8] and "2 points over rank" in lines[3]
    assert rows[3][0] == store["evaluation"][:8] and rows[3][4] == "0.01400"  # the served strategy
    assert rows[4][:4] == [store["train"][:8], "train", RUN_DATE, TRAIN_VERSION] and rows[4][4] == "-"


def test_two_runs_compared_through_the_cli(store, capsys):
    state = f"paths.state_dir={store['base'] / 'state'}"
    assert fashion(["recs", "runs", "--compare", store["train"][:8], store["evaluation"][:6], "--set", state]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"A: {store['train'][:8]} (train {RUN_DATE} {TRAIN_VERSION})")
    differing = {line.split()[0]: line.split()[1:] for line in out.split("\n\n")[1].splitlines()[1:]}
    assert differing == {"recs.rank": ["32", "16"]}
    metrics = {line.split()[0]: line.split()[1:] for line in out.split("\n\n")[2].splitlines()[1:]}
    assert metrics["served.map_at_12"] == ["-", "0.014", "-"]
    assert metrics["interactions"] == ["12000", "-", "-"]
    capsys.readouterr()
    sweep_points = [line.split()[0] for line in _listing(store, capsys)[1:3]]
    assert fashion(["recs", "runs", "--compare", *sweep_points, "--set", state]) == 0
    metrics = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.split("\n\n")[2].splitlines()[1:]}
    assert metrics["served.map_at_12"] == ["0.021", "0.014", "-0.007"]


def _listing(store, capsys) -> list[str]:
    fashion(["recs", "runs", "--set", f"paths.state_dir={store['base'] / 'state'}"])
    return capsys.readouterr().out.splitlines()


def test_an_unknown_run_is_one_line_and_a_store_without_runs_lists_none(store, tmp_path, capsys):
    state = f"paths.state_dir={store['base'] / 'state'}"
    assert fashion(["recs", "runs", "--compare", "ffffffff", store["train"], "--set", state]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run 'ffffffff'" in err and "fashion recs runs" in err
    assert fashion(["recs", "runs", "--set", f"paths.state_dir={tmp_path}"]) == 0
    assert capsys.readouterr().out.startswith("no runs recorded yet in sqlite:///")
    assert not (tmp_path / "mlflow").exists()  # listing creates no store


def test_recording_prints_nothing_when_it_works(store, capfd):
    config = store["config"]
    assert tracking.track_evaluation_run(config, _evaluation_report(config)) is not None
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_an_unreachable_server_costs_one_warning_line_and_never_the_run(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # refused at once, not after backoff
    config = _config(tmp_path / "state", tmp_path / "lake", **{"tracking.uri": f"http://user:secret@127.0.0.1:{free_port()}"})
    assert tracking.track_evaluation_run(config, _evaluation_report(config)) is None
    sweep = tracking.SweepTracker(config, RUN_DATE, {"rank": [16, 32, 64]})
    for rank in (16, 32, 64):
        assert sweep.record_point(config.with_overrides({"recs.rank": rank}), _evaluation_report(config)) is None
    sweep.finish([])
    err = capfd.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 2, err  # one for the evaluation, one for the whole sweep
    assert lines[0].startswith("warning: evaluate run 2020-09-22 not recorded in MLflow: cannot reach the MLflow "
                               "tracking server at http://***@127.0.0.1:")
    assert "FASHION_TRACKING_URI" in lines[0] and "tracking.enabled=false" in lines[0]
    assert lines[1].startswith("warning: sweep point rank=16 (2020-09-22) not recorded")
    assert "secret" not in err


def test_an_unset_server_on_emr_and_a_missing_client_are_one_line_each(tmp_path, capfd, monkeypatch):
    config = _config(tmp_path / "state", tmp_path / "lake", **{"tracking.uri": ""})
    assert tracking.track_train_run(config, storage_for(config), _train_report("")) is None
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "tracking.uri is empty" in err and "FASHION_TRACKING_URI" in err
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    config = _config(tmp_path / "state", tmp_path / "lake")
    assert tracking.track_evaluation_run(config, _evaluation_report(config)) is None
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "MLflow client is not installed" in err


def test_a_failing_store_is_caught_whatever_it_raises(tmp_path, capfd, monkeypatch):
    config = _config(tmp_path / "state", tmp_path / "lake")

    def broken(self, record, parent_run_id=None):
        raise RuntimeError("database is locked\nsecond line")

    monkeypatch.setattr(tracking.TrackingStore, "log", broken)
    assert tracking.track_evaluation_run(config, _evaluation_report(config)) is None
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError from the store at sqlite:///" in err and "second line" not in err


def test_disabled_tracking_records_nothing_and_says_nothing(tmp_path, capfd):
    config = _config(tmp_path / "state", tmp_path / "lake", **{"tracking.enabled": False})
    assert tracking.track_evaluation_run(config, _evaluation_report(config)) is None
    assert capfd.readouterr().err == ""
    assert not (tmp_path / "state" / "mlflow").exists()


def test_importing_the_hooks_loads_neither_mlflow_nor_spark():
    code = ("import sys, fashion_pipeline.recs.tracking, fashion_pipeline.recs.commands; "
            "sys.exit(1 if {'mlflow', 'pyspark'} & set(sys.modules) else 0)")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
