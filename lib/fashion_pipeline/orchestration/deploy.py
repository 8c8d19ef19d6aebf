"""`fashion deploy`: build what a cluster runs and publish it as a release (release.py).

Every artifact is uploaded under `<deploy_root>/artifacts/<sha256 prefix>/<file name>`: a key
that already exists holds exactly these bytes, so it is never uploaded twice, and a release
written earlier keeps pointing at the bytes it was tested with. The manifest is written after
every artifact it names, so a reader never sees a release whose files are not all there.

With an airflow root (`--bucket` sets s3://BUCKET/airflow), the same deploy publishes what MWAA
reads: DAG files, plugins.zip with this wheel, requirements.txt and startup.sh (mwaa.py). Those keys
are fixed, so they are compared by content and written only when they changed, after the release.

The wheel is built from a fresh copy of the files it is made of, with SOURCE_DATE_EPOCH fixed:
setuptools then stamps every zip entry with that date, so an unchanged tree gives a wheel with the
same bytes (and the same key) instead of a new upload on every deploy because of mtimes.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.parser import Parser
from pathlib import Path
from urllib.parse import urlparse

from fashion_pipeline.config import PROJECT_ROOT, Config, join_uri
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.orchestration.mwaa import AirflowPublication, airflow_bucket, airflow_objects, publish_airflow
from fashion_pipeline.orchestration.release import (
    BOOTSTRAP,
    CONSTRAINTS,
    JDBC_JAR,
    LAMBDA_ZIP,
    WHEEL,
    Release,
    deploy_root,
    release_manifest_uri,
)
from fashion_pipeline.storage import Storage, file_sha256

# What setup.py reads: README is its long description, conf/*.yaml go into the wheel.
WHEEL_SOURCES = ("setup.py", "README.md", "lib", "conf")
# 1980-01-01, the earliest date a zip entry can carry.
REPRODUCIBLE_EPOCH = "315532800"
JDBC_JAR_PATH = Path("/usr/share/java/postgresql.jar")
JDBC_JAR_DEBIAN_PACKAGE = "libpostgresql-jdbc-java"
BOOTSTRAP_DIR = Path("emr") / "bootstrap"
HASH_PREFIX = 16
VERSION_HASH = 12
WHEEL_BUILD_TIMEOUT_S = 600


class DeployError(PipelineError):
    """A release cannot be built or published."""


@dataclass(frozen=True)
class Artifact:
    name: str  # the release's logical name: "wheel", "jobs/extract_rds.py", ...
    path: Path
    sha256: str

    @classmethod
    def of(cls, name: str, path: Path) -> "Artifact":
        return cls(name, Path(path), file_sha256(Path(path))[0])


@dataclass(frozen=True)
class PublishedArtifact:
    artifact: Artifact
    uri: str
    uploaded: bool

    def line(self) -> str:
        return f"{'uploaded' if self.uploaded else 'unchanged':<10} {self.artifact.name:<34} {self.uri}"


@dataclass(frozen=True)
class DeployResult:
    release: Release
    manifest_uri: str
    manifest_written: bool
    published: tuple[PublishedArtifact, ...]
    airflow: AirflowPublication | None = None

    @property
    def uploaded(self) -> list[PublishedArtifact]:
        return [item for item in self.published if item.uploaded]

    @property
    def changed_count(self) -> int:
        """Objects written or removed, release and Airflow side together (the manifest aside)."""
        airflow = [item for item in self.airflow.published if item.state != "unchanged"] if self.airflow else []
        return len(self.uploaded) + len(airflow)

    @property
    def object_count(self) -> int:
        return len(self.published) + (len(self.airflow.published) if self.airflow else 0)

    @property
    def lambda_code_key(self) -> str | None:
        """The Lambda zip's key in its bucket: the infrastructure stack's LambdaCodeKey parameter."""
        uri = self.release.artifacts.get(LAMBDA_ZIP)
        parsed = urlparse(uri or "")
        return parsed.path.lstrip("/") if parsed.scheme in ("s3", "s3a") else None

    def lines(self) -> list[str]:
        lines = [item.line() for item in self.published]
        if self.airflow:
            lines += [item.line() for item in self.airflow.published]
        if not self.changed_count:
            lines.append(f"nothing uploaded: all {self.object_count} objects were already deployed")
        state = "written" if self.manifest_written else "unchanged"
        lines.append(f"release manifest {state}: {self.manifest_uri}")
        lines.append(f"release {self.release.version}")
        if self.lambda_code_key:
            lines.append(f"LambdaCodeKey={self.lambda_code_key}")
        if self.airflow:
            lines += self.airflow.environment_lines()
        return lines


def build_wheel(project_root: Path, work_dir: Path) -> Path:
    """The project's wheel, built in `work_dir` from a copy of its sources (so that stale build/
    output or egg-info in the checkout cannot leak into it)."""
    source = work_dir / "wheel-source"
    out = work_dir / "wheel"
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")
    for name in WHEEL_SOURCES:
        origin = project_root / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-input", "--quiet", "-w", str(out)]
    environment = {**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH}
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, env=environment,
                       timeout=WHEEL_BUILD_TIMEOUT_S)
    except subprocess.CalledProcessError as error:
        detail = _last_line(error.stderr) or _last_line(error.stdout) or f"exit {error.returncode}"
        raise DeployError(f"building the wheel failed ({detail}): run `pip wheel . --no-deps` to see why") from None
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise DeployError(f"building the wheel left {len(wheels)} wheels in {out}, expected one")
    return wheels[0]


def wheel_version(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode("utf-8"))["Version"]


def collect_artifacts(config: Config, work_dir: Path, project_root: Path = PROJECT_ROOT,
                      jdbc_jar: Path = JDBC_JAR_PATH, wheel: Path | None = None) -> list[Artifact]:
    """Everything a release names, as files in `work_dir` or the project. `wheel`: one already
    built from this tree (tests build it once)."""
    from fashion_pipeline.realtime.package import build_lambda_package
    from fashion_pipeline.realtime.settings import RealtimeSettings

    if not jdbc_jar.is_file():
        raise DeployError(f"the PostgreSQL JDBC driver {jdbc_jar} is missing: install the Debian package "
                          f"{JDBC_JAR_DEBIAN_PACKAGE} (`make system-deps`)")
    conf_file = project_root / "conf" / f"{config.env}.yaml"
    if not conf_file.is_file():
        raise DeployError(f"no configuration {conf_file} to deploy for env {config.env!r}")
    work_dir.mkdir(parents=True, exist_ok=True)
    wheel = wheel or build_wheel(project_root, work_dir)
    lambda_zip = build_lambda_package(work_dir / "fashion-realtime-lambda.zip", RealtimeSettings.from_config(config)).path
    bootstrap_dir = project_root / BOOTSTRAP_DIR
    artifacts = [
        Artifact.of(WHEEL, wheel),
        Artifact.of(CONSTRAINTS, bootstrap_dir / "constraints.txt"),
        Artifact.of(BOOTSTRAP, bootstrap_dir / "install_fashion_pipeline.sh"),
        Artifact.of(JDBC_JAR, jdbc_jar),
        Artifact.of(LAMBDA_ZIP, lambda_zip),
        Artifact.of(f"conf/{conf_file.name}", conf_file),
    ]
    artifacts += [Artifact.of(f"jobs/{job.name}", job) for job in sorted((project_root / "jobs").glob("*.py"))]
    return artifacts


def artifact_uri(root: str, artifact: Artifact) -> str:
    return join_uri(root, "artifacts", artifact.sha256[:HASH_PREFIX], artifact.path.name)


def release_version(package_version: str, artifacts: list[Artifact]) -> str:
    """The package version plus a hash over every artifact: any change to any file, code or not,
    is a new version (a local version label, so `pip` still sees the package's own version)."""
    digest = hashlib.sha256()
    for artifact in sorted(artifacts, key=lambda a: a.name):
        digest.update(f"{artifact.name}\0{artifact.sha256}\n".encode())
    return f"{package_version}+{digest.hexdigest()[:VERSION_HASH]}"


def check_deploy_bucket(config: Config) -> None:
    """Refuse a deploy root in a bucket that is not there before spending a minute building."""
    root = deploy_root(config)
    parsed = urlparse(root)
    if parsed.scheme not in ("s3", "s3a"):
        return
    from botocore.exceptions import ClientError

    from fashion_pipeline.aws import aws_client

    try:
        aws_client("s3", config).head_bucket(Bucket=parsed.netloc)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"bucket {parsed.netloc} does not exist: create it (the infrastructure stack does) "
                              f"or pass --bucket with the stack's bucket") from None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise DeployError(f"no access to bucket {parsed.netloc}: use credentials that may write to it") from None
        raise


