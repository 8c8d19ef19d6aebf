"""compact_clickstream: the closed hours' many small clickstream files rewritten as a few large
ones, without a query ever reading an event twice or missing one.

    spark-submit jobs/compact_clickstream.py --env emr [--hour 2026-11-30T17]
    fashion clicks compact [--hour YYYY-MM-DDTHH]

The streaming job leaves one file per micro-batch in every hour folder it touches (288 a day at
5-minute triggers, more with late events). Readers that list folders cannot be given an atomic
swap of N files for one, so the commit point is a per-hour manifest (hour_manifest.py), and every
reader of the table resolves an hour through it: Spark (`tables.read_clickstream`, used by
`read_lake_table`, data_quality's views and stream_recommendations), DuckDB (catalog/local_query)
and Athena (a Hive symlink manifest per hour, kept current by the streaming publisher and here).

Why a manifest beside the files rather than moving the table to Iceberg/Delta: the streaming
publisher, the Glue definitions, DuckDB's views and the tests all stay with plain Parquet folders;
the one table that is rewritten in place gets a small commit protocol of its own.

Compaction of an hour, each step safe to stop after (`run_compact_clickstream` runs them in turn):
1. `plan_hour`: list the folder once; the inputs are exactly the files visible then (the batch
   files not yet replaced, plus the current compacted generation, if any).
2. `write_generation`: read those files, write them as generation N+1 under `_compacted/g<N+1>/`
   (hidden from listing readers by the leading `_`), count rows of both sides with Spark and, if
   they differ, delete the generation and raise: nothing is committed.
3. `commit_generation`: one PUT of `_manifest.json` naming the new files and every batch file
   they replace; then the hour's symlink manifest for Athena.
4. `delete_replaced`, in a later run once `compaction.grace_period_s` has passed since the commit:
   the replaced batch files and older generations. If Athena's symlink still names any of them (a
   crash between 3's two PUTs, or a racing streaming batch), it is rewritten and the grace period
   starts again instead.

A crash before 3 leaves the old files visible and a hidden, unreferenced generation that the next
attempt overwrites; after 3 the new one is visible and the old files are only unreferenced. A batch
published after step 1 is not in the manifest, so it stays visible and the next run folds it in.
An hour is compacted once it is closed: its end plus `compaction.close_after_s` (by default the
watermark plus clickstream.late_minutes) lies in the past. Runs must not overlap (the DAG runs
with max_active_runs=1); a run that finds the manifest changed under it commits nothing.
"""
from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError, ReconciliationError
from fashion_pipeline.hour_manifest import (
    COMPACTED_DIR,
    HourListing,
    HourManifest,
    list_hours,
    read_hour,
    symlink_is_current,
    sync_symlink,
    write_manifest,
)
from fashion_pipeline.lakefs import delete_path, total_size
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import CLICKSTREAM_TABLE

JOB = "compact_clickstream"
HOUR_FORMAT = "%Y-%m-%dT%H"
log = logging.getLogger(__name__)


class HourNotClosedError(PipelineError):
    """An hour was named for compaction before its late events stopped being expected."""


class ManifestChangedError(PipelineError):
    """Another compaction committed the hour while this one was writing."""


