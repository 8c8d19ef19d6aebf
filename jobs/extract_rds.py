"""spark-submit entry point: orders changed on --run-date, from the store's PostgreSQL into the lake.

    spark-submit --jars /usr/share/java/postgresql.jar jobs/extract_rds.py --env emr --run-date 2020-09-23
"""
import sys
from datetime import date

from fashion_pipeline.jobs import job_argument_parser, run_job
from fashion_pipeline.pipelines.extract_rds import run_extract_rds


def main(argv: list[str] | None = None) -> int:
    parser = job_argument_parser("extract_rds")
    parser.add_argument("--run-date", type=date.fromisoformat, required=True, help="YYYY-MM-DD: the day whose changes to extract")
    return run_job("extract_rds", run_extract_rds, argv, parser)


if __name__ == "__main__":
    sys.exit(main())
