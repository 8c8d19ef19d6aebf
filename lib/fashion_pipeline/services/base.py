"""What every service of the embedded local stack shares: a background process the project starts
and stops itself.

Each service keeps a pid file and a log under the project's state dir. `up` is idempotent, and
`down` stops only a process this project started (its pid file and command line must match), never
whatever else happens to listen on the port.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from fashion_pipeline.errors import PipelineError

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class ServiceError(PipelineError):
    """A local service could not be started or stopped."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    log_file: Path

    def line(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        return f"{self.name:<10} {state:<22} {self.address:<32} log: {self.log_file}"


class ManagedService(ABC):
    """A process started in its own session so it outlives the command that started it."""

    name: str
    process_marker: str  # must appear in the process's command line for `down` to touch it
    port_variable: str  # the environment variable conf/local.yaml reads this port from

    def __init__(self, state_dir: Path, port: int):
        self.state_dir = Path(state_dir)
        self.port = port

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def is_healthy(self) -> bool: ...

    @abstractmethod
    def start_process(self) -> int:
        """Start the service in the background and return the pid to record."""

    def up(self) -> str:
        running_pid = self.owned_pid()
        if running_pid is not None:
            # Ours and alive: a busy server may answer slowly, which is no reason to start another.
            if self._wait_until_healthy(running_pid):
                return f"{self.name}: already running at {self.address}"
            raise ServiceError(
                f"{self.name}: pid {running_pid} runs but does not answer at {self.address}; "
                f"see {self.log_file}, or restart it with `fashion services down`"
            )
        if _port_in_use(self.port):
            raise ServiceError(
                f"{self.name}: port {self.port} is taken by a process this project did not start; "
                f"run with another port, e.g. {self.port_variable}={self.port + 1}"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        pid = self.start_process()
        self.pid_file.write_text(str(pid))
        if self._wait_until_healthy(pid):
            return f"{self.name}: started at {self.address} (pid {pid})"
        tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
        self.down()
        raise ServiceError(f"{self.name}: did not become healthy; log {self.log_file}:\n{tail}")

    def _wait_until_healthy(self, pid: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.is_healthy():
                return True
            if not _pid_alive(pid):
                return False
            time.sleep(0.2)
        return False

    def down(self) -> str:
        pid = self.owned_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return f"{self.name}: not running"
        self.stop_process(pid)
        self.pid_file.unlink(missing_ok=True)
        return f"{self.name}: stopped (pid {pid})"

    def stop_process(self, pid: int) -> None:
        _terminate(pid)

    def status(self) -> ServiceStatus:
        pid = self.owned_pid()
        running = pid is not None and self.is_healthy()
        return ServiceStatus(self.name, running, pid, self.address, self.log_file)

    def owned_pid(self) -> int | None:
        """The recorded pid, if that process is alive and is the one we started."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _pid_alive(pid) or self.process_marker not in _command_line(pid):
            return None
        return pid

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> int:
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=env,
            )
        return process.pid


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((LOOPBACK, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _process_state(pid) != "Z"


def _process_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _terminate(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
