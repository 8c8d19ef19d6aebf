"""spark-submit entry point: data-quality checks for --run-date; exits non-zero when a blocking
check fails (after writing every result and alerting Slack).

    spark-submit --jars /usr/share/java/postgresql.jar jobs/data_quality.py --env emr --run-date 2020-09-23

The logic is fashion_pipeline.pipelines.data_quality; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("data_quality", argv)


if __name__ == "__main__":
    sys.exit(main())
