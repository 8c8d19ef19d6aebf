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
