"""stream_clickstream: the website's clicks, from Kinesis into the lake, every few minutes.

    spark-submit jobs/stream_clickstream.py --env emr              # runs until stopped
    fashion clicks stream --until-idle                             # in this process, locally

Each micro-batch (trigger `streaming.trigger_seconds`, 5 minutes on EMR):
1. every record is checked against the event contract (clickstream/validation.py, the very
   function the producer's tests and the Lambda use) and, for the catalogue, joined with the
   curated articles;
2. valid events are de-duplicated on event_id within the watermark (`streaming.watermark_delay_s`
   of event time; an event that arrives later than that is kept, see transforms/clickstream.py);
3. valid events go to `curated/clickstream/event_date=D/event_hour=H/`, refused records with
   their payload and reason to `quarantine/clickstream/arrival_date=D/`.

Exactly once as Athena sees it: a batch is written whole under `_staging/stream_clickstream/`
first, then each of its files is moved into its partition folder under a name made of the batch
id (lakefs.publish_files). A file appears by a rename, so a query never reads half of one; a
batch that fails before it publishes leaves nothing visible; and a batch Spark replays after a
crash (same offsets, same de-duplication state) publishes the same files under the same names,
replacing, never adding. Each batch writes one file per partition folder it touches.

Readers resolve each hour through hour_manifest.py (compact_clickstream rewrites closed hours);
after publishing, the batch's hours' Athena symlink manifests are rewritten to name its files.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from fashion_pipeline.config import Config
from fashion_pipeline.hour_manifest import hours_of, read_hour, sync_symlink
from fashion_pipeline.jobs import add_streaming_run_options
from fashion_pipeline.lake import write_table
from fashion_pipeline.lakefs import delete_path, publish_files
from fashion_pipeline.schemas import REJECT_REASON
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import (
    ARTICLES_TABLE,
    CLICKSTREAM_QUARANTINE_TABLE,
    CLICKSTREAM_TABLE,
    read_lake_table,
    reports_uri,
    staging_uri,
)
from fashion_pipeline.transforms.clickstream import (
    DEDUP_KEY,
    DEDUP_TIME,
    flag_click_records,
    to_click_quarantine,
    to_curated_clicks,
    with_dedup_columns,
    with_unknown_articles,
)

JOB = "stream_clickstream"
log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    add_streaming_run_options(parser, "stop after N micro-batches (default: run until stopped)")


def checkpoint_uri(config: Config) -> str:
    return config.paths.lake("_checkpoints", JOB)


def batch_report_uri(config: Config, batch_id: int) -> str:
    return reports_uri(config, JOB, "batches", f"batch={batch_id:012d}.json")


@dataclass
class BatchOutcome:
    batch_id: int
    curated: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    published_at: str = ""


class ClickBatchPublisher:
    """The foreachBatch sink: validate against the catalogue, stage, then publish by renames.
    Keeps what each batch published (`outcomes`) for the progress reports of this process."""

    def __init__(self, config: Config, storage: Storage):
        self._config, self._storage = config, storage
        self.outcomes: dict[int, BatchOutcome] = {}

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        spark, config = batch_df.sparkSession, self._config
        # The catalogue is read per batch: the nightly batch may have added articles since.
        articles_df = read_lake_table(spark, config, ARTICLES_TABLE).select("article_id")
        checked_df = with_unknown_articles(batch_df, articles_df).persist()
        try:
            outcome = self._publish(spark, checked_df, batch_id)
        finally:
            checked_df.unpersist()
        self._storage.write_text(batch_report_uri(config, batch_id), json.dumps(asdict(outcome), indent=2, sort_keys=True))
        self.outcomes[batch_id] = outcome

    def _publish(self, spark: SparkSession, checked_df: DataFrame, batch_id: int) -> BatchOutcome:
        config = self._config
        staging = staging_uri(config, JOB, f"batch={batch_id:012d}")
        name = f"batch-{batch_id:012d}"
        outcome = BatchOutcome(batch_id=batch_id)
        # The first action computes (and caches) the batch; a handful of reasons come back.
        for row in checked_df.groupBy(REJECT_REASON).count().collect():
            if row[REJECT_REASON] is None:
                outcome.curated = row["count"]
            else:
                outcome.quarantined_by_reason[row[REJECT_REASON]] = row["count"]
        outcome.quarantined = sum(outcome.quarantined_by_reason.values())
        outputs = [
            (CLICKSTREAM_TABLE, to_curated_clicks(checked_df.filter(F.col(REJECT_REASON).isNull())), outcome.curated),
            (CLICKSTREAM_QUARANTINE_TABLE, to_click_quarantine(checked_df.filter(F.col(REJECT_REASON).isNotNull())),
             outcome.quarantined),
        ]
        delete_path(spark, staging)  # what a killed attempt at this batch left behind
        for table, df, rows in outputs:
            if rows:
                # One task per partition folder: one file per folder per batch, named by the batch.
                write_table(df.repartition(*table.partition_keys), f"{staging}/{table.name}", table.partition_keys)
        for table, _, rows in outputs:
            if rows:
                published = publish_files(spark, f"{staging}/{table.name}", table.uri(config), name)
                outcome.files += published
                if table is CLICKSTREAM_TABLE:
                    sync_clickstream_symlinks(config, self._storage, published)
        delete_path(spark, staging)
        outcome.published_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        return outcome


def sync_clickstream_symlinks(config: Config, storage: Storage, published: list[str]) -> None:
    """Athena sees a batch once its hours' symlink manifests name it (hour_manifest.py): one PUT
    per hour, made from a fresh listing and the hour's compaction manifest. A replay after a crash
    before this point publishes the same files and makes it again."""
    table_uri = CLICKSTREAM_TABLE.uri(config)
    for event_date, event_hour in hours_of(published):
        sync_symlink(storage, read_hour(storage, table_uri, event_date, event_hour))


def click_events_stream(records_df: DataFrame, config: Config) -> DataFrame:
    """Raw Kinesis records -> flagged, de-duplicated records, ready for ClickBatchPublisher."""
    delay_s = config.streaming.watermark_delay_s
    flagged_df = with_dedup_columns(flag_click_records(records_df, config.clickstream.max_event_bytes), delay_s)
    return flagged_df.withWatermark(DEDUP_TIME, f"{delay_s} seconds").dropDuplicatesWithinWatermark([DEDUP_KEY])


def start_clickstream_query(
    config: Config, publisher: ClickBatchPublisher, records_df: DataFrame, trigger_seconds: float,
) -> StreamingQuery:
    return (
        click_events_stream(records_df, config)
        .writeStream.queryName(JOB)
        .foreachBatch(publisher)
        .option("checkpointLocation", checkpoint_uri(config))
        .trigger(processingTime=f"{trigger_seconds} seconds")
        .start()
    )


@dataclass
class StreamReport:
    batches: int = 0
    records_in: int = 0
    curated: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0
    seconds: float = 0.0

    @property
    def reconciles(self) -> bool:
        return self.records_in == self.curated + self.quarantined + self.duplicates_dropped

    def summary(self) -> str:
        reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(self.quarantined_by_reason.items())) or "-"
        return (f"stream_clickstream: {self.batches} micro-batch(es), {self.records_in:,} records in = "
                f"{self.curated:,} events curated + {self.quarantined:,} quarantined ({reasons}) + "
                f"{self.duplicates_dropped:,} duplicates dropped ({self.seconds:.1f} s)")


def run_stream_clickstream(
    spark: SparkSession, config: Config, storage: Storage, batches: int | None = None, until_idle: bool = False,
    trigger_seconds: float | None = None,
) -> StreamReport:
    """Run the streaming job here: until stopped, for `batches` micro-batches, or until idle."""
    from fashion_pipeline.streaming import read_kinesis
    from fashion_pipeline.streaming.lifecycle import run_queries
    from fashion_pipeline.streaming.progress import ProgressReporter
    from fashion_pipeline.streaming.raw_stream import shard_lag_reader

    read_lake_table(spark, config, ARTICLES_TABLE)  # no catalogue yet: say so now, in one line
    started = time.monotonic()
    records_df = read_kinesis(spark, config, checkpoint_uri(config))
    publisher = ClickBatchPublisher(config, storage)
    reporter = ProgressReporter(config, storage, JOB, publisher.outcomes, shard_lag_reader(config, checkpoint_uri(config)))
    spark.streams.addListener(reporter)
    trigger = trigger_seconds if trigger_seconds is not None else config.streaming.trigger_seconds
    query = start_clickstream_query(config, publisher, records_df, trigger)
    batches_done = (lambda: len(reporter.progress_of(query.id)) >= batches) if batches is not None else None
    try:
        run_queries([query], until_idle, batches_done)
        reporter.wait_until_heard(query.id, max(publisher.outcomes, default=None))
    finally:
        spark.streams.removeListener(reporter)
    report = StreamReport(seconds=time.monotonic() - started)
    for progress in reporter.progress_of(query.id):
        report.batches += 1
        report.records_in += progress.input_rows
        report.duplicates_dropped += progress.duplicates_dropped
        outcome = publisher.outcomes.get(progress.batch_id)
        if outcome is not None:
            report.curated += outcome.curated
            report.quarantined += outcome.quarantined
            for reason, count in outcome.quarantined_by_reason.items():
                report.quarantined_by_reason[reason] = report.quarantined_by_reason.get(reason, 0) + count
    return report
