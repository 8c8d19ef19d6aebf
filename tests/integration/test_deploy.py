"""`fashion deploy` against moto's S3 (versioned, as the stack's bucket is): a release names
content-addressed artifacts, a re-deploy of unchanged code uploads nothing, a changed job uploads
only itself, and the manifest is what `read_release` (the DAG, `fashion emr run`) reads. The
Airflow side (airflow/: DAG files, plugins.zip, requirements.txt, startup.sh) keeps fixed keys: it
is rewritten only when its bytes change, so MWAA's object versions stay put otherwise."""
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.cli import main
from fashion_pipeline.orchestration.deploy import build_wheel, deploy, wheel_version
from fashion_pipeline.orchestration.release import REQUIRED_ARTIFACTS, read_release, release_manifest_uri
from fashion_pipeline.storage import file_sha256, storage_for

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "fashion-deploy-tests"
JOBS = sorted(p.name for p in (ROOT / "jobs").glob("*.py"))
DAGS = sorted(p.name for p in (ROOT / "dags").glob("*.py"))
AIRFLOW_KEYS = {"airflow/plugins.zip", "airflow/requirements.txt", "airflow/startup.sh", *(f"airflow/dags/{d}" for d in DAGS)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def deploy_config(aws_config):
    s3 = aws_client("s3", aws_config)
    s3.create_bucket(Bucket=BUCKET)
    # MWAA refers to plugins.zip, requirements.txt and startup.sh by object version.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return aws_config.with_overrides({"paths.deploy_root": f"s3://{BUCKET}/deploy",
                                      "paths.airflow_root": f"s3://{BUCKET}/airflow"})


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of what deploy reads from the checkout, free to edit."""
    copy = tmp_path / "project"
    for folder in ("jobs", "conf", "emr", "dags"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _keys(config) -> set[str]:
    listing = aws_client("s3", config).list_objects_v2(Bucket=BUCKET)
    return {obj["Key"] for obj in listing.get("Contents", [])}


def _get(config, key: str) -> bytes:
    return aws_client("s3", config).get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _versions(config, key: str) -> list[str]:
    listing = aws_client("s3", config).list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key]


def _cli(config, *extra) -> int:
    return main(["deploy", "--bucket", BUCKET, "--env", "local", "--set", f"aws.endpoint_url={config.aws.endpoint_url}",
                 "--lake-root", config.paths.lake_root, "--raw-root", config.paths.raw_root, *extra])


def test_deploy_then_unchanged_redeploy_uploads_nothing(deploy_config, capsys):
    """The whole command, wheel build included: an unchanged tree builds the same wheel bytes and
    the same plugins.zip, so neither the release nor MWAA's objects are written again."""
    assert _cli(deploy_config) == 0
    first = capsys.readouterr().out.splitlines()
    release = read_release(deploy_config, storage_for(deploy_config))
    expected_names = {*REQUIRED_ARTIFACTS, "lambda_zip", "conf/local.yaml", *(f"jobs/{job}" for job in JOBS)}
    assert set(release.artifacts) == expected_names
    uploaded = [line for line in first if line.startswith("uploaded")]
    assert len(uploaded) == len(expected_names) + len(AIRFLOW_KEYS)
    assert f"release {release.version}" in first
    assert release.version.startswith("0.1.0+")
    # Every artifact sits under the hash of its bytes, and the manifest is in the env's folder.
    assert release.uri("jdbc_jar") == (
        f"s3://{BUCKET}/deploy/artifacts/{file_sha256(Path('/usr/share/java/postgresql.jar'))[0][:16]}/postgresql.jar")
    assert release.job_uri("train_als").endswith("/train_als.py")
    assert release_manifest_uri(deploy_config) == f"s3://{BUCKET}/deploy/local/release.json"
    # The stack's LambdaCodeKey parameter takes the zip's key as printed.
    lambda_key = release.uri("lambda_zip").removeprefix(f"s3://{BUCKET}/")
    assert lambda_key.startswith("deploy/artifacts/") and f"LambdaCodeKey={lambda_key}" in first
    keys_after_first = _keys(deploy_config)
    assert keys_after_first >= AIRFLOW_KEYS
    assert len(keys_after_first) == len(expected_names) + 1 + len(AIRFLOW_KEYS)
    # The MWAA settings name the versions just written.
    versions = {name: _versions(deploy_config, f"airflow/{name}")
                for name in ("plugins.zip", "requirements.txt", "startup.sh")}
    assert all(len(v) == 1 for v in versions.values()), versions
    assert f"  --plugins-s3-path airflow/plugins.zip --plugins-s3-object-version {versions['plugins.zip'][0]}" in first
    assert (f"  --startup-script-s3-path airflow/startup.sh "
            f"--startup-script-s3-object-version {versions['startup.sh'][0]}") in first

    assert _cli(deploy_config) == 0
    second = capsys.readouterr().out.splitlines()
    assert not [line for line in second if line.startswith(("uploaded", "removed"))], second
    assert sum(line.startswith("unchanged") for line in second) == len(expected_names) + len(AIRFLOW_KEYS)
    assert any(line.startswith("nothing uploaded") for line in second)
    assert f"release manifest unchanged: s3://{BUCKET}/deploy/local/release.json" in second
    assert read_release(deploy_config, storage_for(deploy_config)) == release
    assert _keys(deploy_config) == keys_after_first
    # No new object version: MWAA's environment needs no update.
    assert {name: _versions(deploy_config, f"airflow/{name}") for name in versions} == versions
    assert [line for line in second if line.startswith("  --")] == [line for line in first if line.startswith("  --")]
    assert second[-1].startswith("deployed in") and second[-1].endswith(f"(0 of {len(expected_names) + len(AIRFLOW_KEYS)} changed)")


