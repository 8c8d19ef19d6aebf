"""spark-submit entry point: offline evaluation of the recommender (last week held out).

    spark-submit jobs/evaluate_recs.py --env local --run-date 2020-09-22
"""
import sys

from fashion_pipeline.jobs import run_job
from fashion_pipeline.recs.evaluation import run_recs_evaluation
from fashion_pipeline.recs.jobs import run_date_parser


def main(argv: list[str] | None = None) -> int:
    return run_job("evaluate_recs", run_recs_evaluation, argv, parser=run_date_parser("evaluate_recs"))


if __name__ == "__main__":
    sys.exit(main())
