"""spark-submit entry point: data-quality checks for --run-date; exits non-zero when a blocking
check fails (after writing every result and alerting Slack).

    spark-submit --jars /usr/share/java/postgresql.jar jobs/data_quality.py --env emr --run-date 2020-09-23
"""
import sys
from datetime import date

from fashion_pipeline.jobs import job_argument_parser, run_job
from fashion_pipeline.pipelines.data_quality import run_data_quality


def main(argv: list[str] | None = None) -> int:
    parser = job_argument_parser("data_quality")
    parser.add_argument("--run-date", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    return run_job("data_quality", run_data_quality, argv, parser)


if __name__ == "__main__":
    sys.exit(main())