def publish_release(config: Config, storage: Storage, artifacts: list[Artifact], package_version: str,
                    now: datetime | None = None) -> DeployResult:
    root = deploy_root(config)
    published = []
    for artifact in artifacts:
        uri = artifact_uri(root, artifact)
        if storage.exists(uri):
            published.append(PublishedArtifact(artifact, uri, uploaded=False))
            continue
        storage.put_file(artifact.path, uri)
        published.append(PublishedArtifact(artifact, uri, uploaded=True))

    created_at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    release = Release(version=release_version(package_version, artifacts),
                      artifacts={item.artifact.name: item.uri for item in published}, created_at=created_at)
    manifest_uri = release_manifest_uri(config)
    current = _current_release(storage, manifest_uri)
    if current is not None and current.version == release.version and current.artifacts == release.artifacts:
        return DeployResult(current, manifest_uri, manifest_written=False, published=tuple(published))
    # Last: the manifest is what makes the release visible, and everything it names is uploaded.
    storage.write_text(manifest_uri, release.to_json())
    return DeployResult(release, manifest_uri, manifest_written=True, published=tuple(published))


def deploy(config: Config, storage: Storage, work_dir: Path, project_root: Path = PROJECT_ROOT,
           jdbc_jar: Path = JDBC_JAR_PATH, wheel: Path | None = None, airflow: bool = True,
           bucket: str | None = None) -> DeployResult:
    """`airflow`: also publish MWAA's side when the configuration has an airflow root. `bucket`:
    FASHION_BUCKET for MWAA's startup script (default: the airflow root's bucket, the stack's)."""
    check_deploy_bucket(config)
    airflow_root = config.paths.airflow_root if airflow else None
    if airflow_root:
        airflow_bucket(airflow_root)  # an unusable root fails before the build, not after the release
    artifacts = collect_artifacts(config, work_dir, project_root, jdbc_jar, wheel)
    wheel_path = next(a.path for a in artifacts if a.name == WHEEL)
    package_version = wheel_version(wheel_path)
    objects = None
    if airflow_root:
        objects = airflow_objects(config, wheel_path, package_version, project_root / "dags",
                                  bucket or airflow_bucket(airflow_root))
    result = publish_release(config, storage, artifacts, package_version)
    if objects is None:
        return result
    from fashion_pipeline.aws import aws_client

    return replace(result, airflow=publish_airflow(aws_client("s3", config), airflow_root, objects))


def _current_release(storage: Storage, manifest_uri: str) -> Release | None:
    if not storage.exists(manifest_uri):
        return None
    try:
        return Release.from_json(storage.read_text(manifest_uri))
    except (ValueError, KeyError, PipelineError):
        return None  # unreadable or incomplete: replaced by this deploy


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
