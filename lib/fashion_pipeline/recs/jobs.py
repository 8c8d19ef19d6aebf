"""Argument parsing shared by the recommender's spark-submit entry points and CLI commands."""
from __future__ import annotations

import argparse
from functools import partial

from fashion_pipeline import jobs

RUN_DATE_HELP = "YYYY-MM-DD: the last day of sales the run uses (inclusive)"


def add_run_date_option(parser: argparse.ArgumentParser) -> None:
    jobs.add_run_date_option(parser, RUN_DATE_HELP)


run_date_parser = partial(jobs.run_date_parser, help_text=RUN_DATE_HELP)
