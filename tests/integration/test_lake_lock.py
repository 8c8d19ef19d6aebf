"""The lake lease (lake_lock.py) on local disk and on S3 (moto): one holder, a one-line refusal,
takeover of an expired or broken lease, release on failure, and no release of another's lease."""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.errors import describe_failure
from fashion_pipeline.lake_lock import LakeLease, Lease, LeaseHeldError, lease_uri
from fashion_pipeline.storage import LocalStorage, storage_for

START = datetime(2020, 9, 24, 0, 1, tzinfo=timezone.utc)
EXPIRY_S = 7200
BUCKET = "fashion-lake-locks"


class Clock:
    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path):
    """(storage, lease uri): a local lake, or a lake on moto's S3 reached through RoutingStorage."""
    if request.param == "local":
        return LocalStorage(), str(tmp_path / "lake" / "_locks" / "extract_rds.json")
    config = request.getfixturevalue("aws_config").with_overrides({"paths.lake_root": f"s3://{BUCKET}/lake"})
    aws_client("s3", config).create_bucket(Bucket=BUCKET)
    return storage_for(config), lease_uri(config, "extract_rds")


def _lease(where, run: str, clock: Clock, **kwargs) -> LakeLease:
    storage, uri = where
    return LakeLease(storage, uri, "extract_rds", run, EXPIRY_S, clock=clock, **kwargs)


def _held(where) -> Lease | None:
    storage, uri = where
    found = storage.read_versioned(uri)
    return Lease.from_json(found[0]) if found else None


def test_a_second_run_is_refused_in_one_line_until_the_first_releases(where):
    clock = Clock()
    first = _lease(where, "run_date=2020-09-23", clock, run_id="a" * 32)
    with first:
        assert _held(where) == first.lease
        assert first.lease.expires_at == "2020-09-24T02:01:00+00:00"
        clock.advance(EXPIRY_S - 1)
        with pytest.raises(LeaseHeldError) as refused:
            _lease(where, "run_date=2020-09-24", clock).acquire()
        message = describe_failure(refused.value)
        assert message == str(refused.value) and "\n" not in message
        assert message.startswith(
            "extract_rds run_date=2020-09-24: extract_rds run_date=2020-09-23 (run aaaaaaaa on ")
        assert "since 2020-09-24T00:01:00+00:00 (until 2020-09-24T02:01:00+00:00)" in message
        assert message.endswith("wait for it to finish, or if that run is dead re-run with --break-lock")
        assert _held(where) == first.lease  # the refused run left it alone
    assert _held(where) is None

    with _lease(where, "run_date=2020-09-24", clock) as second:
        assert _held(where) == second.lease


def test_an_expired_lease_is_taken_over_and_its_dead_owner_does_not_release_the_new_one(where):
    clock = Clock()
    dead = _lease(where, "run_date=2020-09-23", clock)
    dead.acquire()  # and never released: a killed driver
    clock.advance(EXPIRY_S)
    with _lease(where, "run_date=2020-09-24", clock) as successor:
        assert successor.took_over == dead.lease
        assert _held(where) == successor.lease
        assert successor.lease.acquired_at == "2020-09-24T02:01:00+00:00"
        assert dead.release() is False  # the late owner leaves the successor's lease alone
        assert _held(where) == successor.lease
    assert _held(where) is None


def test_break_lock_takes_over_a_live_lease(where):
    clock = Clock()
    _lease(where, "run_date=2020-09-23", clock).acquire()
    with _lease(where, "run_date=2020-09-24", clock, break_lock=True) as breaker:
        assert breaker.took_over.run == "run_date=2020-09-23"
        assert _held(where) == breaker.lease


def test_the_lease_is_released_when_the_run_fails(where):
    clock = Clock()
    with pytest.raises(ZeroDivisionError):
        with _lease(where, "run_date=2020-09-23", clock):
            1 / 0
    assert _held(where) is None


def test_an_unreadable_lease_needs_break_lock(where):
    storage, uri = where
    assert storage.create_exclusive(uri, "{not json") is not None
    with pytest.raises(LeaseHeldError, match="is unreadable.*re-run with --break-lock"):
        _lease(where, "run_date=2020-09-23", Clock()).acquire()
    with _lease(where, "run_date=2020-09-23", Clock(), break_lock=True) as breaker:
        assert breaker.took_over is None and _held(where) == breaker.lease


def test_create_exclusive_and_delete_if_unchanged_are_conditional(where):
    storage, uri = where
    version = storage.create_exclusive(uri, "one")
    assert version is not None
    assert storage.create_exclusive(uri, "two") is None  # S3: moto honours If-None-Match: *
    assert storage.read_versioned(uri) == ("one", version)
    assert storage.delete_if_unchanged(uri, "not-" + version) is False  # S3: and If-Match on delete
    assert storage.read_versioned(uri) == ("one", version)
    assert storage.delete_if_unchanged(uri, version) is True
    assert storage.read_versioned(uri) is None
    assert storage.delete_if_unchanged(uri, version) is False
    assert storage.create_exclusive(uri, "three") is not None
    if isinstance(storage, LocalStorage):  # no partial file left behind, created or refused
        assert not [p for p in Path(uri).parent.iterdir() if p.name.endswith(".partial")]
