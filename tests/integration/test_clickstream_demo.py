"""make demo after the services were restarted: moto's clickstream is a new stream, and the
checkpoints started on the old one are forgotten (their positions would make the job read nothing)."""
import os
import time

from fashion_pipeline.clickstream.demo import forget_checkpoints_of_an_older_stream
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream


def _query_checkpoint(root, started_at):
    (root / "offsets").mkdir(parents=True)
    (root / "sources" / "kinesis").mkdir(parents=True)
    (root / "sources" / "kinesis" / "metadata").write_text("{}")
    os.utime(root / "sources" / "kinesis" / "metadata", (started_at, started_at))
    (root / "metadata").write_text('{"id": "query"}')
    os.utime(root / "metadata", (started_at, started_at))


def test_checkpoints_older_than_the_stream_are_removed_whole_and_newer_ones_kept(aws_config, tmp_path):
    config = aws_config.with_overrides({"clickstream.shard_count": 1})
    checkpoints = tmp_path / "lake" / "_checkpoints"
    config = config.with_overrides({"paths.lake_root": str(tmp_path / "lake")})
    _query_checkpoint(checkpoints / "stream_clickstream", time.time() - 3600)
    _query_checkpoint(checkpoints / "stream_recommendations" / "trending_articles", time.time() - 3600)
    ensure_clickstream_stream(config)
    _query_checkpoint(checkpoints / "stream_recommendations" / "realtime_recommendations", time.time() + 5)

    lines = forget_checkpoints_of_an_older_stream(config)

    assert len(lines) == 2 and all("removed, the job starts over" in line for line in lines)
    assert not (checkpoints / "stream_clickstream").exists()
    assert not (checkpoints / "stream_recommendations" / "trending_articles").exists()
    assert (checkpoints / "stream_recommendations" / "realtime_recommendations" / "offsets").is_dir()
    assert forget_checkpoints_of_an_older_stream(config) == []
