"""The local RDS: PostgreSQL started by the project, private to 127.0.0.1 and one password."""
import os
import pwd
import stat

import psycopg
import pytest

from fashion_pipeline.store.database import apply_migrations, migrations


def _connect(service, password, database="fashion_tests"):
    return psycopg.connect(host="127.0.0.1", port=service.port, dbname=database, connect_timeout=5,
                           user=service.app_credentials()["username"], password=password)


def test_running_private_and_idempotent(postgres_service):
    assert "already running" in postgres_service.up()
    assert postgres_service.status().running
    credentials_mode = stat.S_IMODE(postgres_service.credentials_file.stat().st_mode)
    assert credentials_mode == 0o600
    with _connect(postgres_service, postgres_service.app_credentials()["password"]) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SELECT current_user").fetchone()[0] == "fashion_app"
        assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(postgres_service, "guess")
    log = postgres_service.log_file.read_text()
    assert postgres_service.app_credentials()["password"] not in log


def test_only_a_scram_verifier_is_stored(postgres_service):
    with psycopg.connect(postgres_service.admin_dsn()) as admin:
        stored = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'fashion_app'").fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert postgres_service.app_credentials()["password"] not in stored


def test_cluster_lives_where_the_server_user_can_reach(postgres_service, tmp_path_factory):
    # The state dir is pytest's, private to whoever runs the tests (mode 700 when root).
    assert postgres_service.cluster_record.read_text().strip() == str(postgres_service.cluster_dir)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        assert postgres_service.state_dir not in postgres_service.cluster_dir.parents
        for directory in (postgres_service.data_dir, postgres_service.socket_dir):
            info = directory.stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (owner.pw_uid, 0o700)
    else:
        assert postgres_service.cluster_dir == postgres_service.home


def test_migrations_apply_once_in_order(store_config):
    from fashion_pipeline.store.credentials import resolve_rds_connection

    versions = [m.version for m in migrations()]
    assert versions == sorted(versions) and versions[0] == 1
    # store_config already migrated this database: a second run has nothing to do
    assert apply_migrations(resolve_rds_connection(store_config)) == ["schema is up to date"]
