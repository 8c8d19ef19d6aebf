"""Argument parsing shared by the recommender's spark-submit entry points and CLI commands."""
from __future__ import annotations

import argparse
from datetime import date

from fashion_pipeline.jobs import job_argument_parser


def add_run_date_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run-date", type=date.fromisoformat, required=True,
        help="YYYY-MM-DD: the last day of sales the run uses (inclusive)",
    )


def run_date_parser(job_name: str) -> argparse.ArgumentParser:
    parser = job_argument_parser(job_name)
    add_run_date_option(parser)
    return parser
