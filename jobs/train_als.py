"""spark-submit entry point: the nightly ALS recommender for one day.

    spark-submit jobs/train_als.py --env local --run-date 2020-09-22 [--lake-root URI]
"""
import sys

from fashion_pipeline.jobs import run_job
from fashion_pipeline.recs.jobs import run_date_parser
from fashion_pipeline.recs.pipeline import run_train_als


def main(argv: list[str] | None = None) -> int:
    return run_job("train_als", run_train_als, argv, parser=run_date_parser("train_als"))


if __name__ == "__main__":
    sys.exit(main())
