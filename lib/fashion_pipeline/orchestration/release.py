"""A release: the exact code a cluster runs, as `fashion deploy` uploaded it.

Every artifact lives under a key derived from its content, so a release never changes once
written and re-deploying unchanged code uploads nothing. The release manifest names them all; the
DAG and `fashion emr run` read it to build the cluster (bootstrap, wheel) and the steps (job files,
JDBC jar), so what runs is what was deployed, never whatever sits in the repo.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from fashion_pipeline.config import Config, ConfigError, join_uri
from fashion_pipeline.errors import MissingInputError

WHEEL = "wheel"
CONSTRAINTS = "constraints"
BOOTSTRAP = "bootstrap"
JDBC_JAR = "jdbc_jar"
LAMBDA_ZIP = "lambda_zip"
REQUIRED_ARTIFACTS = (WHEEL, CONSTRAINTS, BOOTSTRAP, JDBC_JAR)


class ReleaseMissingError(MissingInputError):
    """No release was deployed for this environment, or it lacks what a cluster needs."""


@dataclass(frozen=True)
class Release:
    version: str
    # Logical name ("wheel", "jobs/extract_rds.py", ...) -> URI of the uploaded artifact.
    artifacts: dict[str, str] = field(default_factory=dict)
    created_at: str = ""

    def uri(self, name: str) -> str:
        try:
            return self.artifacts[name]
        except KeyError:
            raise ReleaseMissingError(
                f"release {self.version} has no {name}: run `fashion deploy` again") from None

    def job_uri(self, job: str) -> str:
        return self.uri(f"jobs/{job}.py")

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "created_at": self.created_at,
                           "artifacts": dict(sorted(self.artifacts.items()))}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Release":
        data = json.loads(text)
        release = cls(version=data["version"], artifacts=dict(data["artifacts"]),
                      created_at=data.get("created_at", ""))
        missing = [name for name in REQUIRED_ARTIFACTS if name not in release.artifacts]
        if missing:
            raise ReleaseMissingError(f"release {release.version} lacks {missing}: run `fashion deploy` again")
        return release


def deploy_root(config: Config) -> str:
    if not config.paths.deploy_root:
        raise ConfigError("paths.deploy_root is not set: pass --bucket or set it in conf/<env>.yaml")
    return config.paths.deploy_root


def release_manifest_uri(config: Config) -> str:
    """Where the environment's current release is recorded (one per env, replaced by each deploy)."""
    return join_uri(deploy_root(config), config.env, "release.json")


def read_release(config: Config, storage) -> Release:
    uri = release_manifest_uri(config)
    if not storage.exists(uri):
        raise ReleaseMissingError(f"no release deployed at {uri}: run `fashion deploy --env {config.env}` first")
    return Release.from_json(storage.read_text(uri))
