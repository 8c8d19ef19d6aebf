"""spark-submit entry point: marketing aggregates for --run-date under <lake_root>/analytics/.

    spark-submit jobs/daily_aggregates.py --env emr --run-date 2020-09-23

The logic is fashion_pipeline.pipelines.daily_aggregates; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("daily_aggregates", argv)


if __name__ == "__main__":
    sys.exit(main())
