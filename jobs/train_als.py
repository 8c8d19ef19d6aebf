"""spark-submit entry point: the nightly ALS recommender for one day.

    spark-submit jobs/train_als.py --env emr --run-date 2020-09-22

The logic is fashion_pipeline.pipelines.train_als; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("train_als", argv)


if __name__ == "__main__":
    sys.exit(main())
