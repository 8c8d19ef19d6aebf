"""Shared fixtures: one Spark session and one moto server for the whole run, a fresh lake per test."""
from __future__ import annotations

import pytest

from fashion_pipeline.config import Config, load_config
from fashion_pipeline.services import MotoService, free_port

TEST_SPARK_SETTINGS = {
    "spark.shuffle_partitions": 2,
    "spark.ui_enabled": False,
    "spark.driver_memory": "2g",
}


@pytest.fixture(scope="session")
def moto_service(tmp_path_factory) -> MotoService:
    service = MotoService(tmp_path_factory.mktemp("state"), free_port())
    service.up()
    yield service
    service.down()


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from fashion_pipeline.spark import build_spark

    config = load_config("local", overrides={**TEST_SPARK_SETTINGS, "paths.state_dir": str(tmp_path_factory.mktemp("spark-state"))})
    session = build_spark("tests", config, extra_conf={"spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse"))})
    yield session
    session.stop()


@pytest.fixture
def config(tmp_path) -> Config:
    """A local configuration whose raw zone, lake and state live in this test's tmp_path."""
    return load_config(
        "local",
        overrides={
            **TEST_SPARK_SETTINGS,
            "paths.raw_root": str(tmp_path / "raw"),
            "paths.lake_root": str(tmp_path / "lake"),
            "paths.state_dir": str(tmp_path / "state"),
        },
    )


@pytest.fixture
def aws_config(config: Config, moto_service: MotoService) -> Config:
    """`config` pointed at the session's moto server, emptied before the test."""
    moto_service.reset()
    return config.with_overrides({"aws.endpoint_url": moto_service.address, "services.moto_port": moto_service.port})


@pytest.fixture(scope="session")
def postgres_service(tmp_path_factory):
    """One PostgreSQL cluster for the run. Its state dir is pytest's own, private to the user
    running the tests, as a clone in a home directory is."""
    from fashion_pipeline.services import PostgresService

    state_dir = tmp_path_factory.mktemp("pg-state")
    state_dir.chmod(0o700)
    service = PostgresService(state_dir, free_port(), database="fashion_tests")
    service.up()
    yield service
    service.down()
    service.remove_data()


@pytest.fixture
def store_config(config: Config, postgres_service, monkeypatch) -> Config:
    """`config` pointed at a fresh, migrated store database of its own; credentials in the
    environment, as an operator would set them."""
    import uuid

    from fashion_pipeline.store.credentials import (
        PASSWORD_VARIABLE,
        USER_VARIABLE,
        resolve_rds_connection,
    )
    from fashion_pipeline.store.database import apply_migrations

    database = f"store_{uuid.uuid4().hex[:12]}"
    postgres_service.create_database(database)
    credentials = postgres_service.app_credentials()
    monkeypatch.setenv(USER_VARIABLE, credentials["username"])
    monkeypatch.setenv(PASSWORD_VARIABLE, credentials["password"])
    store = config.with_overrides({
        "rds.port": postgres_service.port, "rds.database": database, "rds.num_partitions": 2,
        "services.postgres_port": postgres_service.port,
    })
    apply_migrations(resolve_rds_connection(store))
    yield store
    postgres_service.drop_database(database)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (its own browser download is not used).
    `make test` installs the `chromium` package; without it these tests fail and say so."""
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Chromium is not installed: run `make system-deps` (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def slack_webhook():
    """A Slack incoming webhook on 127.0.0.1 that records what is posted (tests/slack_webhook.py)."""
    from tests.slack_webhook import serve_slack_webhook

    yield from serve_slack_webhook()
