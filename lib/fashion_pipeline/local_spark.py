"""The Spark configuration of local runs, installed into the venv's pyspark.

`conf/spark/` in the repository is the source: spark-defaults.conf, spark-env.sh, log4j2.properties.
`python -m fashion_pipeline.local_spark` (run by `make venv`) makes the venv's `pyspark/conf`
(SPARK_HOME/conf of a pip-installed pyspark, where `spark-submit` looks) a directory holding links
to those files plus what only this checkout knows, appended to spark-defaults.conf:

- Spark's own jars first on the driver's class path. The launcher puts the configuration directory
  ahead of them, and a JVM maps a class-data-sharing archive only when no non-empty directory comes
  before the jars its classes were loaded from.
- `-XX:SharedArchiveFile` naming an AppCDS archive of the classes a partition_raw run loads, dumped
  once here by a small run through the same launcher (`-XX:ArchiveClassesAtExit`): every later JVM
  maps about 14,000 Spark, Scala and Hadoop classes instead of reading, parsing and verifying them
  from jars.

And a `.pth` file in the venv's site-packages: spark-submit puts pyspark's own copies of itself and
py4j, as zip files inside the pip package, first on the Python driver's path, and modules imported
from a zip are compiled from source on every start (about a second of the driver's CPU before the
session exists). The line removes those two entries, so the same modules load from site-packages
with their compiled files; it touches nothing else (EMR's pyspark is not pip-installed).

Re-running is cheap and idempotent: the files are rewritten only when they change, and the archive
is rebuilt only when the JVM, the jars or the settings it was built with change. Local in-process
sessions read the same directory (`spark.py`). EMR never runs this: it has /etc/spark/conf.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from fashion_pipeline.config import PROJECT_ROOT, find_conf_dir

SOURCE_CONF_DIR = find_conf_dir() / "spark"
SOURCE_FILES = ("spark-defaults.conf", "spark-env.sh", "log4j2.properties")
GENERATED_MARKER = "GENERATED-BY-FASHION-PIPELINE"
ARCHIVE_NAME = "spark-classes.jsa"
# Class data sharing logs nothing when the archive cannot be mapped (another class path): see below.
QUIET_ARCHIVE_OPTIONS = "-Xlog:cds=off -Xlog:cds+dynamic=off"
ARCHIVE_MANIFEST_NAME = "spark-classes.json"
JAVA_OPTIONS_KEY = "spark.driver.extraJavaOptions"
CLASS_PATH_KEY = "spark.driver.extraClassPath"
# The job whose classes go into the archive, on the generator's tiny data plus a few bad rows so the
# quarantine's code paths load too.
ARCHIVE_JOB = PROJECT_ROOT / "jobs" / "partition_raw.py"
ARCHIVE_BAD_TRANSACTIONS = ("2020-09-01,not-a-customer,0000000000,cheap,9", "malformed,line")
PATH_FILE_NAME = "fashion_pipeline_pyspark_path.pth"


class LocalSparkError(RuntimeError):
    """The venv's Spark configuration cannot be installed."""


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def installed_conf_dir() -> Path:
    return spark_home() / "conf"


def active_conf_dir() -> Path:
    """The directory local sessions should read: the venv's installed one, else the source."""
    installed = installed_conf_dir()
    return installed if (installed / GENERATED_MARKER).is_file() else SOURCE_CONF_DIR


def read_spark_defaults(path: Path) -> dict[str, str]:
    """spark-defaults.conf as Spark reads it: `key value` lines, `#` comments, the last key wins."""
    settings: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        if len(parts) != 2:
            raise LocalSparkError(f"{path}:{number}: expected `key value`, got {line!r}")
        settings[parts[0]] = parts[1].strip()
    return settings


def install(source_dir: Path = SOURCE_CONF_DIR) -> list[str]:
    """Install `source_dir` as the venv's Spark configuration; returns what was done, one line each."""
    target = installed_conf_dir()
    done = _prepare_target(target)
    for name in SOURCE_FILES[1:]:
        done += _link(target / name, source_dir / name)
    source_defaults = read_spark_defaults(source_dir / "spark-defaults.conf")
    archive = target / ARCHIVE_NAME
    done += _write_if_changed(spark_home().parent / PATH_FILE_NAME, _path_file_line())
    done += _ensure_archive(target, source_dir, source_defaults, archive)
    done += _write_if_changed(
        target / "spark-defaults.conf", _installed_defaults(source_dir, source_defaults, archive)
    )
    (target / GENERATED_MARKER).write_text(f"generated from {source_dir}; re-run `make venv` after changes\n")
    return done or [f"{target}: up to date"]


def _prepare_target(target: Path) -> list[str]:
    if target.is_symlink():  # an earlier layout linked the whole directory
        target.unlink()
    if target.exists() and not (target / GENERATED_MARKER).is_file():
        raise LocalSparkError(f"{target} exists and was not made by us: move it away, then re-run `make venv`")
    if not target.exists():
        target.mkdir()
        return [f"{target}: created"]
    return []


def _link(link: Path, source: Path) -> list[str]:
    if link.is_symlink() and link.resolve() == source.resolve():
        return []
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(source.resolve())
    return [f"{link} -> {source.resolve()}"]


def _write_if_changed(path: Path, text: str) -> list[str]:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return []
    path.write_text(text, encoding="utf-8")
    return [f"{path}: written"]