def iso_hour(text: str) -> datetime:
    try:
        return datetime.strptime(text, HOUR_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an hour as YYYY-MM-DDTHH (UTC), got {text!r}") from None


def add_arguments(parser) -> None:
    parser.add_argument("--hour", type=iso_hour, metavar="YYYY-MM-DDTHH",
                        help="compact this UTC hour (default: every closed hour of the lookback not yet compacted)")


def close_after(config: Config) -> timedelta:
    explicit = config.compaction.close_after_s
    if explicit is not None:
        return timedelta(seconds=explicit)
    return timedelta(seconds=config.streaming.watermark_delay_s + config.clickstream.late_minutes * 60)


def is_closed(config: Config, hour_start: datetime, now: datetime) -> bool:
    return hour_start + timedelta(hours=1) + close_after(config) <= now


def _hour_start(event_date: date, event_hour: int) -> datetime:
    return datetime(event_date.year, event_date.month, event_date.day, event_hour, tzinfo=timezone.utc)


def _table_uri(config: Config) -> str:
    return CLICKSTREAM_TABLE.uri(config)


# --------------------------------------------------------------------------------- the steps
@dataclass(frozen=True)
class HourPlan:
    listing: HourListing
    inputs: tuple[str, ...]  # relative to the hour folder: what was visible when planned
    replaces: tuple[str, ...]  # every batch file the new generation holds
    generation: int

    @property
    def hour(self) -> str:
        return _hour_start(self.listing.event_date, self.listing.event_hour).strftime(HOUR_FORMAT)

    def input_uris(self) -> list[str]:
        return [f"{self.listing.uri}/{name}" for name in self.inputs]

    def generation_uri(self) -> str:
        return f"{self.listing.uri}/{COMPACTED_DIR}/g{self.generation:04d}"


def plan_hour(storage: Storage, config: Config, event_date: date, event_hour: int) -> HourPlan | None:
    """What compacting the hour would rewrite; None when there is nothing to gain (no batch file
    outside the manifest, or a single file and no manifest)."""
    listing = read_hour(storage, _table_uri(config), event_date, event_hour)
    previous = listing.manifest
    if not listing.pending or (previous is None and len(listing.pending) < 2):
        return None
    replaces = tuple(sorted(set(previous.replaces if previous else ()) | set(listing.pending)))
    generation = previous.generation + 1 if previous else 1
    return HourPlan(listing, listing.visible, replaces, generation)


def compacted_layout(events_df: DataFrame, files: int) -> DataFrame:
    """`files` partitions, by time ranges, each sorted: time-filtered reads skip whole row groups."""
    return events_df.repartitionByRange(files, "event_time", "event_id").sortWithinPartitions("event_time", "event_id")


@dataclass(frozen=True)
class Generation:
    files: tuple[str, ...]  # relative to the hour folder
    rows: int


def write_generation(spark: SparkSession, storage: Storage, config: Config, plan: HourPlan) -> Generation:
    """Write the plan's inputs as its generation, hidden; reconcile rows or leave nothing behind."""
    data_columns = [f.name for f in CLICKSTREAM_TABLE.data_fields]
    target = plan.generation_uri()
    delete_path(spark, target)  # what an attempt that crashed before its commit left
    # The inputs carry no partition columns (those are in their folder names): read them as they are.
    inputs_df = spark.read.schema(StructType(CLICKSTREAM_TABLE.data_fields)).parquet(*plan.input_uris()).select(*data_columns)
    rows_in = inputs_df.count()
    size = total_size(spark, plan.input_uris())
    files = max(1, math.ceil(size / (config.compaction.target_file_mb * 1024 * 1024)))
    compacted_layout(inputs_df, files).write.mode("overwrite").parquet(target)
    prefix = f"{plan.listing.uri}/"
    written = tuple(sorted(
        uri[len(prefix):] if uri.startswith(prefix) else f"{COMPACTED_DIR}/g{plan.generation:04d}/{uri.rsplit('/', 1)[-1]}"
        for uri in storage.list_files(target, suffix=".parquet") if not uri.rsplit("/", 1)[-1].startswith(("_", "."))
    ))
    rows_out = spark.read.parquet(*(f"{prefix}{name}" for name in written)).count() if written else 0
    if rows_out != rows_in:
        delete_path(spark, target)
        raise ReconciliationError(f"compaction of {plan.hour} wrote {rows_out:,} rows for {rows_in:,} read from "
                                  f"{len(plan.inputs)} files; nothing committed")
    return Generation(written, rows_out)


def commit_generation(storage: Storage, config: Config, plan: HourPlan, generation: Generation,
                      now: datetime) -> HourManifest:
    """The commit point: one PUT of the hour's manifest. Then Athena's symlink follows."""
    current = read_hour(storage, _table_uri(config), plan.listing.event_date, plan.listing.event_hour)
    if current.manifest != plan.listing.manifest:
        raise ManifestChangedError(f"the manifest of {plan.hour} changed while compacting it "
                                   f"(two compactions at once?); nothing committed")
    manifest = HourManifest(generation=plan.generation, committed_at=now.isoformat(timespec="seconds"),
                            files=generation.files, replaces=plan.replaces, rows=generation.rows)
    write_manifest(storage, plan.listing, manifest)
    sync_symlink(storage, read_hour(storage, _table_uri(config), plan.listing.event_date, plan.listing.event_hour))
    return manifest


def delete_replaced(spark: SparkSession, storage: Storage, config: Config, event_date: date, event_hour: int,
                    now: datetime) -> int:
    """Delete what the hour's manifest replaced, once no query can still be reading it; the count."""
    listing = read_hour(storage, _table_uri(config), event_date, event_hour)
    manifest = listing.manifest
    if manifest is None:
        return 0
    if now - datetime.fromisoformat(manifest.committed_at) < timedelta(seconds=config.compaction.grace_period_s):
        return 0
    replaced = set(manifest.replaces)
    batch_garbage = [name for name in listing.batch_files if name in replaced]
    # Only older generations: a newer one may be a compaction being written right now.
    old_generations = sorted({"/".join(name.split("/")[:2]) for name in listing.compacted_found
                              if _generation_of(name) < manifest.generation})
    if not batch_garbage and not old_generations:
        return 0
    if not symlink_is_current(storage, listing):
        # An Athena query may have started on the stale symlink just now: fix it, then wait again.
        sync_symlink(storage, listing)
        write_manifest(storage, listing, replace(manifest, committed_at=now.isoformat(timespec="seconds")))
        return 0
    for name in batch_garbage + old_generations:
        delete_path(spark, f"{listing.uri}/{name}")
    return len(batch_garbage) + len(old_generations)


def _generation_of(relative: str) -> int:
    parts = relative.split("/")
    try:
        return int(parts[1].removeprefix("g"))
    except (IndexError, ValueError):
        return -1


# ---------------------------------------------------------------------------------- the job
@dataclass
class HourCompaction:
    hour: str
    files_before: int
    files_after: int
    rows: int
    generation: int

    def line(self) -> str:
        return (f"{self.hour}: {self.files_before} files -> {self.files_after} (generation {self.generation}, "
                f"{self.rows:,} rows)")


@dataclass
class CompactionReport:
    compacted: list[HourCompaction] = field(default_factory=list)
    files_deleted: int = 0
    symlinks_synced: int = 0

    def summary(self) -> str:
        lines = [f"compact_clickstream: {len(self.compacted)} hour(s) compacted, {self.files_deleted} replaced "
                 f"file(s)/generation(s) deleted, {self.symlinks_synced} symlink manifest(s) rewritten"]
        lines += ["  " + c.line() for c in self.compacted]
        return "\n".join(lines)


def compact_hour(spark: SparkSession, storage: Storage, config: Config, event_date: date, event_hour: int,
                 now: datetime) -> HourCompaction | None:
    plan = plan_hour(storage, config, event_date, event_hour)
    if plan is None:
        return None
    generation = write_generation(spark, storage, config, plan)
    commit_generation(storage, config, plan, generation, now)
    return HourCompaction(plan.hour, len(plan.inputs), len(generation.files), generation.rows, plan.generation)


def run_compact_clickstream(spark: SparkSession, config: Config, storage: Storage, hour: datetime | None = None,
                            now: datetime | None = None) -> CompactionReport:
    """Compact `hour`, or every closed hour of the last `compaction.lookback_hours` that has batch
    files no manifest holds; delete what earlier runs replaced once its grace period is over."""
    now = now or datetime.now(timezone.utc)
    report = CompactionReport()
    if hour is not None:
        hour = hour.replace(minute=0, second=0, microsecond=0, tzinfo=hour.tzinfo or timezone.utc)
        if not is_closed(config, hour, now):
            raise HourNotClosedError(
                f"{hour:{HOUR_FORMAT}} is not closed before {hour + timedelta(hours=1) + close_after(config):%Y-%m-%dT%H:%M}Z "
                f"(compaction.close_after_s); its late events may still arrive")
        hours = [(hour.date(), hour.hour)]
    else:
        since = now - timedelta(hours=config.compaction.lookback_hours)
        days = [since.date() + timedelta(days=n) for n in range((now.date() - since.date()).days + 1)]
        hours = [(listing.event_date, listing.event_hour) for listing in list_hours(storage, _table_uri(config), days)
                 if _hour_start(listing.event_date, listing.event_hour) >= since.replace(minute=0, second=0, microsecond=0)
                 and is_closed(config, _hour_start(listing.event_date, listing.event_hour), now)]
    for event_date, event_hour in hours:
        report.files_deleted += delete_replaced(spark, storage, config, event_date, event_hour, now)
        done = compact_hour(spark, storage, config, event_date, event_hour, now)
        if done is not None:
            report.compacted.append(done)
            log.info("%s", done.line())
        else:
            # Hours written before their symlink was kept, or whose last sync a crash cut short.
            report.symlinks_synced += sync_symlink(storage, read_hour(storage, _table_uri(config), event_date, event_hour))
    return report
