"""What a streaming query reports after every micro-batch: input and processing rates, batch
duration, de-duplication, what the batch published, and how far each shard's reading was behind
the stream's tip (`MillisBehindLatest`).

A `StreamingQueryListener` writes one JSON line per batch under the lake's `_reports/<job>/progress/`
(where `fashion clicks status` reads them) and puts the same figures to CloudWatch (moto locally),
namespace `FashionPipeline/Streaming`, dimension `Job`. A report that cannot be sent is logged,
never allowed to stop the stream it describes.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from pyspark.sql.streaming import StreamingQueryListener

from fashion_pipeline.config import Config
from fashion_pipeline.storage import Storage
from fashion_pipeline.streaming.progress_reports import (  # noqa: F401 (their home before progress_reports)
    DUPLICATES_METRIC,
    METRIC_NAMESPACE,
    BatchProgress,
    cloudwatch_metrics,
    format_progress,
    progress_uri,
    read_recent_progress,
)

log = logging.getLogger(__name__)


def batch_progress(progress, outcome=None, shard_lag_ms: Mapping[str, int] | None = None) -> BatchProgress:
    """Our record of one `StreamingQueryProgress` (and of what the sink said it published)."""
    operators = progress.stateOperators or []
    return BatchProgress(
        batch_id=progress.batchId,
        timestamp=progress.timestamp,
        input_rows=progress.numInputRows,
        input_rows_per_s=round(float(progress.inputRowsPerSecond or 0.0), 1),
        processed_rows_per_s=round(float(progress.processedRowsPerSecond or 0.0), 1),
        duration_ms=int((progress.durationMs or {}).get("triggerExecution", 0)),
        watermark=(progress.eventTime or {}).get("watermark"),
        duplicates_dropped=sum(int((op.customMetrics or {}).get(DUPLICATES_METRIC, 0)) for op in operators),
        late_rows_dropped=sum(int(op.numRowsDroppedByWatermark or 0) for op in operators),
        curated=getattr(outcome, "curated", 0),
        quarantined=getattr(outcome, "quarantined", 0),
        shard_lag_ms=dict(shard_lag_ms or {}),
    )


class ProgressReporter(StreamingQueryListener):
    """Reports every batch of the queries it hears; keeps this process's reports per query.
    `outcomes` maps a batch id to what the sink published; `shard_lag` gives each shard's
    MillisBehindLatest from a batch's progress (streaming.raw_stream.shard_lag_reader)."""

    def __init__(self, config: Config, storage: Storage, job: str, outcomes: Mapping[int, object] | None = None,
                 shard_lag: Callable[[object], Mapping[str, int]] | None = None, cloudwatch=None):
        self._config, self._storage, self._job = config, storage, job
        self._outcomes = outcomes if outcomes is not None else {}
        self._shard_lag = shard_lag
        self._cloudwatch = cloudwatch
        self._by_query: dict[str, list[BatchProgress]] = {}

    def progress_of(self, query_id) -> list[BatchProgress]:
        return list(self._by_query.get(str(query_id), []))

    def wait_until_heard(self, query_id, batch_id: int | None, timeout_s: float = 60.0,
                         sleep: Callable[[float], None] = time.sleep) -> bool:
        """Wait until the report of `batch_id` (the last batch this process ran; None: it ran none)
        has been handled: Spark delivers progress to listeners asynchronously, after the batch, so a
        query that returned from processAllAvailable or stop() may still have a report on its way.
        (Not `query.lastProgress`: an idle query's carries the last batch of an earlier run, and
        idle triggers reach listeners as onQueryIdle, without a progress.) False on timeout."""
        if batch_id is None:
            return True
        step_s = 0.1

        def heard() -> bool:
            return any(p.batch_id >= batch_id for p in self.progress_of(query_id))

        for _ in range(round(timeout_s / step_s)):
            if heard():
                return True
            sleep(step_s)
        if heard():
            return True
        log.warning("progress report of batch %s not heard within %.0f s", batch_id, timeout_s)
        return False

    def onQueryStarted(self, event) -> None:  # noqa: N802 (Spark's names)
        pass

    def onQueryIdle(self, event) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event) -> None:  # noqa: N802
        pass

    def onQueryProgress(self, event) -> None:  # noqa: N802
        progress = event.progress
        if progress.name != self._job:
            return
        lag = self._lag(progress)
        record = batch_progress(progress, self._outcomes.get(progress.batchId), lag)
        self._by_query.setdefault(str(progress.id), []).append(record)
        try:
            self._storage.write_text(progress_uri(self._config, self._job, record.batch_id), record.line() + "\n")
        except OSError as error:
            log.warning("progress report of batch %s not written: %s", record.batch_id, error)
        self._publish_metrics(record)

    def _lag(self, progress) -> Mapping[str, int]:
        if self._shard_lag is None:
            return {}
        try:
            return self._shard_lag(progress)
        except Exception as error:  # noqa: BLE001 - a missing lag figure must not stop the stream
            log.warning("shard lag of batch %s unknown: %s", progress.batchId, error)
            return {}

    def _publish_metrics(self, record: BatchProgress) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from fashion_pipeline.aws import aws_client

        try:
            client = self._cloudwatch or aws_client("cloudwatch", self._config)
            data = cloudwatch_metrics(self._job, record)
            for start in range(0, len(data), 20):  # PutMetricData takes at most 20 per call here
                client.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=data[start:start + 20])
        except (BotoCoreError, ClientError) as error:
            log.warning("CloudWatch metrics of batch %s not sent: %s", record.batch_id, error)
