"""spark-submit entry point: offline evaluation of the real-time rule (sessions before held-out purchases).

    spark-submit jobs/evaluate_realtime.py --env emr --run-date 2020-09-22

The logic is fashion_pipeline.pipelines.evaluate_realtime; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("evaluate_realtime", argv)


if __name__ == "__main__":
    sys.exit(main())
