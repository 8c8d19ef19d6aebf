"""Every `fashion` subcommand and every job, run with a prerequisite missing (no services, no
schema, no data, a bad date, a lake it cannot write), fails with a non-zero exit and one line on
stderr that names the cause and the fix: never a traceback."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fashion_pipeline.cli import main
from fashion_pipeline.services import free_port
from tests.handmade import transaction_line, write_hm_files

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"
DAY = "2020-09-23"
USER = "a" * 64
START_SERVICES = "start the local services with `fashion services up`"


def _job_main(job: str):
    spec = importlib.util.spec_from_file_location(f"job_{job}", JOBS_DIR / f"{job}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _one_line_failure(capsys, code: int, expected_code: int, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """Options for a lake, raw zone and state dir of this test's own, and services that are not
    running: their ports are free ones nobody listens on."""
    monkeypatch.setenv("FASHION_MOTO_PORT", str(free_port()))
    monkeypatch.setenv("FASHION_POSTGRES_PORT", str(free_port()))
    monkeypatch.delenv("FASHION_RDS_USER", raising=False)
    monkeypatch.delenv("FASHION_RDS_PASSWORD", raising=False)
    return ["--raw-root", str(tmp_path / "raw"), "--lake-root", str(tmp_path / "lake"),
            "--set", f"paths.state_dir={tmp_path / 'state'}", "--set", "spark.shuffle_partitions=2"]


# ---- the local services are not running ----------------------------------------------------
@pytest.mark.parametrize("command", [
    ["store", "migrate"],
    ["store", "simulate", "--date", DAY],
    ["extract-rds", "--run-date", DAY],
    ["catalog", "sync"],
    ["recs", "create-tables"],
    ["recs", "show", USER],
    ["lambda", "create-resources"],
    ["lambda", "run-local", "--until-idle"],
    ["realtime", "stream", "--until-idle"],
], ids=lambda c: " ".join(c[:2]))
def test_a_command_that_needs_moto_says_it_is_not_running(command, nowhere, capsys):
    code = main([*command, *nowhere])
    line = _one_line_failure(capsys, code, 1, "moto (the local AWS) is not running at http://127.0.0.1:", START_SERVICES)
    assert line.startswith("fashion " + command[0])


def test_landing_to_s3_without_moto_says_it_is_not_running(tmp_path, nowhere, capsys):
    source = write_hm_files(tmp_path / "hm", [transaction_line()])
    code = main(["land", "--from", str(source), *nowhere, "--raw-root", "s3://fashion-raw/raw"])
    _one_line_failure(capsys, code, 1, "moto (the local AWS) is not running", START_SERVICES)


def test_a_database_that_does_not_answer_says_how_to_start_it(nowhere, capsys, monkeypatch):
    # Credentials from the environment skip Secrets Manager; PostgreSQL itself is not running.
    monkeypatch.setenv("FASHION_RDS_USER", "fashion_app")
    monkeypatch.setenv("FASHION_RDS_PASSWORD", "not-the-password")
    code = main(["store", "migrate", *nowhere])
    line = _one_line_failure(capsys, code, 1, "cannot connect to PostgreSQL", START_SERVICES)
    assert "not-the-password" not in line


def test_services_up_on_a_taken_port_names_the_variable_that_moves_it(tmp_path, capsys, monkeypatch):
    import socket

    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        monkeypatch.setenv("FASHION_MOTO_PORT", str(stranger.getsockname()[1]))
        monkeypatch.setenv("FASHION_POSTGRES_PORT", str(free_port()))
        code = main(["services", "up", "--set", f"paths.state_dir={tmp_path}"])
    _one_line_failure(capsys, code, 1, "fashion services: moto: port", "FASHION_MOTO_PORT=")


# ---- the database has no schema yet ---------------------------------------------------------
def test_extract_without_migration_says_to_migrate(spark, config, postgres_service, monkeypatch, capsys):
    import uuid

    database = f"bare_{uuid.uuid4().hex[:10]}"
    postgres_service.create_database(database)
    credentials = postgres_service.app_credentials()
    monkeypatch.setenv("FASHION_RDS_USER", credentials["username"])
    monkeypatch.setenv("FASHION_RDS_PASSWORD", credentials["password"])
    try:
        code = main(["extract-rds", "--run-date", DAY, "--lake-root", config.paths.lake_root,
                     "--set", f"rds.port={postgres_service.port}", "--set", f"rds.database={database}"])
        _one_line_failure(capsys, code, 1, "does not exist", "run `fashion store migrate`")
    finally:
        postgres_service.drop_database(database)


# ---- no data yet ------------------------------------------------------------------------------
@pytest.mark.parametrize("command, fix", [
    (["partition-raw"], "run `fashion land` first"),
    (["daily-aggregates", "--run-date", DAY], "run `fashion extract-rds --run-date 2020-09-23` first"),
    (["data-quality", "--run-date", DAY], "run `fashion extract-rds --run-date 2020-09-23` first"),
    (["recs", "train", "--run-date", DAY], "run `fashion partition-raw` first"),
    (["recs", "evaluate", "--run-date", DAY], "run `fashion partition-raw` first"),
    (["recs", "sweep", "--run-date", DAY, "--grid", "rank=8"], "run `fashion partition-raw` first"),
    (["recs", "load", "--run-date", DAY], "run `fashion recs train --run-date 2020-09-23` first"),
    (["clicks", "stream", "--until-idle"], "run `fashion partition-raw` first"),
], ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else "")
def test_a_job_without_its_input_names_the_command_that_writes_it(spark, command, fix, nowhere, capsys):
    code = main([*command, *nowhere])
    _one_line_failure(capsys, code, 1, fix)


@pytest.mark.parametrize("job, argv, fix", [
    ("partition_raw", [], "run `fashion land` first"),
    ("extract_rds", ["--run-date", DAY], START_SERVICES),
    ("daily_aggregates", ["--run-date", DAY], "run `fashion extract-rds --run-date 2020-09-23` first"),
    ("data_quality", ["--run-date", DAY], "run `fashion extract-rds --run-date 2020-09-23` first"),
    ("train_als", ["--run-date", DAY], "run `fashion partition-raw` first"),
    ("evaluate_recs", ["--run-date", DAY], "run `fashion partition-raw` first"),
    ("load_recommendations", ["--run-date", DAY], "run `fashion recs train --run-date 2020-09-23` first"),
    ("stream_clickstream", ["--until-idle"], "run `fashion partition-raw` first"),
    ("stream_recommendations", ["--until-idle"], START_SERVICES),
    ("evaluate_realtime", ["--run-date", DAY], "run `fashion partition-raw` first"),
])
def test_every_job_file_fails_in_one_line_without_its_input(spark, job, argv, fix, nowhere, capsys):
    code = _job_main(job)([*argv, *nowhere])
    line = _one_line_failure(capsys, code, 1, fix)
    assert line.startswith(f"{job}: ")


def test_other_missing_inputs(tmp_path, nowhere, capsys):
    code = main(["land", "--from", str(tmp_path / "nothing-here"), *nowhere])
    _one_line_failure(capsys, code, 1, "nothing to land in")
    code = main(["query", str(tmp_path / "missing.sql"), *nowhere])
    _one_line_failure(capsys, code, 1, "cannot read", "missing.sql")


# ---- mistakes in the command line -------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["extract-rds", "--run-date", "2020-02-30"],
    ["daily-aggregates", "--run-date", "yesterday"],
    ["data-quality", "--run-date", "2020-9-1x"],
    ["recs", "train", "--run-date", "2020-13-01"],
    ["recs", "evaluate", "--run-date", "23.09.2020"],
    ["recs", "load", "--run-date", ""],
    ["recs", "sweep", "--run-date", "soon"],
    ["store", "simulate", "--date", "2020-09-31"],
    ["land", "--from", ".", "--ingest-date", "today"],
], ids=lambda c: " ".join(c[:2]))
def test_a_bad_date_is_one_line_and_exit_2(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main(command)
    _one_line_failure(capsys, exited.value.code, 2, "expected a date as YYYY-MM-DD", "--help")


@pytest.mark.parametrize("job", ["extract_rds", "daily_aggregates", "data_quality", "train_als", "evaluate_recs",
                                 "load_recommendations", "evaluate_realtime"])
def test_every_dated_job_file_refuses_a_bad_date_in_one_line(job, capsys):
    with pytest.raises(SystemExit) as exited:
        _job_main(job)(["--run-date", "2020-02-30"])
    line = _one_line_failure(capsys, exited.value.code, 2, "expected a date as YYYY-MM-DD")
    assert line.startswith(f"{job}: ")


@pytest.mark.parametrize("command", [["clicks", "stream"], ["realtime", "stream"]], ids=" ".join)
def test_a_negative_trigger_is_a_usage_error(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--trigger-seconds", "-5"])
    _one_line_failure(capsys, exited.value.code, 2, "expected a number of seconds, 0 or more, got '-5'")


def test_unknown_scale_sweep_grid_and_setting_are_usage_errors(nowhere, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["generate", "--scale", "huge", "--out", "x"])
    _one_line_failure(capsys, exited.value.code, 2, "invalid choice: 'huge'")
    code = main(["recs", "sweep", "--run-date", DAY, "--grid", "rank", *nowhere])
    _one_line_failure(capsys, code, 2, "grid entries look like rank=16,32")
    code = main(["partition-raw", *nowhere, "--set", "spark.shuffle_partitions=many"])
    _one_line_failure(capsys, code, 2, "invalid configuration", "spark.shuffle_partitions")


# ---- places that cannot be written --------------------------------------------------------------
def test_unwritable_places_are_named(spark, tmp_path, nowhere, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = main(["generate", "--scale", "tiny", "--out", str(blocker / "generated"), "--quiet"])
    _one_line_failure(capsys, code, 1, str(blocker))

    source = write_hm_files(tmp_path / "hm", [transaction_line()])
    code = main(["land", "--from", str(source), *nowhere, "--raw-root", str(blocker / "raw")])
    _one_line_failure(capsys, code, 1, str(blocker))

    assert main(["land", "--from", str(source), *nowhere]) == 0
    capsys.readouterr()
    code = main(["partition-raw", *nowhere, "--lake-root", str(blocker / "lake")])
    _one_line_failure(capsys, code, 1, "cannot write to the lake", "--lake-root")


def test_streaming_a_stream_that_does_not_exist_says_how_to_create_it(spark, aws_config, capsys):
    from fashion_pipeline.tables import ARTICLES_TABLE

    spark.createDataFrame([("0108775015",)], "article_id string").write.parquet(ARTICLES_TABLE.uri(aws_config))
    code = main(["clicks", "stream", "--until-idle", "--lake-root", aws_config.paths.lake_root,
                 "--set", f"aws.endpoint_url={aws_config.aws.endpoint_url}"])
    _one_line_failure(capsys, code, 1, "Kinesis stream 'fashion-clickstream' does not exist at http://127.0.0.1:",
                      "`fashion clicks create-stream`")


def test_producing_without_moto_says_it_is_not_running(nowhere, capsys):
    code = main(["clicks", "produce", "--events", "5", *nowhere])
    _one_line_failure(capsys, code, 1, "fashion clicks produce:", "fashion services up")
