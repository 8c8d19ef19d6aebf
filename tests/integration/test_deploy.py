"""`fashion deploy` against moto's S3: a release names content-addressed artifacts, a re-deploy of
unchanged code uploads nothing, a changed job uploads only itself, and the manifest is what
`read_release` (the DAG, `fashion emr run`) reads."""
import shutil
from pathlib import Path

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.cli import main
from fashion_pipeline.orchestration.deploy import build_wheel, deploy, file_sha256
from fashion_pipeline.orchestration.release import REQUIRED_ARTIFACTS, read_release, release_manifest_uri
from fashion_pipeline.storage import storage_for

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "fashion-deploy-tests"
JOBS = sorted(p.name for p in (ROOT / "jobs").glob("*.py"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def deploy_config(aws_config):
    aws_client("s3", aws_config).create_bucket(Bucket=BUCKET)
    return aws_config.with_overrides({"paths.deploy_root": f"s3://{BUCKET}/deploy"})


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of what deploy reads from the checkout, free to edit."""
    copy = tmp_path / "project"
    for folder in ("jobs", "conf", "emr"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _keys(config) -> set[str]:
    listing = aws_client("s3", config).list_objects_v2(Bucket=BUCKET)
    return {obj["Key"] for obj in listing.get("Contents", [])}


def _cli(config, *extra) -> int:
    return main(["deploy", "--bucket", BUCKET, "--env", "local", "--set", f"aws.endpoint_url={config.aws.endpoint_url}",
                 "--lake-root", config.paths.lake_root, "--raw-root", config.paths.raw_root, *extra])


def test_deploy_then_unchanged_redeploy_uploads_nothing(deploy_config, capsys):
    """The whole command, wheel build included: an unchanged tree builds the same wheel bytes."""
    assert _cli(deploy_config) == 0
    first = capsys.readouterr().out.splitlines()
    release = read_release(deploy_config, storage_for(deploy_config))
    expected_names = {*REQUIRED_ARTIFACTS, "lambda_zip", "conf/local.yaml", *(f"jobs/{job}" for job in JOBS)}
    assert set(release.artifacts) == expected_names
    uploaded = [line for line in first if line.startswith("uploaded")]
    assert len(uploaded) == len(expected_names)
    assert f"release {release.version}" in first
    assert release.version.startswith("0.1.0+")
    # Every artifact sits under the hash of its bytes, and the manifest is in the env's folder.
    assert release.uri("jdbc_jar") == (
        f"s3://{BUCKET}/deploy/artifacts/{file_sha256(Path('/usr/share/java/postgresql.jar'))[:16]}/postgresql.jar")
    assert release.job_uri("train_als").endswith("/train_als.py")
    assert release_manifest_uri(deploy_config) == f"s3://{BUCKET}/deploy/local/release.json"
    keys_after_first = _keys(deploy_config)
    assert len(keys_after_first) == len(expected_names) + 1

    assert _cli(deploy_config) == 0
    second = capsys.readouterr().out.splitlines()
    assert not [line for line in second if line.startswith("uploaded")], second
    assert sum(line.startswith("unchanged") for line in second) == len(expected_names)
    assert any(line.startswith("nothing uploaded") for line in second)
    assert f"release manifest unchanged: s3://{BUCKET}/deploy/local/release.json" in second
    assert read_release(deploy_config, storage_for(deploy_config)) == release
    assert _keys(deploy_config) == keys_after_first


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
