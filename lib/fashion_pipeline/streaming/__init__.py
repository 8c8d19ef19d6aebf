"""Streaming: the clickstream from Kinesis into Spark Structured Streaming.

`read_kinesis(spark, config, checkpoint_location)` gives the raw records whichever source reads
them: EMR's bundled `aws-kinesis` connector on the cluster, our `kinesis` Python data source
(kinesis_source.py) locally and in tests.

Names are imported on first use: Spark's Python workers import kinesis_source.py through this
package, and should not pay for the configuration machinery they never use.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "BatchOutcomeConflictError": "errors",
    "KinesisSourceError": "errors",
    "KinesisSourceOptionError": "errors",
    "KinesisStreamNotFoundError": "errors",
    "KinesisUnavailableError": "errors",
    "KinesisDataSource": "kinesis_source",
    "register_kinesis_source": "kinesis_source",
    "ensure_stream_exists": "raw_stream",
    "kinesis_reader_options": "raw_stream",
    "read_kinesis": "raw_stream",
    "stop_between_batches": "lifecycle",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