def test_airflow_side_is_the_release_wheel_and_the_repo_dags(deploy_config, project, wheel, tmp_path):
    result = deploy(deploy_config, storage_for(deploy_config), tmp_path / "work", project_root=project, wheel=wheel)
    version = wheel_version(wheel)
    # requirements.txt: the wheel from plugins.zip, pinned to the version that was released.
    requirements = _get(deploy_config, "airflow/requirements.txt").decode()
    assert requirements.splitlines() == ["--find-links /usr/local/airflow/plugins", f"fashion-pipeline=={version}"]
    with zipfile.ZipFile(io.BytesIO(_get(deploy_config, "airflow/plugins.zip"))) as plugins:
        assert plugins.namelist() == [wheel.name]
        assert plugins.read(wheel.name) == wheel.read_bytes()
    # ... and the same bytes the clusters install.
    assert wheel.read_bytes() == _get(deploy_config, result.release.uri("wheel").removeprefix(f"s3://{BUCKET}/"))
    startup = _get(deploy_config, "airflow/startup.sh").decode().splitlines()
    assert f"export FASHION_BUCKET={BUCKET}" in startup
    assert "export FASHION_ENV=local" in startup
    assert "export FASHION_EMR_SERVICE_ROLE=fashion-emr-service" in startup
    for dag in DAGS:
        assert _get(deploy_config, f"airflow/dags/{dag}") == (ROOT / "dags" / dag).read_bytes()
    assert {k for k in _keys(deploy_config) if k.startswith("airflow/dags/")} == {f"airflow/dags/{d}" for d in DAGS}


