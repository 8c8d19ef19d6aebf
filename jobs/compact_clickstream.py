"""spark-submit entry point: closed hours of the clickstream, many small files -> a few large ones.

    spark-submit jobs/compact_clickstream.py --env emr [--hour YYYY-MM-DDTHH]

The logic is fashion_pipeline.pipelines.compact_clickstream; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("compact_clickstream", argv)


if __name__ == "__main__":
    sys.exit(main())
