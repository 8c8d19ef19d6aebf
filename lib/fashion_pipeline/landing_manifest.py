"""The landing manifest: one JSON entry per distinct landed file, written after the file (the
commit marker). Read by partition_raw and by the Airflow side (no Spark there), which asks whether
anything landed that no run has partitioned yet."""
from __future__ import annotations

import json
from dataclasses import dataclass

from fashion_pipeline.config import join_uri
from fashion_pipeline.storage import Storage


@dataclass(frozen=True)
class ManifestEntry:
    table: str
    source_name: str
    sha256: str
    bytes: int
    ingest_date: str
    landed_at: str
    uri: str


def hm_root(raw_root: str) -> str:
    return join_uri(raw_root, "hm")


def manifest_prefix(raw_root: str, table: str) -> str:
    return join_uri(hm_root(raw_root), "_manifest", table)


def read_manifest(raw_root: str, table: str, storage: Storage) -> list[ManifestEntry]:
    entries = [
        ManifestEntry(**json.loads(storage.read_text(uri)))
        for uri in storage.list_files(manifest_prefix(raw_root, table), suffix=".json")
    ]
    return sorted(entries, key=lambda e: (e.ingest_date, e.landed_at, e.sha256))
