"""partition_raw: landed H&M CSVs become validated, typed Parquet, with a quarantine and a report.

Inputs are the manifest entries written by landing, one per distinct file content:
- articles and customers are snapshots: the newest landed file of each is the table;
- transactions are facts: every distinct landed file contributes, each exactly once.
A dimension row whose key is sound is kept even when an attribute breaks its rule: that value is
nulled and listed in the attribute_issues table, so the sales that reference the row survive.
Every run rebuilds what its inputs cover and replaces it (dynamic partition overwrite for
transactions), so running twice leaves the same lake as running once.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from fashion_pipeline.config import Config
from fashion_pipeline.errors import MissingInputError, ReconciliationError
from fashion_pipeline.lake import read_raw_csv, read_table, write_table
from fashion_pipeline.landing import ManifestEntry, read_manifest
from fashion_pipeline.orchestration.raw_inputs import inputs_fingerprint
from fashion_pipeline.schemas import (
    ARTICLES,
    ATTRIBUTE_ISSUES,
    CUSTOMERS,
    REJECT_REASON,
    TRANSACTIONS,
    TableSpec,
)
from fashion_pipeline.storage import Storage
from fashion_pipeline.tables import (
    ATTRIBUTE_ISSUES_TABLE,
    attribute_issues_uri,
    hm_quarantine_table,
    hm_table,
    reports_uri,
)
from fashion_pipeline.transforms.hm import (
    flag_articles,
    flag_customers,
    flag_valued_transactions,
    to_attribute_issues,
    to_curated_articles,
    to_curated_customers,
    to_quarantine,
    valued_to_curated_transactions,
)
from fashion_pipeline.transforms.validation import filter_valid

# Rows sorted by day inside each month file: row-group statistics then prune day filters.
TRANSACTIONS_SORT = ("year_month", "t_dat")


class NothingLandedError(MissingInputError):
    """A table the job needs has no landed file."""


@dataclass
class TableReport:
    table: str
    inputs: list[str]
    rows_read: int
    rows_written: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int]
    output: str
    quarantine: str
    seconds: float = 0.0
    # Dimensions only: attribute values nulled in the rows written, as counted while writing them,
    # and as the attribute_issues table lists them, per column and rule.
    attribute_values_nulled: int = 0
    nulled_by_column_and_reason: dict[str, dict[str, int]] = field(default_factory=dict)
    attribute_issues: str = ""

    @property
    def reconciles(self) -> bool:
        return (
            self.rows_read == self.rows_written + self.rows_quarantined
            and self.rows_quarantined == sum(self.quarantined_by_reason.values())
            and self.attribute_values_nulled == sum(
                n for by_reason in self.nulled_by_column_and_reason.values() for n in by_reason.values()
            )
        )


@dataclass
class PartitionRawReport:
    started_at: str
    finished_at: str = ""
    tables: list[TableReport] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def summary(self) -> str:
        lines = [f"{'table':<13} {'read':>12} {'written':>12} {'quarantined':>12} {'seconds':>8}  reasons"]
        for t in self.tables:
            reasons = ", ".join(f"{r}={n:,}" for r, n in sorted(t.quarantined_by_reason.items())) or "-"
            lines.append(f"{t.table:<13} {t.rows_read:>12,} {t.rows_written:>12,} {t.rows_quarantined:>12,} {t.seconds:>8.1f}  {reasons}")
        nulled = ", ".join(
            f"{t.table}.{column} {reason}={n:,}"
            for t in self.tables
            for column, by_reason in sorted(t.nulled_by_column_and_reason.items())
            for reason, n in sorted(by_reason.items())
        )
        lines.append(f"attribute values nulled, rows kept (see attribute_issues): {nulled or 'none'}")
        return "\n".join(lines)


def run_partition_raw(spark: SparkSession, config: Config, storage: Storage) -> PartitionRawReport:
    report = PartitionRawReport(started_at=_now())
    raw_root, validation = config.paths.raw_root, config.validation

    articles_inputs = _latest_snapshot(raw_root, ARTICLES, storage)
    customers_inputs = _latest_snapshot(raw_root, CUSTOMERS, storage)
    # Spark jobs from several driver threads, so that two cores stay busy: the two snapshots are
    # independent and each is mostly one task (a multi-line CSV file is read whole, then a small
    # shuffle); their quarantines and counts need only their own curated write, so they run beside
    # the transactions, which need both curated snapshots.
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="partition-raw") as pool:
        snapshot_writes = [
            pool.submit(_write_curated, spark, config, ARTICLES, articles_inputs, flag_articles, to_curated_articles),
            pool.submit(_write_curated, spark, config, CUSTOMERS, customers_inputs, flag_customers, to_curated_customers),
        ]
        snapshot_reports = [pool.submit(_finish_table, spark, config, write.result()) for write in snapshot_writes]

        known_articles_df = read_table(spark, curated_uri(config, ARTICLES)).select("article_id")
        known_customers_df = read_table(spark, curated_uri(config, CUSTOMERS)).select("customer_id")

        def flag(raw_df: DataFrame) -> DataFrame:
            return flag_valued_transactions(
                raw_df, known_articles_df, known_customers_df,
                validation.min_date, validation.max_date, validation.max_price,
            )

        def layout(valid_df: DataFrame) -> DataFrame:
            # No shuffle: sales files arrive in date order (H&M's does), so each input split spans
            # one or two months and writes one file to each, about 30 MB at H&M scale. A shuffle by
            # month would cost a full extra pass over the data to get the same files.
            return valued_to_curated_transactions(valid_df).sortWithinPartitions(*TRANSACTIONS_SORT)

        transactions_inputs = read_manifest(raw_root, TRANSACTIONS.name, storage)
        if not transactions_inputs:
            raise NothingLandedError(f"no transactions landed under {raw_root}: run `fashion land` first")
        transactions_write = _write_curated(spark, config, TRANSACTIONS, transactions_inputs, flag, layout)
        report.tables.extend(future.result() for future in snapshot_reports)
        report.tables.append(_finish_table(spark, config, transactions_write))

    report.finished_at = _now()
    failures = [t.table for t in report.tables if not t.reconciles]
    report_uri = reports_uri(config, "partition_raw", f"{_fingerprint(report)}.json")
    storage.write_text(report_uri, report.to_json())
    if failures:
        raise ReconciliationError(f"counts do not reconcile for {failures}; see {report_uri}")
    return report


def curated_uri(config: Config, spec: TableSpec) -> str:
    return hm_table(spec).uri(config)


def quarantine_uri(config: Config, spec: TableSpec) -> str:
    return hm_quarantine_table(spec).uri(config)


@dataclass
class _CuratedWrite:
    """A table's curated output on disk, with what its quarantine and report still need."""

    spec: TableSpec
    uris: list[str]
    flag: Callable[[DataFrame], DataFrame]
    flagged_df: DataFrame
    lineage_in_flag: bool
    seen: Observation
    written: Observation
    started: float

    @property
    def has_attribute_rules(self) -> bool:
        return ATTRIBUTE_ISSUES in self.flagged_df.columns