def test_changed_settings_rewrite_only_startup_and_a_dag_gone_from_the_repo_is_removed(deploy_config, project,
                                                                                       wheel, tmp_path):
    storage = storage_for(deploy_config)
    first = deploy(deploy_config, storage, tmp_path / "work1", project_root=project, wheel=wheel)
    startup_version = first.airflow.version_id("startup.sh")
    assert startup_version and first.airflow.version_id("plugins.zip")

    (project / "dags" / DAGS[0]).unlink()
    changed = deploy_config.with_overrides({"emr.subnet_ids": "subnet-0a, subnet-0b",
                                            "emr.service_role": "prod-fashion-emr-service"})
    second = deploy(changed, storage, tmp_path / "work2", project_root=project, wheel=wheel)

    states = {item.name: item.state for item in second.airflow.published}
    assert states.pop("startup.sh") == "uploaded"
    assert states.pop(f"dags/{DAGS[0]}") == "removed"
    assert set(states.values()) == {"unchanged"}, states
    assert not second.uploaded and not second.manifest_written  # the release itself did not change
    startup = _get(deploy_config, "airflow/startup.sh").decode().splitlines()
    assert "export FASHION_EMR_SUBNET_IDS=subnet-0a,subnet-0b" in startup
    assert "export FASHION_EMR_SERVICE_ROLE=prod-fashion-emr-service" in startup
    assert second.airflow.version_id("startup.sh") not in (None, startup_version)
    assert second.airflow.version_id("plugins.zip") == first.airflow.version_id("plugins.zip")
    assert f"airflow/dags/{DAGS[0]}" not in _keys(deploy_config)


def test_no_airflow_publishes_the_release_only(deploy_config, capsys):
    assert _cli(deploy_config, "--no-airflow") == 0
    out = capsys.readouterr().out
    assert not {k for k in _keys(deploy_config) if k.startswith("airflow/")}
    assert "airflow/" not in out and "--plugins-s3-path" not in out


def test_airflow_root_outside_s3_is_one_line_before_anything_is_built(deploy_config, project, tmp_path):
    from fashion_pipeline.orchestration.mwaa import AirflowPublishError

    config = deploy_config.with_overrides({"paths.airflow_root": str(tmp_path / "airflow")})
    with pytest.raises(AirflowPublishError, match="is not an s3:// URI: MWAA reads its DAGs from S3"):
        deploy(config, storage_for(config), tmp_path / "work", project_root=project)
    assert not _keys(deploy_config) and not (tmp_path / "work").exists()


def test_changing_one_job_uploads_only_that_job_and_makes_a_new_version(deploy_config, project, wheel, tmp_path):
    storage = storage_for(deploy_config)
    first = deploy(deploy_config, storage, tmp_path / "work1", project_root=project, wheel=wheel)
    assert len(first.uploaded) == len(first.published) and first.manifest_written

    job = project / "jobs" / "train_als.py"
    job.write_text(job.read_text(encoding="utf-8") + "# a change\n", encoding="utf-8")
    second = deploy(deploy_config, storage, tmp_path / "work2", project_root=project, wheel=wheel)

    assert [item.artifact.name for item in second.uploaded] == ["jobs/train_als.py"]
    assert second.manifest_written and second.release.version != first.release.version
    current = read_release(deploy_config, storage)
    assert current.version == second.release.version
    changed = {name for name in current.artifacts if current.artifacts[name] != first.release.artifacts[name]}
    assert changed == {"jobs/train_als.py"}
    # The old release's files are still there: a cluster started from it keeps its code.
    assert storage.exists(first.release.job_uri("train_als"))


def test_missing_bucket_is_one_line(aws_config, capsys):
    assert _cli(aws_config) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"fashion deploy: bucket {BUCKET} does not exist: create it (the infrastructure stack does) "
                   f"or pass --bucket with the stack's bucket")


def test_missing_jdbc_driver_names_the_debian_package(deploy_config, project, wheel, tmp_path):
    from fashion_pipeline.orchestration.deploy import DeployError

    with pytest.raises(DeployError, match="install the Debian package libpostgresql-jdbc-java"):
        deploy(deploy_config, storage_for(deploy_config), tmp_path / "work", project_root=project,
               jdbc_jar=tmp_path / "postgresql.jar", wheel=wheel)
    assert not _keys(deploy_config)
