"""spark-submit entry point: offline evaluation of the recommender (last week held out).

    spark-submit jobs/evaluate_recs.py --env emr --run-date 2020-09-22

The logic is fashion_pipeline.pipelines.evaluate_recs; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("evaluate_recs", argv)


if __name__ == "__main__":
    sys.exit(main())
