"""Has anything landed that partition_raw has not turned into curated tables yet?

partition_raw names its run report after a fingerprint of the files it read (the newest snapshot
of articles and of customers, every distinct transactions file), so the question is whether the
report of what it would read now exists. No Spark here: the Airflow worker asks it.
"""
from __future__ import annotations

import hashlib

from fashion_pipeline.config import Config
from fashion_pipeline.lake_paths import reports_uri
from fashion_pipeline.landing_manifest import read_manifest
from fashion_pipeline.storage import Storage

SNAPSHOT_TABLES = ("articles", "customers")
FACT_TABLE = "transactions"
REPORT_JOB = "partition_raw"


def partition_inputs(raw_root: str, storage: Storage) -> dict[str, list[str]]:
    """Per table, the landed files partition_raw reads: snapshots by their newest file, facts all."""
    inputs = {table: [entry.uri for entry in read_manifest(raw_root, table, storage)[-1:]] for table in SNAPSHOT_TABLES}
    inputs[FACT_TABLE] = [entry.uri for entry in read_manifest(raw_root, FACT_TABLE, storage)]
    return inputs


def inputs_fingerprint(uris) -> str:
    return hashlib.sha256("\n".join(sorted(uris)).encode()).hexdigest()[:16]


def partition_report_uri(config: Config, uris) -> str:
    return reports_uri(config, REPORT_JOB, f"{inputs_fingerprint(uris)}.json")


def raw_files_pending(config: Config, storage: Storage) -> bool:
    """True when every table has landed files and no partition_raw run has read exactly them."""
    inputs = partition_inputs(config.paths.raw_root, storage)
    if not all(inputs.values()):
        return False  # partition_raw needs all three; the DAG's later jobs say what is missing
    uris = [uri for table_uris in inputs.values() for uri in table_uris]
    return not storage.exists(partition_report_uri(config, uris))
