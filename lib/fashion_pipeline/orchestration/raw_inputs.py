"""Has anything landed that partition_raw has not partitioned yet?

partition_raw names its run report after a fingerprint of the files it read (the newest articles
and customers snapshots, every transactions file: see pipelines/partition_raw.py). So the files it
would read now are new exactly when no report carries their fingerprint. The nightly DAG and
`fashion emr run` ask this before submitting partition_raw, from a machine without Spark
(landing_manifest and lake_paths import none); tests/unit/test_raw_inputs.py checks it picks what
partition_raw picks.
"""
from __future__ import annotations

import hashlib

from fashion_pipeline.config import Config
from fashion_pipeline.lake_paths import reports_uri
from fashion_pipeline.landing_manifest import read_manifest
from fashion_pipeline.storage import Storage

# The newest landed file of a snapshot table is the whole table; every file of a fact table counts.
SNAPSHOT_TABLES = ("articles", "customers")
FACT_TABLES = ("transactions",)
FINGERPRINT_CHARS = 16


def inputs_fingerprint(uris) -> str:
    """partition_raw's report name for a run that read `uris` (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(uris)).encode()).hexdigest()[:FINGERPRINT_CHARS]


def partition_raw_report_uri(config: Config, fingerprint: str) -> str:
    return reports_uri(config, "partition_raw", f"{fingerprint}.json")


def landed_uris(raw_root: str, table: str, storage: Storage) -> list[str]:
    """The landed files of `table` in landing's manifest order (ingest date, landing time, hash)."""
    return [entry.uri for entry in read_manifest(raw_root, table, storage)]


def partition_raw_inputs(raw_root: str, storage: Storage) -> list[str]:
    """The files partition_raw would read now (a table with nothing landed contributes nothing)."""
    uris = []
    for table in SNAPSHOT_TABLES:
        uris += landed_uris(raw_root, table, storage)[-1:]
    for table in FACT_TABLES:
        uris += landed_uris(raw_root, table, storage)
    return uris


def raw_files_pending(config: Config, storage: Storage) -> bool:
    """True when files have landed and no partition_raw run has read exactly these. A partial
    landing (say, transactions without articles) counts as pending: partition_raw then fails with
    the message saying what to land, instead of the night silently running on yesterday's lake."""
    inputs = partition_raw_inputs(config.paths.raw_root, storage)
    if not inputs:
        return False
    return not storage.exists(partition_raw_report_uri(config, inputs_fingerprint(inputs)))
