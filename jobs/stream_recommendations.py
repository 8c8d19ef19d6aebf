"""spark-submit entry point: real-time recommendations and trending articles from the clickstream,
until stopped (an EMR step that runs as long as the cluster does).

    spark-submit jobs/stream_recommendations.py --env emr

The logic is fashion_pipeline.pipelines.stream_recommendations; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("stream_recommendations", argv)


if __name__ == "__main__":
    sys.exit(main())
