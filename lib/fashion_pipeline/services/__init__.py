"""The embedded local stack: moto (AWS APIs) and PostgreSQL (the store's RDS), started and stopped
by the project itself, each a `ManagedService` with a pid file and a log under the state dir.

`local_services` is the registry; `after_services_up` wires started services together the way
they are wired on AWS (the database password in Secrets Manager, the clickstream stream)."""
from __future__ import annotations

from pathlib import Path

from fashion_pipeline.config import Config
from fashion_pipeline.services.base import (
    LOOPBACK,
    ManagedService,
    ServiceError,
    ServiceStatus,
    free_port,
)
from fashion_pipeline.services.moto import MotoService
from fashion_pipeline.services.postgres import PostgresService, publish_local_rds_secret

__all__ = [
    "LOOPBACK", "ManagedService", "MotoService", "PostgresService", "ServiceError", "ServiceStatus",
    "after_services_up", "free_port", "local_services", "moto_service", "postgres_service",
]


def moto_service(config: Config) -> MotoService:
    return MotoService(Path(config.paths.state_dir), config.services.moto_port)


def postgres_service(config: Config) -> PostgresService:
    return PostgresService(Path(config.paths.state_dir), config.services.postgres_port, database=config.rds.database)


def local_services(config: Config) -> list[ManagedService]:
    return [moto_service(config), postgres_service(config)]


def after_services_up(config: Config, services: list[ManagedService]) -> list[str]:
    """What the local stack sets up once its services run, as AWS would have it: the clickstream's
    Kinesis stream (shards from config), and the local RDS's password in (moto's) Secrets
    Manager, where jobs look for it exactly as they do on AWS."""
    running = {service.name: service for service in services if service.status().running}
    if MotoService.name not in running:
        return []
    from fashion_pipeline.clickstream.producer import ensure_clickstream_stream

    done = [ensure_clickstream_stream(config)]
    postgres = running.get(PostgresService.name)
    if postgres is not None:
        done.append(publish_local_rds_secret(config, postgres))
    return done
