"""spark-submit entry point: data-quality checks for --run-date; exits non-zero when a blocking
check fails (after writing every result and alerting Slack).

    spark-submit --jars /usr/share/java/postgresql.jar jobs/data_quality.py --env emr --run-date 2020-09-23
"""
import sys

from fashion_pipeline.jobs import run_date_parser, run_job
from fashion_pipeline.pipelines.data_quality import run_data_quality


def main(argv: list[str] | None = None) -> int:
    parser = run_date_parser("data_quality")
    return run_job("data_quality", run_data_quality, argv, parser)


if __name__ == "__main__":
    sys.exit(main())
