"""spark-submit entry point: orders changed on --run-date, from the store's PostgreSQL into the lake.

    spark-submit --jars /usr/share/java/postgresql.jar jobs/extract_rds.py --env emr --run-date 2020-09-23
"""
import sys

from fashion_pipeline.jobs import run_date_parser, run_job
from fashion_pipeline.pipelines.extract_rds import run_extract_rds


def main(argv: list[str] | None = None) -> int:
    parser = run_date_parser("extract_rds", help_text="YYYY-MM-DD: the day whose changes to extract")
    return run_job("extract_rds", run_extract_rds, argv, parser)


if __name__ == "__main__":
    sys.exit(main())
