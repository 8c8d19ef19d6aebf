"""Write emr/bootstrap/constraints.txt: an exact pin for every runtime requirement of
fashion-pipeline (setup.py's install_requires, with their extras) and everything they require in
turn, at the versions installed in the Python 3.11 environment running this script.

    .venv/bin/python emr/bootstrap/lock_constraints.py          # rewrite constraints.txt
    .venv/bin/python emr/bootstrap/lock_constraints.py --check  # exit 1 if it is out of date

Pinning what the venv has installed means the cluster runs the versions the tests ran against;
upgrade them in the venv (pip install -U ...), run the tests, then run this. Markers are evaluated
for the cluster (Linux, aarch64 Graviton nodes, Python 3.11), not for this machine. pyspark and
py4j are refused: EMR provides Spark, and reinstalling it would shadow the cluster's own.
Standard library and packaging only: it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = Path(__file__).resolve().parent / "constraints.txt"
CLUSTER_PYTHON = (3, 11)
CLUSTER_MARKERS = {
    "python_version": "3.11",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
PROVIDED_BY_EMR = {"pyspark", "py4j"}
HEADER = """\
# Exact versions of fashion-pipeline's runtime requirements and everything they require, for the
# EMR cluster's Python 3.11 (emr-spark-8.0.0). The bootstrap (install_fashion_pipeline.sh) installs
# the wheel with its dependencies under these constraints: the wheel's Requires-Dist decides WHAT
# is installed, this file decides WHICH VERSION. Never pyspark or py4j: EMR provides Spark.
#
# Generated from the versions installed in the project's venv (the ones the tests run against):
#   .venv/bin/python emr/bootstrap/lock_constraints.py           rewrite this file
#   .venv/bin/python emr/bootstrap/lock_constraints.py --check   fail if it is out of date
# tests/unit/test_packaging.py checks every requirement of the built wheel is pinned here.
"""


class LockError(Exception):
    pass


def runtime_requirements(setup_py: Path = ROOT / "setup.py") -> list[Requirement]:
    """install_requires, read by running setup.py only as far as its setup() arguments."""
    from distutils.core import run_setup

    import setuptools  # noqa: F401 - makes distutils' run_setup understand setuptools arguments

    distribution = run_setup(str(setup_py), stop_after="init")
    return [Requirement(text) for text in distribution.install_requires]


def pinned_closure(requirements: list[Requirement]) -> dict[str, str]:
    """Canonical name -> installed version of the requirements and what they require, for the
    cluster's markers; every version must satisfy every specifier that reached it."""
    pins: dict[str, str] = {}
    pending = [(requirement, "setup.py") for requirement in requirements]
    visited: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement, required_by = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in PROVIDED_BY_EMR:
            raise LockError(f"{required_by} requires {name}, which EMR provides: it must not be a runtime requirement "
                            f"(pyspark belongs in setup.py's `local` extra)")
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise LockError(f"{name} (required by {required_by}) is not installed here: install the project "
                            f"(pip install -e .) in this venv first") from None
        version = distribution.version
        if not requirement.specifier.contains(version, prereleases=True):
            raise LockError(f"{name} {version} is installed but {required_by} needs {requirement}: "
                            f"install a matching version first")
        pins[name] = version
        extras = frozenset(requirement.extras)
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        for text in distribution.requires or []:
            child = Requirement(text)
            if _applies_on_cluster(child, extras):
                pending.append((child, f"{name} {version}"))
    return dict(sorted(pins.items()))


def _applies_on_cluster(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**CLUSTER_MARKERS, "extra": extra}) for extra in {"", *extras})


def constraints_text(pins: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in pins.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if constraints.txt differs from the venv")
    parser.add_argument("--out", type=Path, default=CONSTRAINTS)
    args = parser.parse_args(argv)
    if sys.version_info[:2] != CLUSTER_PYTHON:
        print(f"lock_constraints: run with Python {'.'.join(map(str, CLUSTER_PYTHON))} (the cluster's), "
              f"not {sys.version.split()[0]}", file=sys.stderr)
        return 2
    try:
        text = constraints_text(pinned_closure(runtime_requirements()))
    except LockError as error:
        print(f"lock_constraints: {error}", file=sys.stderr)
        return 1
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"lock_constraints: {args.out} is out of date: run emr/bootstrap/lock_constraints.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {text.count('==')} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
