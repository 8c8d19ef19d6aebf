"""The Airflow side of `fashion deploy`: what an MWAA environment reads from the project bucket.

    <airflow_root>/dags/<file>.py      the repo's dags/*.py (MWAA syncs this prefix by itself)
    <airflow_root>/plugins.zip         the release's wheel, at the zip's root
    <airflow_root>/requirements.txt    --find-links to where MWAA unpacks plugins.zip, then the wheel's pin
    <airflow_root>/startup.sh          exports what conf/<env>.yaml reads: FASHION_ENV, FASHION_BUCKET,
                                       the EMR role names and subnets, the MLflow tracking URI

Unlike the release's artifacts these keys are fixed: the environment's settings name them, and
plugins.zip, requirements.txt and startup.sh by S3 object version. So each is written only when its
bytes changed (its sha256 travels as object metadata and is compared before writing): an unchanged
re-deploy makes no new version, and no environment update is needed. The workers have no pyspark
and our wheel is on no index, hence the wheel in plugins.zip; MWAA applies its own constraints
file to the requirements, and brings the Amazon and Slack providers itself.
"""
from __future__ import annotations

import hashlib
import io
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from fashion_pipeline.config import Config, join_uri
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.orchestration.steps import tracking_environment

PACKAGE_NAME = "fashion-pipeline"
DAGS_FOLDER = "dags"
PLUGINS_ZIP = "plugins.zip"
REQUIREMENTS = "requirements.txt"
STARTUP_SCRIPT = "startup.sh"
# Where MWAA unpacks plugins.zip on every scheduler, worker and web server.
MWAA_PLUGINS_DIR = "/usr/local/airflow/plugins"
SHA256_METADATA = "sha256"
# A zip entry's date: fixed, so that the same wheel gives the same plugins.zip bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class AirflowPublishError(PipelineError):
    """The Airflow side of a release cannot be published."""


@dataclass(frozen=True)
class AirflowObject:
    name: str  # relative to the airflow root: "dags/nightly_batch.py", "plugins.zip", ...
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class PublishedAirflowObject:
    name: str
    uri: str
    state: str  # "uploaded", "unchanged" or "removed" (a DAG file no longer in the repo)
    version_id: str | None

    @property
    def uploaded(self) -> bool:
        return self.state == "uploaded"

    def line(self) -> str:
        version = f"  version {self.version_id}" if self.version_id else ""
        return f"{self.state:<10} {'airflow/' + self.name:<34} {self.uri}{version}"


@dataclass(frozen=True)
class AirflowPublication:
    root: str
    published: tuple[PublishedAirflowObject, ...]

    @property
    def uploaded(self) -> list[PublishedAirflowObject]:
        return [item for item in self.published if item.uploaded]

    def version_id(self, name: str) -> str | None:
        return next((item.version_id for item in self.published if item.name == name), None)

    def environment_lines(self) -> list[str]:
        """The MWAA environment's S3 settings, as `aws mwaa create-environment`/`update-environment`
        options: paste them to make the environment use this release's Airflow side."""
        prefix = urlparse(self.root).path.strip("/")
        key = (lambda name: f"{prefix}/{name}" if prefix else name)
        versions = {name: self.version_id(name) for name in (PLUGINS_ZIP, REQUIREMENTS, STARTUP_SCRIPT)}
        if not all(versions.values()):
            return [(f"MWAA: bucket {urlparse(self.root).netloc} has no object versions; MWAA needs versioning "
                     f"enabled (the infrastructure stack's bucket has it)")]
        return [
            "MWAA environment settings (aws mwaa update-environment --name NAME ...):",
            f"  --source-bucket-arn arn:aws:s3:::{urlparse(self.root).netloc} --dag-s3-path {key(DAGS_FOLDER)}",
            f"  --plugins-s3-path {key(PLUGINS_ZIP)} --plugins-s3-object-version {versions[PLUGINS_ZIP]}",
            f"  --requirements-s3-path {key(REQUIREMENTS)} --requirements-s3-object-version {versions[REQUIREMENTS]}",
            (f"  --startup-script-s3-path {key(STARTUP_SCRIPT)} "
             f"--startup-script-s3-object-version {versions[STARTUP_SCRIPT]}"),
        ]


