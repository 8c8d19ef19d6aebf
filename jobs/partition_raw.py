"""spark-submit entry point: landed H&M CSVs -> curated Parquet, quarantine and run report.

    spark-submit jobs/partition_raw.py --env local [--raw-root URI] [--lake-root URI]
"""
import sys

from fashion_pipeline.jobs import run_job
from fashion_pipeline.pipelines.partition_raw import run_partition_raw


def main(argv: list[str] | None = None) -> int:
    return run_job("partition_raw", run_partition_raw, argv)


if __name__ == "__main__":
    sys.exit(main())
