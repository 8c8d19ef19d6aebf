import pytest
from pydantic import ValidationError

from fashion_pipeline.config import PROJECT_ROOT, ConfigError, load_config


def test_local_config_resolves_relative_paths_against_the_project():
    config = load_config("local", environ={})
    assert config.paths.lake_root == str(PROJECT_ROOT / "data" / "lake")
    assert config.aws.endpoint_url == "http://127.0.0.1:5055"
    assert config.spark.master == "local[*]"


def test_emr_config_needs_the_bucket_from_the_environment():
    with pytest.raises(ConfigError, match="FASHION_BUCKET is required"):
        load_config("emr", environ={})
    config = load_config("emr", environ={"FASHION_BUCKET": "store-lake", "AWS_REGION": "eu-north-1"})
    assert config.paths.raw_root == "s3://store-lake/raw"
    assert config.paths.lake("curated", "transactions") == "s3://store-lake/lake/curated/transactions"
    assert config.aws.endpoint_url is None and config.aws.region == "eu-north-1"


def test_overrides_stand_in_for_a_missing_variable_and_the_error_names_what_needs_it():
    with pytest.raises(ConfigError, match=r"FASHION_BUCKET is required and not set \(it fills paths.raw_root"):
        load_config("emr", environ={}, overrides={"paths.lake_root": "s3://b/lake"})
    config = load_config("emr", environ={"FASHION_LAKE_ROOT": "s3://b/lake"},
                         overrides={"paths.raw_root": "s3://b/raw"})
    assert (config.paths.raw_root, config.paths.lake_root) == ("s3://b/raw", "s3://b/lake")


def test_precedence_file_then_environment_then_explicit_overrides():
    environ = {"FASHION_LAKE_ROOT": "/from/env", "FASHION__SPARK__SHUFFLE_PARTITIONS": "3", "FASHION_MOTO_PORT": "6000"}
    config = load_config("local", environ=environ)
    assert (config.paths.lake_root, config.spark.shuffle_partitions, config.services.moto_port) == ("/from/env", 3, 6000)
    config = load_config("local", environ=environ, overrides={"paths.lake_root": "s3://b/lake"})
    assert config.paths.lake_root == "s3://b/lake"


def test_unknown_keys_are_errors_not_ignored():
    with pytest.raises(ConfigError, match="spark.shuffle_partitons"):
        load_config("local", environ={"FASHION__SPARK__SHUFFLE_PARTITONS": "3"})
    with pytest.raises(ConfigError, match="unknown_section"):
        load_config("local", environ={}, overrides={"unknown_section.x": 1})


def test_bad_values_and_unknown_env_are_errors():
    with pytest.raises(ConfigError, match="shuffle_partitions"):
        load_config("local", environ={"FASHION__SPARK__SHUFFLE_PARTITIONS": "many"})
    with pytest.raises(ConfigError, match="no configuration for env 'prod'"):
        load_config("prod", environ={})


def test_config_is_frozen():
    config = load_config("local", environ={})
    with pytest.raises(ValidationError):
        config.paths.lake_root = "/elsewhere"
    assert config.with_overrides({"paths.lake_root": "/x"}).paths.lake_root == "/x"
    assert config.paths.lake_root != "/x"


def test_emr_subnets_come_from_the_environment_comma_separated():
    """Lists cannot be environment variables: FASHION_EMR_SUBNET_IDS (conf/emr.yaml's placeholder,
    what MWAA's startup script exports), FASHION__EMR__SUBNET_IDS and --set all take a-b,c-d."""
    environ = {"FASHION_BUCKET": "b"}
    assert load_config("emr", environ=environ).emr.subnet_ids == []
    config = load_config("emr", environ={**environ, "FASHION_EMR_SUBNET_IDS": "subnet-0a,subnet-0b"})
    assert config.emr.subnet_ids == ["subnet-0a", "subnet-0b"]
    config = load_config("local", environ={"FASHION__EMR__SUBNET_IDS": " subnet-0c , "})
    assert config.emr.subnet_ids == ["subnet-0c"]
    config = load_config("emr", environ=environ, overrides={"emr.subnet_ids": "subnet-0d"})
    assert config.emr.subnet_ids == ["subnet-0d"]
    assert config.with_overrides({"emr.subnet_ids": ["subnet-0e"]}).emr.subnet_ids == ["subnet-0e"]


def test_emr_airflow_root_is_in_the_bucket():
    config = load_config("emr", environ={"FASHION_BUCKET": "store-lake"})
    assert config.paths.airflow_root == "s3://store-lake/airflow"
    assert load_config("local", environ={}).paths.airflow_root is None
