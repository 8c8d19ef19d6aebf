"""PostgreSQL 15 from Debian's packages as the local stand-in for the store's RDS database.

The cluster lives in `<state_dir>/postgres/data`, listens on 127.0.0.1 only (plus a Unix socket in
a directory only its owner can enter), and serves one application role and database. The role's
password is generated on first start and kept in a 0600 file beside the cluster, the way RDS keeps
a managed master password in Secrets Manager; `fashion services up` publishes it there (moto).

PostgreSQL refuses to run as root, so when we are root initdb and the server run as the `postgres`
system user the Debian package created.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

from fashion_pipeline.config import Config
from fashion_pipeline.services import LOOPBACK, ManagedService, ServiceError

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
SERVICE_USER = "postgres"  # created by Debian's postgresql package
APP_ROLE = "fashion_app"
SCRAM_ITERATIONS = 4096
PG_CTL_TIMEOUT_S = 30


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
        return self.state_dir / "postgres"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "socket"

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

    # ---- connections for tools (psycopg) -----------------------------------------------------
    def admin_dsn(self, database: str = "postgres") -> str:
        """The cluster owner over the private Unix socket (trust auth: only its owner can enter)."""
        return f"host={self.socket_dir} port={self.port} user={self._cluster_owner()} dbname={database}"

    def app_credentials(self) -> dict:
        """username/password of the application role, as the RDS-managed secret carries them."""
        try:
            return json.loads(self.credentials_file.read_text())
        except FileNotFoundError:
            raise ServiceError(f"postgres: no credentials yet; run `fashion services up` first") from None

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
    def _prepare_directories(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        owner = self._service_account()
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True)
            if owner is not None:
                os.chown(directory, owner.pw_uid, owner.pw_gid)
            directory.chmod(0o700)
        if owner is not None:
            unreachable = _first_unreachable_ancestor(self.data_dir, owner)
            if unreachable is not None:
                raise ServiceError(
                    f"postgres: the server runs as the '{SERVICE_USER}' user, who cannot enter "
                    f"{unreachable}; use a state dir it can reach (chmod o+x on the parents)"
                )

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
        # Only the SCRAM verifier crosses the wire, so the password cannot end up in a server log.
        verifier = scram_sha256_verifier(credentials["password"])
        with psycopg.connect(self.admin_dsn(), autocommit=True) as admin:
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
                f"postgresql package creates it)"
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
                start_new_session=True, cwd=str(self.home), **self._as_service_user(),
            )
        return process.pid


def publish_local_rds_secret(config: Config, service: PostgresService) -> str:
    """Put the local RDS's connection secret into Secrets Manager, shaped like an RDS-managed one."""
    from fashion_pipeline.aws import aws_client

    credentials = service.app_credentials()
    secret = json.dumps({
        **credentials, "engine": "postgres", "host": LOOPBACK, "port": service.port,
        "dbname": service.database,
    })
    client = aws_client("secretsmanager", config)
    secret_id = config.names.rds_secret_id
    try:
        client.put_secret_value(SecretId=secret_id, SecretString=secret)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=secret_id, SecretString=secret)
    return f"postgres: credentials published to Secrets Manager as {secret_id}"


def scram_sha256_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5803), computed client-side."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _service_env(account: pwd.struct_passwd) -> dict[str, str]:
    return {
        "HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
    }


def _first_unreachable_ancestor(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The first directory above `path` that `account` may not search (enter), if any."""
    groups = {account.pw_gid, *os.getgrouplist(account.pw_name, account.pw_gid)}
    for directory in reversed(path.parents):
        info = directory.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


def _is_scratch(state_dir: Path) -> bool:
    # Test clusters in /tmp are thrown away: durability there only costs time.
    return str(state_dir.resolve()).startswith("/tmp/")
