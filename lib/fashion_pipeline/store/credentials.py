"""Where jobs and tools find the store database's credentials: the environment, else Secrets Manager.

Nothing here is ever logged or printed: `RdsConnection`'s repr hides the password, the JDBC URL
carries no credentials, and Spark receives the password as the `password` option, which its plan
strings redact.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from fashion_pipeline.config import Config
from fashion_pipeline.errors import LOOPBACK_HOSTS, START_SERVICES, PipelineError

USER_VARIABLE = "FASHION_RDS_USER"
PASSWORD_VARIABLE = "FASHION_RDS_PASSWORD"


class CredentialsError(PipelineError):
    """The database credentials cannot be found or read."""


@dataclass(frozen=True)
class RdsConnection:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    @property
    def where(self) -> str:
        """For messages: which database, as whom; never the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def local_hint(self, reason: str) -> str:
        """What to run when the local RDS (`fashion services up`'s PostgreSQL) does not answer."""
        if self.host in LOOPBACK_HOSTS and any(word in reason.lower() for word in ("refused", "could not connect", "timeout", "timed out")):
            return f"; {START_SERVICES}"
        return ""

    def psycopg_kwargs(self, connect_timeout_s: int = 10) -> dict:
        return {
            "host": self.host, "port": self.port, "dbname": self.database, "user": self.user,
            "password": self.password, "connect_timeout": connect_timeout_s,
            "application_name": "fashion-pipeline",
        }


def resolve_rds_connection(config: Config, environ: Mapping[str, str] | None = None) -> RdsConnection:
    """Credentials from FASHION_RDS_USER/FASHION_RDS_PASSWORD if both are set, else from the secret
    `names.rds_secret_id`. Host, port and database come from the config (`rds`), or from the
    secret when `rds.host` is null, as with an RDS-managed secret on AWS."""
    environ = os.environ if environ is None else environ
    rds = config.rds
    if environ.get(USER_VARIABLE) and environ.get(PASSWORD_VARIABLE):
        if not rds.host:
            raise CredentialsError("rds.host is not configured; with credentials from the environment it must be")
        return RdsConnection(rds.host, rds.port, rds.database, environ[USER_VARIABLE], environ[PASSWORD_VARIABLE])
    secret = _read_secret(config)
    try:
        user, password = secret["username"], secret["password"]
    except KeyError as missing:
        raise CredentialsError(f"secret {config.names.rds_secret_id} has no {missing.args[0]!r} field") from None
    if rds.host:
        return RdsConnection(rds.host, rds.port, rds.database, user, password)
    return RdsConnection(
        secret.get("host") or _missing_host(config), int(secret.get("port", rds.port)),
        secret.get("dbname", rds.database), user, password,
    )


def _read_secret(config: Config) -> dict:
    from fashion_pipeline.aws import SecretError, read_secret_json

    try:
        return read_secret_json(config, config.names.rds_secret_id)
    except SecretError as error:
        raise CredentialsError(
            f"{error}; set {USER_VARIABLE}/{PASSWORD_VARIABLE} or create the secret "
            f"(locally: `fashion services up`)"
        ) from None


def _missing_host(config: Config) -> str:
    raise CredentialsError(f"neither rds.host nor secret {config.names.rds_secret_id} names the database host")
