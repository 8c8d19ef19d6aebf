"""AWS clients, built in one place from the configuration: the same code talks to moto's server
on 127.0.0.1 locally and to AWS on EMR (where endpoint_url is null and the instance role signs)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import boto3
from botocore.config import Config as BotoConfig

if TYPE_CHECKING:  # executors build clients from plain values and need not import the config (pydantic)
    from fashion_pipeline.config import Config

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# moto accepts any credentials; these are placeholders for the loopback emulator, not secrets.
_EMULATOR_CREDENTIALS = {"aws_access_key_id": "local-emulator", "aws_secret_access_key": "local-emulator"}


def is_local_endpoint(endpoint_url: str | None) -> bool:
    return bool(endpoint_url) and urlparse(endpoint_url).hostname in LOOPBACK_HOSTS


def aws_client(service: str, config: Config):
    """A boto3 client for `service` with the configured region, endpoint and retry policy."""
    return aws_client_from_settings(service, config.aws.region, config.aws.endpoint_url, config.aws.max_attempts)


def aws_client_from_settings(service: str, region: str, endpoint_url: str | None, max_attempts: int):
    """The same client from plain values: what Spark executors get (a Config is not shipped there)."""
    credentials = {}
    if is_local_endpoint(endpoint_url) and not os.environ.get("AWS_ACCESS_KEY_ID"):
        credentials = _EMULATOR_CREDENTIALS
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=BotoConfig(retries={"max_attempts": max_attempts, "mode": "adaptive"}),
        **credentials,
    )
