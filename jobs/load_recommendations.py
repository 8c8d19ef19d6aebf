"""spark-submit entry point: one run date's recommendations and neighbours into DynamoDB.

    spark-submit jobs/load_recommendations.py --env local --run-date 2020-09-22
"""
import sys

from fashion_pipeline.jobs import run_job
from fashion_pipeline.recs.jobs import run_date_parser
from fashion_pipeline.recs.serving import run_load_recommendations


def main(argv: list[str] | None = None) -> int:
    return run_job("load_recommendations", run_load_recommendations, argv, parser=run_date_parser("load_recommendations"))


if __name__ == "__main__":
    sys.exit(main())
