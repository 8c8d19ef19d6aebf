"""PostgreSQL 15 from Debian's packages as the local stand-in for the store's RDS database.

The cluster listens on 127.0.0.1 only (plus a Unix socket in a directory only its owner can
enter) and serves one application role and database. The role's password is generated on first
start and kept in a 0600 file in the state dir, the way RDS keeps a managed master password in
Secrets Manager; `fashion services up` publishes it there (moto).

PostgreSQL refuses to run as root, so when we are root initdb and the server run as the `postgres`
system user the Debian package created. That user may not be able to enter the directory the
project was cloned into (home directories and `mktemp -d` are private), so as root the cluster's
files live in a directory the `postgres` user owns (under its home, else /var/tmp), one per state
dir; the state dir records where (`postgres/cluster-dir`) so `down`, `status` and `clean` find it.
As an ordinary user the server runs as that user and the cluster stays inside the state dir.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

from fashion_pipeline.config import Config
from fashion_pipeline.services.base import LOOPBACK, ManagedService, ServiceError

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
SERVICE_USER = "postgres"  # created by Debian's postgresql package
APP_ROLE = "fashion_app"
PG_CTL_TIMEOUT_S = 30
SHARED_CLUSTERS_DIR = Path("/var/tmp")
CLUSTERS_FOLDER = "fashion-pipeline-clusters"


class PostgresService(ManagedService):
    name = "postgres"
    port_variable = "FASHION_POSTGRES_PORT"

    def __init__(self, state_dir: Path, port: int, database: str = "fashion_store", bin_dir: str | None = None):
        super().__init__(state_dir, port)
        self.database = database
        self._bin_dir = bin_dir

    # ---- where things are ------------------------------------------------------------------
    @property
    def home(self) -> Path:
        """In the state dir: the credentials and the record of where the cluster lives."""
        return self.state_dir / "postgres"

    @property
    def cluster_record(self) -> Path:
        return self.home / "cluster-dir"

    @property
    def cluster_dir(self) -> Path:
        """The data and socket directories' parent: recorded at first start, else where it would go."""
        try:
            return Path(self.cluster_record.read_text().strip())
        except FileNotFoundError:
            return self._chosen_cluster_dir()

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.cluster_dir / "socket"

    @property
    def credentials_file(self) -> Path:
        return self.home / "app-credentials.json"

    @property
    def process_marker(self) -> str:  # type: ignore[override]
        return f"-D {self.data_dir}"

    @property
    def address(self) -> str:
        return f"postgresql://{LOOPBACK}:{self.port}/{self.database}"

    def bin(self, program: str) -> str:
        for directory in ([self._bin_dir] if self._bin_dir else list(PG_BIN_CANDIDATES)):
            candidate = Path(directory) / program
            if candidate.is_file():
                return str(candidate)
        raise ServiceError(
            f"postgres: {program} not found in {PG_BIN_CANDIDATES}; install Debian's postgresql "
            f"package (make system-deps)"
        )

    # ---- lifecycle ---------------------------------------------------------------------------
    def is_healthy(self) -> bool:
        try:
            done = subprocess.run(
                [self.bin("pg_isready"), "-q", "-h", LOOPBACK, "-p", str(self.port), "-t", "2"],
                capture_output=True, timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    def up(self) -> str:
        message = super().up()
        self._ensure_app_role_and_database()
        return message

    def start_process(self) -> int:
        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb()
        command = [
            self.bin("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-c", f"listen_addresses={LOOPBACK}",
            "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "max_connections=60",
            "-c", f"fsync={'off' if _is_scratch(self.state_dir) else 'on'}",
        ]
        return self._spawn_as_service_user(command)

    def stop_process(self, pid: int) -> None:
        # "fast" rolls back open sessions; the default "smart" waits for every client to leave.
        done = subprocess.run(
            [self.bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(PG_CTL_TIMEOUT_S)],
            capture_output=True, text=True, **self._as_service_user(),
        )
        if done.returncode != 0:
            super().stop_process(pid)

    def remove_data(self) -> str:
        """Delete the cluster and the credentials (the server must be stopped): `make clean`."""
        if self.owned_pid() is not None:
            raise ServiceError("postgres: still running; run `fashion services down` first")
        cluster_dir = self.cluster_dir
        shutil.rmtree(cluster_dir, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)
        return f"postgres: removed the cluster in {cluster_dir}"

    # ---- connections for tools (psycopg) -----------------------------------------------------
    def admin_dsn(self, database: str = "postgres") -> str:
        """The cluster owner over the private Unix socket (trust auth: only its owner can enter)."""
        return f"host={self.socket_dir} port={self.port} user={self._cluster_owner()} dbname={database}"

    def app_credentials(self) -> dict:
        """username/password of the application role, as the RDS-managed secret carries them."""
        try:
            return json.loads(self.credentials_file.read_text())
        except FileNotFoundError:
            raise ServiceError("postgres: no credentials yet; run `fashion services up` first") from None

    def create_database(self, name: str) -> None:
        """A fresh database owned by the application role (tests give each case its own)."""
        import psycopg

        with psycopg.connect(self.admin_dsn(), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{name}" OWNER {APP_ROLE}')

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ---- internals ---------------------------------------------------------------------------
    def _chosen_cluster_dir(self) -> Path:
        owner = self._service_account()
        if owner is None:
            return self.home
        # One cluster per state dir, so two clones (or a test run beside the demo) never share.
        key = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:16]
        service_home = Path(owner.pw_dir)
        parent = service_home if _owned_by(service_home, owner) else SHARED_CLUSTERS_DIR
        return parent / CLUSTERS_FOLDER / key

    def _prepare_directories(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cluster_dir = self.cluster_dir
        owner = self._service_account()
        for directory in (cluster_dir, self.data_dir, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True)
            if owner is not None:
                os.chown(directory, owner.pw_uid, owner.pw_gid)
            directory.chmod(0o700)
        self.cluster_record.write_text(f"{cluster_dir}\n")

    def _initdb(self) -> None:
        done = subprocess.run(
            [
                self.bin("initdb"), "-D", str(self.data_dir), "--encoding=UTF8", "--locale=C.UTF-8",
                "--auth-local=trust", "--auth-host=scram-sha-256", f"--username={self._cluster_owner()}",
            ],
            capture_output=True, text=True, **self._as_service_user(),
        )
        if done.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise ServiceError(f"postgres: initdb failed: {(done.stderr or done.stdout).strip()[-1500:]}")

    def _ensure_app_role_and_database(self) -> None:
        import psycopg

        if not self.credentials_file.is_file():
            # Written before the role exists: a crash in between leaves a password that the next
            # `up` applies, never a role nobody knows the password of.
            _write_private(self.credentials_file, json.dumps({
                "username": APP_ROLE, "password": secrets.token_urlsafe(24),
            }))
        credentials = self.app_credentials()
        with psycopg.connect(self.admin_dsn(), autocommit=True) as admin:
            # libpq hashes the password client-side (SCRAM-SHA-256, the server's setting): only the
            # verifier crosses the wire, so the password cannot end up in a server log.
            verifier = admin.pgconn.encrypt_password(
                credentials["password"].encode(), APP_ROLE.encode(), b"scram-sha-256"
            ).decode()
            role_exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
            verb = "ALTER" if role_exists else "CREATE"
            admin.execute(f"{verb} ROLE {APP_ROLE} LOGIN PASSWORD '{verifier}'")
        self.create_database(self.database)

    def _service_account(self) -> pwd.struct_passwd | None:
        """The user the server must run as: `postgres` when we are root, else ourselves (None)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise ServiceError(
                f"postgres: running as root needs the '{SERVICE_USER}' system user (Debian's "
                f"postgresql package creates it: make system-deps)"
            ) from None

    def _cluster_owner(self) -> str:
        account = self._service_account()
        return account.pw_name if account else pwd.getpwuid(os.geteuid()).pw_name

    def _as_service_user(self) -> dict:
        account = self._service_account()
        if account is None:
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [], "env": _service_env(account)}

    def _spawn_as_service_user(self, command: list[str]) -> int:
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=str(self.cluster_dir), **self._as_service_user(),
            )
        return process.pid


def publish_local_rds_secret(config: Config, service: PostgresService) -> str:
    """Put the local RDS's connection secret into Secrets Manager, shaped like an RDS-managed one."""
    from fashion_pipeline.aws import put_secret_json

    put_secret_json(config, config.names.rds_secret_id, {
        **service.app_credentials(), "engine": "postgres", "host": LOOPBACK, "port": service.port,
        "dbname": service.database,
    })
    return f"postgres: credentials published to Secrets Manager as {config.names.rds_secret_id}"


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _service_env(account: pwd.struct_passwd) -> dict[str, str]:
    return {
        "HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
    }


def _owned_by(directory: Path, account: pwd.struct_passwd) -> bool:
    try:
        return directory.is_dir() and directory.stat().st_uid == account.pw_uid
    except OSError:
        return False


def _is_scratch(state_dir: Path) -> bool:
    # Test clusters in a temp dir are thrown away: durability there only costs time.
    return str(state_dir.resolve()).startswith(("/tmp/", "/var/tmp/"))
