"""The streaming jobs' per-batch reports as records: where they live in the lake, how they read
back, how they print, and the CloudWatch metrics made of them. No Spark here: `fashion clicks
status` and the Airflow side (the clickstream_5min health check) read them too. The listener that
writes them is progress.py.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from fashion_pipeline.config import Config
from fashion_pipeline.lake_paths import reports_uri
from fashion_pipeline.storage import Storage

METRIC_NAMESPACE = "FashionPipeline/Streaming"
DUPLICATES_METRIC = "numDroppedDuplicateRows"  # dropDuplicatesWithinWatermark's custom metric


@dataclass
class BatchProgress:
    batch_id: int
    timestamp: str
    input_rows: int
    input_rows_per_s: float
    processed_rows_per_s: float
    duration_ms: int
    watermark: str | None
    duplicates_dropped: int
    late_rows_dropped: int
    curated: int = 0
    quarantined: int = 0
    shard_lag_ms: dict[str, int] = field(default_factory=dict)

    @property
    def max_shard_lag_ms(self) -> int | None:
        return max(self.shard_lag_ms.values()) if self.shard_lag_ms else None

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def progress_uri(config: Config, job: str, batch_id: int) -> str:
    return reports_uri(config, job, "progress", f"batch={batch_id:012d}.json")


def read_recent_progress(config: Config, storage: Storage, job: str, last: int) -> list[BatchProgress]:
    """The last `last` batches' reports, oldest first."""
    uris = sorted(storage.list_files(reports_uri(config, job, "progress"), suffix=".json"))[-last:]
    return [BatchProgress(**json.loads(storage.read_text(uri))) for uri in uris]


def format_progress(rows: list[BatchProgress]) -> str:
    if not rows:
        return "no micro-batches reported yet"
    lines = [f"{'batch':>6} {'time (UTC)':<24} {'rows in':>9} {'in/s':>9} {'done/s':>9} {'ms':>7} "
             f"{'curated':>9} {'quarant.':>9} {'dupes':>7} {'max lag ms':>10}"]
    for r in rows:
        lag = "-" if r.max_shard_lag_ms is None else f"{r.max_shard_lag_ms:,}"
        lines.append(f"{r.batch_id:>6} {r.timestamp[:23]:<24} {r.input_rows:>9,} {r.input_rows_per_s:>9,.1f} "
                     f"{r.processed_rows_per_s:>9,.1f} {r.duration_ms:>7,} {r.curated:>9,} {r.quarantined:>9,} "
                     f"{r.duplicates_dropped:>7,} {lag:>10}")
    return "\n".join(lines)


def cloudwatch_metrics(job: str, progress: BatchProgress) -> list[dict]:
    dimensions = [{"Name": "Job", "Value": job}]
    metrics = [
        ("InputRowsPerSecond", progress.input_rows_per_s, "Count/Second"),
        ("ProcessedRowsPerSecond", progress.processed_rows_per_s, "Count/Second"),
        ("BatchDuration", progress.duration_ms, "Milliseconds"),
        ("InputRows", progress.input_rows, "Count"),
        ("DuplicatesDropped", progress.duplicates_dropped, "Count"),
        ("RecordsQuarantined", progress.quarantined, "Count"),
    ]
    data = [{"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit} for name, value, unit in metrics]
    for shard, lag in sorted(progress.shard_lag_ms.items()):
        data.append({"MetricName": "MillisBehindLatest", "Dimensions": [*dimensions, {"Name": "ShardId", "Value": shard}],
                     "Value": float(lag), "Unit": "Milliseconds"})
    return data
