"""psycopg access to the store database for tools (migrations, the simulator, benchmarks).

Spark jobs never come through here: they read over JDBC (see store/jdbc.py).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Iterator

from fashion_pipeline.errors import PipelineError
from fashion_pipeline.store.credentials import RdsConnection

MIGRATION_NAME = re.compile(r"^V(?P<version>\d{3})__(?P<title>[a-z0-9_]+)\.sql$")


class StoreUnavailableError(PipelineError):
    """The store database cannot be reached or refuses the credentials."""


@dataclass(frozen=True)
class Migration:
    version: int
    title: str
    sql: str


def migrations() -> list[Migration]:
    """The versioned DDL shipped in fashion_pipeline/ddl, in version order."""
    found = []
    for entry in resources.files("fashion_pipeline").joinpath("ddl").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["title"], entry.read_text(encoding="utf-8")))
        elif entry.name.endswith(".sql"):
            raise ValueError(f"ddl/{entry.name} is not named V<NNN>__<title>.sql")
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two DDL files share a version: {versions}")
    return found


@contextmanager
def connect(connection: RdsConnection, connect_timeout_s: int = 10) -> Iterator:
    import psycopg

    try:
        conn = psycopg.connect(**connection.psycopg_kwargs(connect_timeout_s))
    except psycopg.OperationalError as error:
        reason = _first_line(error)
        raise StoreUnavailableError(
            f"cannot connect to PostgreSQL {connection.where}: {reason}{connection.local_hint(reason)}") from None
    try:
        yield conn
    finally:
        conn.close()


def apply_migrations(connection: RdsConnection) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction. Returns what it did."""
    done = []
    with connect(connection) as conn:
        with conn.transaction():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, title text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            # One migrator at a time: a second `migrate` waits here, then finds nothing to do.
            conn.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in migrations():
                if migration.version in applied:
                    continue
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, title) VALUES (%s, %s)",
                    (migration.version, migration.title),
                )
                done.append(f"applied V{migration.version:03d} {migration.title}")
    return done or ["schema is up to date"]


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
