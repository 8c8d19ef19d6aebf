"""A clone in a private directory (mode 700, like a home directory or `mktemp -d`) starts its own
local services, as root and as an ordinary user alike, without anyone changing permissions."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fashion_pipeline.services import free_port

REPO = Path(__file__).resolve().parents[2]


def _copy_of_the_working_tree(target: Path) -> None:
    """What a clone of this tree holds: every tracked or new, not ignored, file."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _fashion(clone: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fashion_pipeline.cli", *args], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=240)


def test_a_clone_in_a_private_directory_starts_its_services():
    private = Path(tempfile.mkdtemp(prefix="fashion-clone-"))
    assert (private.stat().st_mode & 0o777) == 0o700
    clone = private / "fashion-pipeline"
    _copy_of_the_working_tree(clone)
    env = {key: value for key, value in os.environ.items() if not key.startswith("FASHION")}
    env.update(PYTHONPATH=str(clone / "lib"), FASHION_MOTO_PORT=str(free_port()),
               FASHION_POSTGRES_PORT=str(free_port()))
    try:
        started = _fashion(clone, env, "services", "up")
        assert started.returncode == 0, started.stderr
        assert "Traceback" not in started.stderr
        assert "postgres: started" in started.stdout and "credentials published" in started.stdout
        status = _fashion(clone, env, "services", "status")
        assert status.stdout.count("running (pid") == 2, status.stdout
        state = clone / ".state"  # conf/local.yaml's state dir, resolved against the clone
        assert (state / "moto.pid").is_file() and (state / "postgres.pid").is_file()
        cluster = Path((state / "postgres" / "cluster-dir").read_text().strip())
        if os.geteuid() == 0:  # the server runs as `postgres`, who cannot enter the private directory
            assert private not in cluster.parents
    finally:
        stopped = _fashion(clone, env, "services", "down")
        cleaned = _fashion(clone, env, "services", "clean")
        shutil.rmtree(private, ignore_errors=True)
    assert stopped.returncode == 0 and stopped.stdout.count("stopped (pid") == 2, stopped.stdout + stopped.stderr
    assert cleaned.returncode == 0 and not cluster.exists()
