"""spark-submit entry point: landed H&M CSVs -> curated Parquet, quarantine and run report.

    spark-submit jobs/partition_raw.py --env emr [--raw-root URI] [--lake-root URI]

The logic is fashion_pipeline.pipelines.partition_raw; this file only hands it the command line.
"""
import sys

from fashion_pipeline.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("partition_raw", argv)


if __name__ == "__main__":
    sys.exit(main())
