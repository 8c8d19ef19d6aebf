"""spark-submit entry point: one run date's recommendations and neighbours into DynamoDB.

    spark-submit jobs/load_recommendations.py --env emr --run-date 2020-09-22

The logic is fashion_pipeline.pipelines.load_recommendations; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("load_recommendations", argv)


if __name__ == "__main__":
    sys.exit(main())
