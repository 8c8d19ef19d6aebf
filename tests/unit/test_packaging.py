"""The cluster installs what the wheel says it needs, at the versions constraints.txt pins: the
wheel's Requires-Dist and constraints.txt must agree, and the wheel must carry what the jobs read
from it on a node (the configuration, the SQL files, the DDL)."""
import json
import socket
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from fashion_pipeline.orchestration.deploy import build_wheel

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_DIR = ROOT / "emr" / "bootstrap"
CONSTRAINTS = BOOTSTRAP_DIR / "constraints.txt"
BOOTSTRAP = BOOTSTRAP_DIR / "install_fashion_pipeline.sh"
PROVIDED_BY_EMR = {"pyspark", "py4j"}
# The core fleets of conf/emr.yaml are Graviton (m7g/m6g): the cluster's wheels are aarch64 ones.
CLUSTER_PLATFORMS = [f"manylinux_2_{minor}_aarch64" for minor in (34, 28, 27, 26, 24, 17)] + ["manylinux2014_aarch64"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode("utf-8"))


def _runtime_requirements(wheel: Path) -> list[Requirement]:
    requirements = [Requirement(text) for text in _metadata(wheel).get_all("Requires-Dist")]
    return [r for r in requirements if r.marker is None or "extra" not in str(r.marker)]


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        assert separator and version and ";" not in version, f"not an exact pin: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins


def test_every_runtime_requirement_is_pinned_at_a_version_it_accepts(wheel):
    pins = _pins()
    requirements = _runtime_requirements(wheel)
    assert {canonicalize_name(r.name) for r in requirements} >= {"pandas", "pyarrow", "sqlglot", "psycopg"}
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is a runtime requirement but constraints.txt does not pin it"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, the wheel requires {requirement}")
    # psycopg[binary]: the extra's package is pinned too.
    assert "psycopg-binary" in pins


def test_spark_comes_from_emr_never_from_the_wheel_or_the_constraints(wheel):
    assert not PROVIDED_BY_EMR & set(_pins())
    assert not PROVIDED_BY_EMR & {canonicalize_name(r.name) for r in _runtime_requirements(wheel)}
    # ...while local runs still get it through the `local` extra.
    extras = [Requirement(t) for t in _metadata(wheel).get_all("Requires-Dist") if "pyspark" in t]
    assert extras and all("local" in str(r.marker) for r in extras)


def test_wheel_carries_the_configuration_sql_and_ddl(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"fashion_pipeline/conf/emr.yaml", "fashion_pipeline/conf/local.yaml"} <= names
    for folder in ("sql", "ddl"):
        expected = {str(p.relative_to(ROOT / "lib")) for p in (ROOT / "lib" / "fashion_pipeline" / folder).rglob("*.sql")}
        assert expected and expected <= names, folder
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_bootstrap_installs_the_wheel_with_its_dependencies_under_the_constraints():
    script = BOOTSTRAP.read_text(encoding="utf-8")
    assert script.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in script
    assert '"${1:?' in script and '"${2:?' in script
    install = next(line for line in script.replace("\\\n", " ").splitlines() if "pip install" in line)
    assert '--constraint "$constraints"' in install and '"$wheel"' in install
    assert "--no-deps" not in script
    subprocess.run(["bash", "-n", str(BOOTSTRAP)], check=True)


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _pypi_reachable(), reason="resolving the cluster's wheels needs PyPI")
def test_pip_resolves_the_wheel_for_the_cluster_to_exactly_the_pinned_versions(wheel, tmp_path):
    """What the bootstrap's pip would install on an aarch64 Python 3.11 node, without installing."""
    report = tmp_path / "report.json"
    platforms = [option for platform in CLUSTER_PLATFORMS for option in ("--platform", platform)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--no-input",
         "--report", str(report), "--target", str(tmp_path / "target"), "--only-binary=:all:",
         "--python-version", "3.11", "--implementation", "cp", *platforms,
         "--constraint", str(CONSTRAINTS), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installed = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                 for item in json.loads(report.read_text())["install"]}
    installed.pop("fashion-pipeline")
    assert installed == _pins()
