"""Running `spark-submit` as a user does: the venv's launcher, from a shell with the venv active and
nothing Spark-specific in the environment, so what the job gets comes from conf/spark."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
# Variables a test process may carry from its own in-process session, or a developer's shell.
SPARK_VARIABLES = (
    "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME", "SPARK_CONF_DIR", "SPARK_LOCAL_IP",
    "SPARK_LOCAL_HOSTNAME", "PYSPARK_SUBMIT_ARGS", "SPARK_ENV_LOADED",
)
# A log line at INFO, in Spark's layouts ("26/12/03 05:12:49 INFO SparkContext: ...") or ours.
INFO_LINE = re.compile(r"\bINFO\b")


def activated_venv_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SPARK_VARIABLES}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    return env


def spark_submit(*arguments: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "spark-submit"), *arguments], env=activated_venv_environment(),
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )


def info_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if INFO_LINE.search(line)]
