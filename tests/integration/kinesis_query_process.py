"""A streaming query over the Kinesis source in a process of its own, for the kill -9 test:

    python -m tests.integration.kinesis_query_process --endpoint URL --stream S --checkpoint DIR \
        --out DIR --cap N --pause-at-batch B --marker FILE

It reads the stream through read_kinesis (TRIM_HORIZON) into a BatchFileSink. In batch B the sink
writes only half of the batch's records, creates FILE and waits: the test kills the process
group there, in the middle of the batch (offsets logged, records read, no commit).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from fashion_pipeline.config import load_config
from fashion_pipeline.spark import build_spark
from fashion_pipeline.streaming import read_kinesis
from tests.kinesis_streams import BatchFileSink


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--stream", "--checkpoint", "--out", "--marker", "--state-dir"):
        parser.add_argument(name, required=True)
    parser.add_argument("--cap", type=int, required=True)
    parser.add_argument("--pause-at-batch", type=int, required=True)
    args = parser.parse_args()

    config = load_config("local", overrides={
        "aws.endpoint_url": args.endpoint, "names.clickstream_stream": args.stream,
        "paths.state_dir": args.state_dir, "spark.master": "local[2]", "spark.shuffle_partitions": 2,
        "spark.driver_memory": "1g", "spark.ui_enabled": False,
        "streaming.max_records_per_shard": args.cap, "streaming.idle_probe_interval_ms": 0,
        "streaming.describe_shard_interval_ms": 0,
    })
    spark = build_spark("kinesis-kill-test", config)
    sink = BatchFileSink(args.out)

    def pausing_sink(batch_df, batch_id: int) -> None:
        rows = sink.rows(batch_df)
        if batch_id != args.pause_at_batch:
            sink.write(batch_id, rows)
            return
        sink.write(batch_id, rows[: len(rows) // 2])  # half written when the process dies
        Path(args.marker).write_text(str(len(rows)), encoding="utf-8")
        while True:
            time.sleep(1)

    raw_df = read_kinesis(spark, config, args.checkpoint)
    query = raw_df.writeStream.foreachBatch(pausing_sink).option("checkpointLocation", args.checkpoint).start()
    query.awaitTermination()


if __name__ == "__main__":
    main()
