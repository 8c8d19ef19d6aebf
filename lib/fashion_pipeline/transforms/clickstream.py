"""Click records from Kinesis (the columns of EMR's `aws-kinesis` connector, whichever source read
them) become curated click events, or quarantined records with the reason.

The rules are the event contract's (clickstream/contract.py) as the plain-Python validator reads
them (clickstream/validation.py): the streaming job applies that very function to each record in
Arrow batches, so the job, the producer's tests and the Lambda function can never disagree on what
a valid event is. Only the catalogue check is a join here, because the catalogue is a table.
"""
from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from fashion_pipeline.clickstream.contract import (
    CLICK_EVENT_COLUMNS,
    CLICK_EVENT_JSON_OPTIONS,
    CLICK_REJECT_UNKNOWN_ARTICLE,
)
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.schemas import (
    CLICK_EVENT_SCHEMA,
    CLICK_QUARANTINE_SCHEMA,
    CURATED_CLICKS_SCHEMA,
    KINESIS_RECORD_COLUMNS,
    REJECT_REASON,
)

EVENT = "_event"
DEDUP_KEY = "_dedup_key"
DEDUP_TIME = "_dedup_time"


def reject_reason_column(data: Column, max_event_bytes: int) -> Column:
    """The contract's reason a record is refused (null when valid), by the plain-Python validator."""

    @F.pandas_udf(StringType())
    def reasons(payloads: pd.Series) -> pd.Series:
        return payloads.map(lambda payload: click_reject_reason(bytes(payload), max_event_bytes))

    return reasons(data)


def flag_click_records(records_df: DataFrame, max_event_bytes: int) -> DataFrame:
    """Kinesis records with `_reject_reason` (the contract's rules except the catalogue) and the
    parsed event (`_event`, meaningful only where the reason is null)."""
    return records_df.select(
        *KINESIS_RECORD_COLUMNS,
        reject_reason_column(F.col("data"), max_event_bytes).alias(REJECT_REASON),
        F.from_json(F.col("data").cast("string"), CLICK_EVENT_SCHEMA, CLICK_EVENT_JSON_OPTIONS).alias(EVENT),
    )


def with_dedup_columns(flagged_df: DataFrame, watermark_delay_s: int) -> DataFrame:
    """What de-duplication keys on and the time its watermark follows.

    A valid event is known by its event_id. A refused record is never a duplicate of anything
    (its Kinesis sequence number is its key): every refused record reaches the quarantine.
    The watermark follows event time; an event that arrives already more than the delay late is
    given (arrival - delay / 2) instead, so Spark keeps it rather than dropping it as late, and a
    duplicate of it sent within the delay is still recognised.
    """
    valid = F.col(REJECT_REASON).isNull()
    arrival = F.col("approximateArrivalTimestamp")
    half_delay = F.make_dt_interval(secs=F.lit(watermark_delay_s / 2))
    return flagged_df.withColumns({
        DEDUP_KEY: F.when(valid, F.col(f"{EVENT}.event_id")).otherwise(
            F.concat(F.lit("record:"), F.col("partitionKey"), F.lit(":"), F.col("sequenceNumber"))),
        DEDUP_TIME: F.when(valid, F.greatest(F.col(f"{EVENT}.event_time"), arrival - half_delay)).otherwise(arrival),
    })


def with_unknown_articles(flagged_df: DataFrame, articles_df: DataFrame) -> DataFrame:
    """`unknown_article_id` for otherwise valid events whose article is not in the catalogue."""
    catalogue = articles_df.select(F.col("article_id").alias("_known_article")).distinct()
    joined = flagged_df.join(F.broadcast(catalogue), F.col(f"{EVENT}.article_id") == F.col("_known_article"), "left")
    unknown = F.col(REJECT_REASON).isNull() & F.col("_known_article").isNull()
    return joined.withColumn(
        REJECT_REASON, F.when(unknown, F.lit(CLICK_REJECT_UNKNOWN_ARTICLE)).otherwise(F.col(REJECT_REASON))
    ).drop("_known_article")


def to_curated_clicks(valid_df: DataFrame) -> DataFrame:
    """The event's fields, where it came from in the stream, and its UTC date and hour (the partition)."""
    event_time = F.col(f"{EVENT}.event_time")
    return valid_df.select(
        *[F.col(f"{EVENT}.{name}").alias(name) for name in CLICK_EVENT_COLUMNS],
        F.col("partitionKey").alias("partition_key"),
        F.col("sequenceNumber").alias("sequence_number"),
        F.col("approximateArrivalTimestamp").alias("arrived_at"),
        F.to_date(event_time).alias("event_date"),
        F.hour(event_time).alias("event_hour"),
    ).select(*CURATED_CLICKS_SCHEMA.fieldNames())


def to_click_quarantine(rejected_df: DataFrame) -> DataFrame:
    """Refused records as they arrived (the payload kept byte for byte), with the reason."""
    arrival = F.col("approximateArrivalTimestamp")
    return rejected_df.select(
        F.col("data").alias("payload"),
        F.col("streamName").alias("stream_name"),
        F.col("partitionKey").alias("partition_key"),
        F.col("sequenceNumber").alias("sequence_number"),
        arrival.alias("arrived_at"),
        F.col(REJECT_REASON),
        F.to_date(arrival).alias("arrival_date"),
    ).select(*CLICK_QUARANTINE_SCHEMA.fieldNames())
