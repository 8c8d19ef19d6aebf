"""AWS clients, built in one place from the configuration: the same code talks to moto's server
on 127.0.0.1 locally and to AWS on EMR (where endpoint_url is null and the instance role signs)."""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import boto3
from botocore.config import Config as BotoConfig

from fashion_pipeline.errors import PipelineError

if TYPE_CHECKING:  # annotations only: executors and the Lambda package import this module without pydantic
    from fashion_pipeline.config import Config

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# moto accepts any credentials; these are placeholders for the loopback emulator, not secrets.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "local-emulator", "aws_secret_access_key": "local-emulator"}


def is_local_endpoint(endpoint_url: str | None) -> bool:
    return bool(endpoint_url) and urlparse(endpoint_url).hostname in LOOPBACK_HOSTS


def aws_client(service: str, config: Config):
    """A boto3 client for `service` with the configured region, endpoint and retry policy."""
    return aws_client_from_settings(service, config.aws.region, config.aws.endpoint_url, config.aws.max_attempts)


def aws_client_from_settings(service: str, region: str, endpoint_url: str | None, max_attempts: int):
    """The same client from plain values: what Spark executors get (a Config is not shipped there)."""
    credentials = {}
    if is_local_endpoint(endpoint_url) and not os.environ.get("AWS_ACCESS_KEY_ID"):
        credentials = EMULATOR_CREDENTIALS
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=BotoConfig(retries={"max_attempts": max_attempts, "mode": "adaptive"}),
        **credentials,
    )


class SecretError(PipelineError):
    """A secret cannot be read: missing, unreachable, or not in the expected form."""


def read_secret_string(config: Config, secret_id: str) -> str:
    """The SecretString of `secret_id`; errors name the secret, never its value. An unreachable
    endpoint is left to propagate (errors.describe_failure says which service to start)."""
    from botocore.exceptions import ClientError

    try:
        reply = aws_client("secretsmanager", config).get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"cannot read secret {secret_id} ({code})") from None
    return reply.get("SecretString", "")


def read_secret_json(config: Config, secret_id: str) -> dict:
    text = read_secret_string(config, secret_id)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise SecretError(f"secret {secret_id} is not a JSON object")
    return value


def put_secret_json(config: Config, secret_id: str, value: dict) -> None:
    """Create or replace a JSON secret (the local stack publishes its generated passwords so)."""
    client = aws_client("secretsmanager", config)
    text = json.dumps(value)
    try:
        client.put_secret_value(SecretId=secret_id, SecretString=text)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=secret_id, SecretString=text)


def create_missing_dynamodb_tables(client, key_by_table: dict[str, str], ttl_attribute: str | None = None,
                                   ttl_tables: tuple[str, ...] = (), waiter_delay_s: int = 5) -> list[str]:
    """Create each table of `key_by_table` that does not exist (on-demand, one string hash key) and
    turn on TTL on `ttl_attribute` for `ttl_tables`; returns the names created."""
    existing = set(client.get_paginator("list_tables").paginate().build_full_result().get("TableNames", []))
    created = []
    for table, key in key_by_table.items():
        if table in existing:
            continue
        client.create_table(
            TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": waiter_delay_s})
        created.append(table)
    for table in ttl_tables:
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute})
    return created
