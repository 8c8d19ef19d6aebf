"""The Kinesis source's per-batch metadata, kept next to the query's checkpoint.

    <root>/plans/<batch>.json              each plan the driver hands to Spark, written before
                                           latestOffset returns it (how a restarted reader knows
                                           where the previous batch stood when Spark does not say)
    <root>/outcomes/<batch>/<shard>.json   where that batch's read of that shard ended, written
                                           once, by the first read that got to its end

An outcome is created exclusively (a hard link on local disk, If-None-Match on S3): when two
reads race, the first one wins and the other learns the winner's end. `root` is a local path
(file:// or plain) for local[*] and tests; on a cluster it must be shared by the executors: an
s3:// URI.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from fashion_pipeline.storage import LocalStorage, S3Storage
from fashion_pipeline.streaming.shard_plan import BatchPlan, ShardOutcome

_BATCH_DIGITS = 12


class BatchMetadataStore(Protocol):
    def save_plan(self, plan: BatchPlan) -> None: ...
    def latest_plan(self) -> BatchPlan | None: ...
    def outcome(self, batch: int, shard_id: str) -> ShardOutcome | None: ...
    def record_outcome(self, batch: int, shard_id: str, outcome: ShardOutcome) -> ShardOutcome: ...
    def discard_outcomes(self, batch: int) -> None: ...
    def purge_before(self, batch: int) -> None: ...


def batch_name(batch: int) -> str:
    return f"{batch:0{_BATCH_DIGITS}d}"


def _plan_json(plan: BatchPlan) -> str:
    return json.dumps(plan.to_offset(), sort_keys=True)


def _outcome_json(outcome: ShardOutcome) -> str:
    return json.dumps(outcome.to_json(), sort_keys=True)


class LocalBatchMetadata:
    """On a local (or mounted, shared) filesystem."""

    def __init__(self, root: str):
        self._root = Path(root.removeprefix("file://"))

    def _plans(self) -> Path:
        return self._root / "plans"

    def _outcome_path(self, batch: int, shard_id: str) -> Path:
        return self._root / "outcomes" / batch_name(batch) / f"{shard_id}.json"

    def save_plan(self, plan: BatchPlan) -> None:
        target = self._plans() / f"{batch_name(plan.batch)}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        partial.write_text(_plan_json(plan), encoding="utf-8")
        os.replace(partial, target)  # a reader never sees half a plan

    def latest_plan(self) -> BatchPlan | None:
        plans = self._plans()
        if not plans.is_dir():
            return None
        names = sorted(p.name for p in plans.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        if not names:
            return None
        return BatchPlan.from_offset(json.loads((plans / names[-1]).read_text(encoding="utf-8")))

    def outcome(self, batch: int, shard_id: str) -> ShardOutcome | None:
        path = self._outcome_path(batch, shard_id)
        try:
            return ShardOutcome.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def record_outcome(self, batch: int, shard_id: str, outcome: ShardOutcome) -> ShardOutcome:
        # Written whole and only if absent: the first read of a batch's shard wins.
        if LocalStorage().create_exclusive(str(self._outcome_path(batch, shard_id)), _outcome_json(outcome)):
            return outcome
        return self.outcome(batch, shard_id)

    def discard_outcomes(self, batch: int) -> None:
        shutil.rmtree(self._root / "outcomes" / batch_name(batch), ignore_errors=True)

    def purge_before(self, batch: int) -> None:
        for kind in ("plans", "outcomes"):
            folder = self._root / kind
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                stem = entry.name.removesuffix(".json")
                if stem.isdigit() and int(stem) < batch:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)


class S3BatchMetadata:
    """On S3, for executors on other machines; outcomes use conditional writes (If-None-Match)."""

    def __init__(self, root: str, client):
        parsed = urlparse(root)
        self._bucket = parsed.netloc
        self._prefix = parsed.path.strip("/")
        self._s3 = client

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self._prefix, *parts) if p)

    def save_plan(self, plan: BatchPlan) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=self._key("plans", f"{batch_name(plan.batch)}.json"),
                            Body=_plan_json(plan).encode("utf-8"))

    def latest_plan(self) -> BatchPlan | None:
        keys = sorted(self._list(self._key("plans") + "/"))
        if not keys:
            return None
        body = self._s3.get_object(Bucket=self._bucket, Key=keys[-1])["Body"].read()
        return BatchPlan.from_offset(json.loads(body))

    def outcome(self, batch: int, shard_id: str) -> ShardOutcome | None:
        from botocore.exceptions import ClientError

        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=self._outcome_key(batch, shard_id))["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return ShardOutcome.from_json(json.loads(body))

    def record_outcome(self, batch: int, shard_id: str, outcome: ShardOutcome) -> ShardOutcome:
        uri = f"s3://{self._bucket}/{self._outcome_key(batch, shard_id)}"
        if S3Storage(self._s3).create_exclusive(uri, _outcome_json(outcome)):
            return outcome
        return self.outcome(batch, shard_id)

    def discard_outcomes(self, batch: int) -> None:
        self._delete(list(self._list(self._key("outcomes", batch_name(batch)) + "/")))

    def purge_before(self, batch: int) -> None:
        doomed = []
        for kind in ("plans", "outcomes"):
            prefix = self._key(kind) + "/"
            for key in self._list(prefix):
                stem = key[len(prefix):].split("/", 1)[0].removesuffix(".json")
                if stem.isdigit() and int(stem) < batch:
                    doomed.append(key)
        self._delete(doomed)

    def _outcome_key(self, batch: int, shard_id: str) -> str:
        return self._key("outcomes", batch_name(batch), f"{shard_id}.json")

    def _list(self, prefix: str):
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})


def is_s3_uri(uri: str) -> bool:
    return urlparse(uri).scheme in ("s3", "s3a")