def plugins_zip(wheel: Path) -> bytes:
    """plugins.zip holding the wheel under its own name (pip reads version and tags from it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = zipfile.ZipInfo(wheel.name, date_time=ZIP_DATE)
        entry.compress_type = zipfile.ZIP_STORED  # a wheel is already compressed
        entry.external_attr = 0o644 << 16
        archive.writestr(entry, wheel.read_bytes())
    return buffer.getvalue()


def requirements_txt(package_version: str) -> str:
    return (f"--find-links {MWAA_PLUGINS_DIR}\n"
            f"{PACKAGE_NAME}=={package_version}\n")


def startup_environment(config: Config, bucket: str) -> dict[str, str]:
    """What conf/<env>.yaml reads from the environment on the Airflow side (its placeholders),
    with the values this deploy resolved: the deployer's --set and FASHION_EMR_* reach MWAA."""
    return {
        "FASHION_ENV": config.env,
        "FASHION_BUCKET": bucket,
        "FASHION_EMR_SERVICE_ROLE": config.emr.service_role,
        "FASHION_EMR_INSTANCE_PROFILE": config.emr.instance_profile,
        "FASHION_EMR_SUBNET_IDS": ",".join(config.emr.subnet_ids),
        **tracking_environment(config),
    }


def startup_sh(config: Config, bucket: str) -> str:
    exports = "".join(f"export {name}={shlex.quote(value)}\n"
                      for name, value in startup_environment(config, bucket).items())
    return ("#!/usr/bin/env bash\n"
            "# Written by `fashion deploy`: what conf/<env>.yaml needs from the environment on MWAA.\n"
            "# Change it with `fashion deploy` (--set, FASHION_EMR_*), not by hand: the next deploy rewrites it.\n"
            + exports)


def airflow_objects(config: Config, wheel: Path, package_version: str, dags_dir: Path,
                    bucket: str) -> list[AirflowObject]:
    dag_files = sorted(dags_dir.glob("*.py"))
    if not dag_files:
        raise AirflowPublishError(f"no DAG files in {dags_dir}")
    return [
        AirflowObject(PLUGINS_ZIP, plugins_zip(wheel)),
        AirflowObject(REQUIREMENTS, requirements_txt(package_version).encode()),
        AirflowObject(STARTUP_SCRIPT, startup_sh(config, bucket).encode()),
        *(AirflowObject(f"{DAGS_FOLDER}/{path.name}", path.read_bytes()) for path in dag_files),
    ]


def airflow_bucket(root: str) -> str:
    parsed = urlparse(root)
    if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
        raise AirflowPublishError(f"paths.airflow_root {root!r} is not an s3:// URI: MWAA reads its DAGs from S3 "
                                  f"(pass --bucket, or --no-airflow to deploy the release alone)")
    return parsed.netloc


def publish_airflow(s3, root: str, objects: list[AirflowObject]) -> AirflowPublication:
    """Plugins, requirements and startup script first, DAG files last (MWAA picks those up within
    a minute, the others only when the environment is updated); then DAG files that left the repo
    are removed, so a renamed DAG does not run twice."""
    bucket = airflow_bucket(root)
    prefix = urlparse(root).path.strip("/")
    key_of = (lambda name: f"{prefix}/{name}" if prefix else name)
    published = []
    for item in objects:
        key = key_of(item.name)
        current = _head(s3, bucket, key)
        if current is not None and current.get("Metadata", {}).get(SHA256_METADATA) == item.sha256:
            published.append(PublishedAirflowObject(item.name, join_uri(root, item.name), "unchanged",
                                                    current.get("VersionId")))
            continue
        response = s3.put_object(Bucket=bucket, Key=key, Body=item.body, Metadata={SHA256_METADATA: item.sha256})
        published.append(PublishedAirflowObject(item.name, join_uri(root, item.name), "uploaded",
                                                response.get("VersionId")))
    wanted = {key_of(item.name) for item in objects}
    dags_prefix = key_of(DAGS_FOLDER) + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=dags_prefix):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            # Only DAG files directly in dags/: anything else there was not put by a deploy.
            if key in wanted or not key.endswith(".py") or "/" in key[len(dags_prefix):]:
                continue
            s3.delete_object(Bucket=bucket, Key=key)
            name = key[len(prefix) + 1:] if prefix else key
            published.append(PublishedAirflowObject(name, join_uri(root, name), "removed", None))
    return AirflowPublication(root, tuple(published))


def _head(s3, bucket: str, key: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    # S3 lower-cases metadata keys; an object without ours (put by hand) counts as changed.
    return {**response, "Metadata": {k.lower(): v for k, v in response.get("Metadata", {}).items()}}
