"""spark-submit entry point: marketing aggregates for --run-date under <lake_root>/analytics/.

    spark-submit jobs/daily_aggregates.py --env emr --run-date 2020-09-23
"""
import sys

from fashion_pipeline.jobs import run_date_parser, run_job
from fashion_pipeline.pipelines.daily_aggregates import run_daily_aggregates


def main(argv: list[str] | None = None) -> int:
    parser = run_date_parser("daily_aggregates")
    return run_job("daily_aggregates", run_daily_aggregates, argv, parser)


if __name__ == "__main__":
    sys.exit(main())