def _path_file_line() -> str:
    zips = str(spark_home() / "python" / "lib") + os.sep
    # One line, run by site.py in a scope of its own: no names from outside the lambda's defaults.
    return (
        "import os, sys; sys.path[:] = filter("
        f"lambda p, realpath=os.path.realpath: not realpath(p).startswith({zips!r}), sys.path)\n"
    )


def _jars_first_class_path(source_defaults: dict[str, str]) -> str:
    entries = [source_defaults[CLASS_PATH_KEY]] if source_defaults.get(CLASS_PATH_KEY) else []
    return os.pathsep.join([*entries, str(spark_home() / "jars" / "*")])


def _installed_defaults(source_dir: Path, source_defaults: dict[str, str], archive: Path) -> str:
    java_options = source_defaults.get(JAVA_OPTIONS_KEY, "")
    if archive.is_file():
        # A class path other than the archive's (a user's --conf spark.driver.extraClassPath=...)
        # only costs the archive's speed-up: the JVM's notice of it would be a stray line on the job.
        java_options = f"{java_options} -XX:SharedArchiveFile={archive} {QUIET_ARCHIVE_OPTIONS}".strip()
    generated = [
        "",
        "# ---- appended by `python -m fashion_pipeline.local_spark` (make venv) for this checkout ----",
        "# Spark's jars ahead of the configuration directory, so the class-data-sharing archive maps.",
        f"{CLASS_PATH_KEY} {_jars_first_class_path(source_defaults)}",
    ]
    if archive.is_file():
        generated.append(f"{JAVA_OPTIONS_KEY} {java_options}")
    source_text = (source_dir / "spark-defaults.conf").read_text(encoding="utf-8")
    return source_text.rstrip("\n") + "\n" + "\n".join(generated) + "\n"


def _archive_inputs(source_defaults: dict[str, str]) -> dict:
    """What an archive is valid for: the JVM build, the exact jars, the class path and options."""
    # The java spark-class starts: JAVA_HOME's, else the first on PATH.
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).is_file():
        raise LocalSparkError("no java on PATH: install openjdk-17-jre-headless (make system-deps)")
    version = subprocess.run([java, "-Xshare:auto", "-version"], capture_output=True, text=True).stderr
    jars = sorted(
        (jar.name, jar.stat().st_size, int(jar.stat().st_mtime)) for jar in (spark_home() / "jars").glob("*.jar")
    )
    return {
        "java": str(Path(java).resolve()),
        "java_version": version.strip(),
        "jars_sha256": hashlib.sha256(json.dumps(jars).encode()).hexdigest(),
        "class_path": _jars_first_class_path(source_defaults),
        "java_options": source_defaults.get(JAVA_OPTIONS_KEY, ""),
    }


def _ensure_archive(target: Path, source_dir: Path, source_defaults: dict[str, str], archive: Path) -> list[str]:
    manifest = target / ARCHIVE_MANIFEST_NAME
    inputs = _archive_inputs(source_defaults)
    if archive.is_file() and manifest.is_file() and json.loads(manifest.read_text()) == inputs:
        return []
    archive.unlink(missing_ok=True)
    manifest.unlink(missing_ok=True)
    if not ARCHIVE_JOB.is_file():
        return [f"{archive}: not built ({ARCHIVE_JOB} missing: not a source checkout)"]
    # The dump run must see the class path every later run has, so the defaults it reads are the
    # installed ones without the archive (not built yet).
    _write_if_changed(target / "spark-defaults.conf", _installed_defaults(source_dir, source_defaults, archive))
    with tempfile.TemporaryDirectory(prefix="spark-classes-") as work:
        dumped = Path(work) / ARCHIVE_NAME
        try:
            _run_archive_job(Path(work), source_defaults, dumped)
        except LocalSparkError as error:
            # The archive only makes JVMs start sooner: without it every run is still correct.
            return [f"{archive}: not built, Spark starts without it: {error}"]
        shutil.move(str(dumped), archive)
    manifest.write_text(json.dumps(inputs, indent=2) + "\n")
    return [f"{archive}: built ({archive.stat().st_size / 2**20:,.0f} MiB)"]


def _run_archive_job(work: Path, source_defaults: dict[str, str], dumped: Path) -> None:
    from fashion_pipeline.generate import generate_hm
    from fashion_pipeline.landing import land_directory
    from fashion_pipeline.storage import LocalStorage

    data = work / "data"
    generate_hm("tiny", seed=1, out_dir=data, progress=False)
    with open(data / "transactions_train.csv", "a", encoding="utf-8") as transactions:
        transactions.write("\n".join(ARCHIVE_BAD_TRANSACTIONS) + "\n")
    land_directory(data, str(work / "raw"), date(2020, 9, 23), LocalStorage())
    java_options = f"{source_defaults.get(JAVA_OPTIONS_KEY, '')} -XX:ArchiveClassesAtExit={dumped}".strip()
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONF_DIR", "SPARK_HOME", "PYSPARK_SUBMIT_ARGS")}
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    command = [
        str(venv_bin / "spark-submit"), "--driver-java-options", java_options, str(ARCHIVE_JOB),
        "--env", "local", "--raw-root", str(work / "raw"), "--lake-root", str(work / "lake"),
        "--set", f"paths.state_dir={work / 'state'}",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=work)
    if done.returncode != 0 or not dumped.is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise LocalSparkError(f"building the class-data-sharing archive failed (exit {done.returncode}):\n{tail}")


def main() -> int:
    try:
        for line in install():
            print(f"local Spark: {line}")
    except LocalSparkError as error:
        print(f"local Spark: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
