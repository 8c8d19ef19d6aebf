"""Streaming: the clickstream from Kinesis into Spark Structured Streaming.

`read_kinesis(spark, config, checkpoint_location)` gives the raw records whichever source reads
them: EMR's bundled `aws-kinesis` connector on the cluster, our `kinesis` Python data source
(kinesis_source.py) locally and in tests.
"""
from fashion_pipeline.streaming.errors import (
    BatchOutcomeConflictError,
    KinesisSourceError,
    KinesisSourceOptionError,
    KinesisStreamNotFoundError,
    KinesisUnavailableError,
)
from fashion_pipeline.streaming.kinesis_source import KinesisDataSource, register_kinesis_source
from fashion_pipeline.streaming.raw_stream import ensure_stream_exists, kinesis_reader_options, read_kinesis

__all__ = [
    "BatchOutcomeConflictError",
    "KinesisDataSource",
    "KinesisSourceError",
    "KinesisSourceOptionError",
    "KinesisStreamNotFoundError",
    "KinesisUnavailableError",
    "ensure_stream_exists",
    "kinesis_reader_options",
    "read_kinesis",
    "register_kinesis_source",
]
