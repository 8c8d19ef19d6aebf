"""What every spark-submit entry point shares: arguments, configuration, session, exit code."""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from typing import Callable

from fashion_pipeline.config import Config, ConfigError

log = logging.getLogger("fashion_pipeline")


def job_argument_parser(job_name: str) -> argparse.ArgumentParser:
    from fashion_pipeline.cli import add_config_options

    parser = argparse.ArgumentParser(prog=job_name)
    add_config_options(parser)
    return parser


def add_run_date_option(parser: argparse.ArgumentParser, help_text: str = "YYYY-MM-DD: the day the run is for") -> None:
    """--run-date, as Airflow passes `{{ ds }}` to every nightly job."""
    parser.add_argument("--run-date", type=date.fromisoformat, required=True, help=help_text)


def run_date_parser(job_name: str, help_text: str = "YYYY-MM-DD: the day the run is for") -> argparse.ArgumentParser:
    parser = job_argument_parser(job_name)
    add_run_date_option(parser, help_text)
    return parser


def run_job(
    job_name: str,
    pipeline: Callable,
    argv: list[str] | None = None,
    parser: argparse.ArgumentParser | None = None,
) -> int:
    """Parse the job's arguments, then `run_job_with_args`."""
    parser = parser or job_argument_parser(job_name)
    return run_job_with_args(job_name, pipeline, parser.parse_args(argv))


def run_job_with_args(job_name: str, pipeline: Callable, args: argparse.Namespace) -> int:
    """Configure, build the session, run `pipeline(spark, config, storage, **job_args)`.

    Returns 0 on success; a known failure prints one line to stderr and returns 1, configuration
    errors return 2, so an EMR step or Airflow task fails with a readable reason.
    """
    from fashion_pipeline.cli import config_from_args
    from fashion_pipeline.spark import build_spark
    from fashion_pipeline.storage import storage_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        config: Config = config_from_args(args)
    except ConfigError as error:
        print(f"{job_name}: configuration error: {error}", file=sys.stderr)
        return 2
    job_args = {k: v for k, v in vars(args).items() if k not in {"env", "raw_root", "lake_root", "set", "handler", "command"}}
    spark = build_spark(job_name, config)
    try:
        result = pipeline(spark, config, storage_for(config), **job_args)
    except (RuntimeError, ValueError) as error:
        print(f"{job_name}: failed: {error}", file=sys.stderr)
        return 1
    if hasattr(result, "summary"):
        print(result.summary())
    return 0