def _write_curated(
    spark: SparkSession,
    config: Config,
    spec: TableSpec,
    inputs: list[ManifestEntry],
    flag: Callable[[DataFrame], DataFrame],
    to_curated: Callable[[DataFrame], DataFrame],
) -> _CuratedWrite:
    started = time.monotonic()
    uris = [entry.uri for entry in inputs]
    # Duplicate keys are ranked by where their rows came from, so keyed tables need the lineage to
    # be flagged; the others need it only in the quarantine.
    lineage_in_flag = bool(spec.primary_key)
    flagged_df = flag(read_raw_csv(spark, spec, uris, with_lineage=lineage_in_flag))

    seen = Observation(f"{spec.name}_seen")
    written = Observation(f"{spec.name}_written")
    observed_df = flagged_df.observe(
        seen,
        F.count(F.lit(1)).alias("rows"),
        F.count_if(F.col(REJECT_REASON).isNotNull()).alias("rejected"),
    )
    written_measures = [F.count(F.lit(1)).alias("rows")]
    if ATTRIBUTE_ISSUES in flagged_df.columns:
        written_measures.append(F.coalesce(F.sum(F.size(ATTRIBUTE_ISSUES)), F.lit(0)).alias("attribute_values_nulled"))
    curated_df = to_curated(filter_valid(observed_df).observe(written, *written_measures))
    write_table(curated_df, curated_uri(config, spec), spec.partition_by, spec.plain_encoded)
    return _CuratedWrite(spec, uris, flag, flagged_df, lineage_in_flag, seen, written, started)


