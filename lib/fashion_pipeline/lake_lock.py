"""A lease in the lake that lets one run of a job at a time rewrite what it owns.

The orchestrator already runs one nightly run at a time; this guards the lake itself against
a second run started by hand, a retried EMR step or a backfill while another is merging. The
lease is one small JSON object, `_locks/<job>.json` under the lake root, created only if absent
(`Storage.create_exclusive`: a conditional PUT on S3, an exclusive create on local disk).

- A run that finds the lease held fails at once, before reading anything, with one line naming
  the holder, since when, and what to do.
- A lease past its `expires_at` belongs to a run that died without releasing it (a killed driver
  never reaches `finally`); the next run takes it over by itself, so the nightly heals without a
  person. `break_lock` (`--break-lock`) takes over a live lease when an operator knows its holder
  is dead and does not want to wait for the expiry.
- Taking over deletes exactly the version that was read (`delete_if_unchanged`), then creates
  anew: of two runs taking over the same dead lease, one creates and the other finds it held.
- Release deletes only this run's own version: if this run outlived its lease and another took
  over, that run's lease stays.

There is no heartbeat: the expiry (`rds.extract_lease_s`) must stay well above a run's length.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.storage import Storage

log = logging.getLogger(__name__)

LOCKS_DIR = "_locks"
_ATTEMPTS = 3  # create, take over a dead lease, create again; more means a fight: give up


class LeaseHeldError(PipelineError):
    """Another run holds the job's lease in the lake."""


def lease_uri(config: Config, job: str) -> str:
    return config.paths.lake(LOCKS_DIR, f"{job}.json")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Lease:
    job: str
    run: str  # what the run is for, e.g. run_date=2020-09-23
    run_id: str
    host: str
    pid: int
    acquired_at: str
    expires_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Lease":
        return cls(**json.loads(text))

    def expired(self, now: datetime) -> bool:
        return now >= datetime.fromisoformat(self.expires_at)

    def holder(self) -> str:
        return f"{self.job} {self.run} (run {self.run_id[:8]} on {self.host}, pid {self.pid})"


class LakeLease:
    """`with LakeLease(...):` holds the job's lease for the block. `clock` and `run_id` are
    injectable so tests can step past the expiry exactly."""

    def __init__(
        self, storage: Storage, uri: str, job: str, run: str, expiry_s: float, *,
        break_lock: bool = False, clock: Callable[[], datetime] = utc_now, run_id: str | None = None,
    ):
        self._storage, self.uri, self._job, self._run = storage, uri, job, run
        self._expiry = timedelta(seconds=expiry_s)
        self._break_lock, self._clock = break_lock, clock
        self._run_id = run_id or uuid.uuid4().hex
        self._version: str | None = None
        self.lease: Lease | None = None
        self.took_over: Lease | None = None  # the dead (or broken) lease this run replaced

    def acquire(self) -> Lease:
        for _ in range(_ATTEMPTS):
            now = self._clock()
            mine = Lease(self._job, self._run, self._run_id, socket.gethostname(), os.getpid(),
                         now.isoformat(timespec="seconds"), (now + self._expiry).isoformat(timespec="seconds"))
            version = self._storage.create_exclusive(self.uri, mine.to_json())
            if version is not None:
                self._version, self.lease = version, mine
                return mine
            found = self._storage.read_versioned(self.uri)
            if found is None:
                continue  # released between our create and our read: try again
            text, their_version = found
            held = _parse(text)
            if held is None:
                if not self._break_lock:
                    raise LeaseHeldError(
                        f"{self._job} {self._run}: the lease {self.uri} is unreadable, so whether its run is alive is "
                        f"unknown; if no {self._job} is running, re-run with --break-lock"
                    )
            elif not (self._break_lock or held.expired(now)):
                raise LeaseHeldError(
                    f"{self._job} {self._run}: {held.holder()} has held the lease {self.uri} since "
                    f"{held.acquired_at} (until {held.expires_at}); wait for it to finish, or if that run is "
                    f"dead re-run with --break-lock"
                )
            why = "broken by --break-lock" if self._break_lock else "expired"
            log.warning("taking over the lease %s (%s): %s", self.uri, why, held.holder() if held else "unreadable")
            if self._storage.delete_if_unchanged(self.uri, their_version):
                self.took_over = held
        raise LeaseHeldError(
            f"{self._job} {self._run}: another run took the lease {self.uri} each time this one tried; "
            f"make sure only one {self._job} runs, then re-run"
        )

    def release(self) -> bool:
        """Delete this run's lease; False if it was no longer ours (expired and taken over)."""
        if self._version is None:
            return False
        version, self._version = self._version, None
        if self._storage.delete_if_unchanged(self.uri, version):
            return True
        log.warning("the lease %s was no longer this run's (%s): it expired and was taken over, or broken",
                    self.uri, self.lease.holder() if self.lease else self._run_id)
        return False

    def __enter__(self) -> "LakeLease":
        self.acquire()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.release()
        except Exception:
            if exc is None:
                raise
            # The run's own failure is the one to report; the lease expires by itself.
            log.warning("could not release the lease %s; it expires at %s", self.uri,
                        self.lease.expires_at if self.lease else "?", exc_info=True)


def _parse(text: str) -> Lease | None:
    try:
        return Lease.from_json(text)
    except (ValueError, TypeError):
        return None
