"""Small file operations on the lake and the raw zone, for a local path or an s3:// URI.

Spark reads and writes tables itself; this is for the driver-side edges: landing files, manifests,
run reports, leases. Everything takes URIs so the same calls work locally and on EMR.

Three calls make a compare-and-swap on one small object (see lake_lock.py): `create_exclusive`
(write only if absent), `read_versioned` (the text and a version token) and `delete_if_unchanged`
(delete only the version that was read). On S3 they are conditional requests (If-None-Match: *,
the ETag with If-Match); on local disk a hard link (atomic, and fails if the name exists) and an
flock that serialises the compare and the unlink.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol
from urllib.parse import urlparse

HASH_CHUNK_BYTES = 8 * 1024 * 1024

if TYPE_CHECKING:  # annotations only: Spark's Python workers use LocalStorage/S3Storage without pydantic
    from fashion_pipeline.config import Config


class Storage(Protocol):
    def exists(self, uri: str) -> bool: ...
    def read_text(self, uri: str) -> str: ...
    def write_text(self, uri: str, text: str) -> None: ...
    def put_file(self, local_path: Path, uri: str) -> None: ...
    def list_files(self, prefix_uri: str, suffix: str = "") -> Iterator[str]: ...
    def create_exclusive(self, uri: str, text: str) -> str | None: ...
    def read_versioned(self, uri: str) -> tuple[str, str] | None: ...
    def delete_if_unchanged(self, uri: str, version: str) -> bool: ...


class LocalStorage:
    def exists(self, uri: str) -> bool:
        return _local(uri).exists()

    def read_text(self, uri: str) -> str:
        return _local(uri).read_text(encoding="utf-8")

    def write_text(self, uri: str, text: str) -> None:
        target = _local(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)  # readers never see half a file

    def put_file(self, local_path: Path, uri: str) -> None:
        target = _local(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(local_path, partial)
        partial.replace(target)

    def list_files(self, prefix_uri: str, suffix: str = "") -> Iterator[str]:
        root = _local(prefix_uri)
        if not root.is_dir():
            return iter(())
        return (
            str(p) for p in sorted(root.rglob(f"*{suffix}"))
            if p.is_file() and not p.name.startswith(".")
        )

    def create_exclusive(self, uri: str, text: str) -> str | None:
        """Write `text` at `uri` unless something is there; its version, or None if it was there."""
        target = _local(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        partial.write_text(text, encoding="utf-8")
        try:
            # Unlike O_CREAT|O_EXCL followed by a write, link publishes the whole text at once: a
            # crash can never leave an empty lease that nobody can read the expiry of.
            os.link(partial, target)
        except FileExistsError:
            return None
        finally:
            partial.unlink()
        return _digest(text.encode("utf-8"))

    def read_versioned(self, uri: str) -> tuple[str, str] | None:
        try:
            data = _local(uri).read_bytes()
        except FileNotFoundError:
            return None
        return data.decode("utf-8"), _digest(data)

    def delete_if_unchanged(self, uri: str, version: str) -> bool:
        target = _local(uri)
        if not target.parent.is_dir():
            return False
        # Deleters hold the flock across compare and unlink; creators need not: while the file
        # exists no create can succeed, so only another deleter could change it under us.
        with open(target.with_name(f".{target.name}.flock"), "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                if _digest(target.read_bytes()) != version:
                    return False
                target.unlink()
            except FileNotFoundError:
                return False
            return True


class S3Storage:
    def __init__(self, client):
        self._s3 = client

    def exists(self, uri: str) -> bool:
        bucket, key = _split_s3(uri)
        response = self._s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(obj["Key"] == key for obj in response.get("Contents", []))

    def read_text(self, uri: str) -> str:
        bucket, key = _split_s3(uri)
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")

    def write_text(self, uri: str, text: str) -> None:
        bucket, key = _split_s3(uri)
        self._s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))

    def put_file(self, local_path: Path, uri: str) -> None:
        bucket, key = _split_s3(uri)
        self._s3.upload_file(str(local_path), bucket, key)  # multipart for big files

    def list_files(self, prefix_uri: str, suffix: str = "") -> Iterator[str]:
        bucket, prefix = _split_s3(prefix_uri.rstrip("/") + "/")
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(suffix):
                    yield f"s3://{bucket}/{obj['Key']}"

    def create_exclusive(self, uri: str, text: str) -> str | None:
        bucket, key = _split_s3(uri)
        try:
            response = self._s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), IfNoneMatch="*")
        except self._s3.exceptions.ClientError as error:
            # 409 ConditionalRequestConflict: another conditional write to the key is in flight.
            if _error_code(error) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                return None
            raise
        return response["ETag"]

    def read_versioned(self, uri: str) -> tuple[str, str] | None:
        bucket, key = _split_s3(uri)
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return None
        return response["Body"].read().decode("utf-8"), response["ETag"]

    def delete_if_unchanged(self, uri: str, version: str) -> bool:
        bucket, key = _split_s3(uri)
        try:
            self._s3.delete_object(Bucket=bucket, Key=key, IfMatch=version)
        except self._s3.exceptions.ClientError as error:
            if _error_code(error) in {"PreconditionFailed", "NoSuchKey", "404", "ConditionalRequestConflict"}:
                return False
            raise
        return True


class RoutingStorage:
    """Sends each call to local disk or S3 by the URI's scheme, so raw and lake may differ."""

    def __init__(self, config: Config):
        self._config = config
        self._local = LocalStorage()
        self._s3: S3Storage | None = None

    def _for(self, uri: str) -> Storage:
        scheme = urlparse(uri).scheme
        if scheme in ("", "file"):
            return self._local
        if scheme in ("s3", "s3a"):
            if self._s3 is None:
                from fashion_pipeline.aws import aws_client

                self._s3 = S3Storage(aws_client("s3", self._config))
            return self._s3
        raise ValueError(f"unsupported storage scheme {scheme!r} in {uri}")

    def exists(self, uri: str) -> bool:
        return self._for(uri).exists(uri)

    def read_text(self, uri: str) -> str:
        return self._for(uri).read_text(uri)

    def write_text(self, uri: str, text: str) -> None:
        self._for(uri).write_text(uri, text)

    def put_file(self, local_path: Path, uri: str) -> None:
        self._for(uri).put_file(local_path, uri)

    def list_files(self, prefix_uri: str, suffix: str = "") -> Iterator[str]:
        return self._for(prefix_uri).list_files(prefix_uri, suffix)

    def create_exclusive(self, uri: str, text: str) -> str | None:
        return self._for(uri).create_exclusive(uri, text)

    def read_versioned(self, uri: str) -> tuple[str, str] | None:
        return self._for(uri).read_versioned(uri)

    def delete_if_unchanged(self, uri: str, version: str) -> bool:
        return self._for(uri).delete_if_unchanged(uri, version)


def storage_for(config: Config) -> Storage:
    return RoutingStorage(config)


def _local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def file_sha256(path: Path) -> tuple[str, int]:
    """The SHA-256 of a local file and its size, read in chunks (landed files can be gigabytes)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _error_code(error) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")