def _finish_table(spark: SparkSession, config: Config, done: _CuratedWrite) -> TableReport:
    """The quarantine of a table whose curated output is written, and its report."""
    spec = done.spec
    rows_read, rows_rejected = done.seen.get["rows"], done.seen.get["rejected"]
    if rows_rejected == 0:
        # Clean input costs one pass over the files: the quarantine is replaced by an empty one.
        write_table(spark.createDataFrame([], spec.quarantine_schema), quarantine_uri(config, spec))
        by_reason: dict[str, int] = {}
    else:
        rejected_source_df = (
            done.flagged_df if done.lineage_in_flag else done.flag(read_raw_csv(spark, spec, done.uris))
        )
        write_table(to_quarantine(rejected_source_df, spec.raw_columns), quarantine_uri(config, spec))
        by_reason = _count_by_reason(read_table(spark, quarantine_uri(config, spec), spec.quarantine_schema))

    report = TableReport(
        table=spec.name,
        inputs=done.uris,
        rows_read=rows_read,
        rows_written=done.written.get["rows"],
        rows_quarantined=sum(by_reason.values()),
        quarantined_by_reason=by_reason,
        output=curated_uri(config, spec),
        quarantine=quarantine_uri(config, spec),
    )
    if done.has_attribute_rules:
        report.attribute_values_nulled = done.written.get["attribute_values_nulled"]
        report.attribute_issues = attribute_issues_uri(config, spec)
        report.nulled_by_column_and_reason = _write_attribute_issues(spark, config, done)
    report.seconds = round(time.monotonic() - done.started, 2)
    return report


def _write_attribute_issues(spark: SparkSession, config: Config, done: _CuratedWrite) -> dict[str, dict[str, int]]:
    """Replaces the table's partition of attribute_issues; what it holds, per column and reason."""
    # The partition's files: the table name is the folder's, not a column of theirs.
    uri, issues_schema = attribute_issues_uri(config, done.spec), StructType(ATTRIBUTE_ISSUES_TABLE.data_fields)
    if done.written.get["attribute_values_nulled"] == 0:
        # Like the quarantine: no extra pass over the files when nothing was nulled.
        write_table(spark.createDataFrame([], issues_schema), uri)
        return {}
    write_table(to_attribute_issues(done.flagged_df, done.spec.primary_key[0]), uri)
    # One row per column and reason: a handful of rows, safe to bring to the driver.
    counted: dict[str, dict[str, int]] = {}
    for row in read_table(spark, uri, issues_schema).groupBy("column_name", "reason").count().collect():
        counted.setdefault(row["column_name"], {})[row["reason"]] = row["count"]
    return counted


def _count_by_reason(quarantine_df: DataFrame) -> dict[str, int]:
    # One row per reason: a handful of rows, safe to bring to the driver.
    rows = quarantine_df.groupBy(REJECT_REASON).count().collect()
    return {row[REJECT_REASON]: row["count"] for row in rows}


def _latest_snapshot(raw_root: str, spec: TableSpec, storage: Storage) -> list[ManifestEntry]:
    entries = read_manifest(raw_root, spec.name, storage)
    if not entries:
        raise NothingLandedError(f"no {spec.name} landed under {raw_root}: run `fashion land` first")
    return entries[-1:]


def _fingerprint(report: PartitionRawReport) -> str:
    # orchestration.raw_inputs finds new landings by this name: one definition for both.
    return inputs_fingerprint(uri for table in report.tables for uri in table.inputs)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
