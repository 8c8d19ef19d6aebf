"""spark-submit entry point: orders changed on --run-date, from the store's PostgreSQL into the lake.

    spark-submit --jars /usr/share/java/postgresql.jar jobs/extract_rds.py --env emr --run-date 2020-09-23

The logic is fashion_pipeline.pipelines.extract_rds; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("extract_rds", argv)


if __name__ == "__main__":
    sys.exit(main())
