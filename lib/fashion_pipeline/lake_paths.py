"""Where jobs keep their run reports and working copies in the lake. No Spark here: the Airflow
side (MWAA workers have no pyspark) reads the reports too."""
from __future__ import annotations

from fashion_pipeline.config import Config


def reports_uri(config: Config, job: str, *parts: str) -> str:
    """Where a job's run reports go: `_reports/<job>/...`."""
    return config.paths.lake("_reports", job, *parts)


def staging_uri(config: Config, job: str, *parts: str) -> str:
    """A job's private working copy, removed when the run publishes: `_staging/<job>/...`."""
    return config.paths.lake("_staging", job, *parts)
