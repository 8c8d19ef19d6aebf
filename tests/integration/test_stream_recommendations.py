"""The streaming refresh (stream_recommendations) on moto: rings kept in Spark's state, lists written
from the executors by the shared rule, the same item as the Lambda path writes for the same events,
nothing rewritten for redelivered events, and trending windows to DynamoDB and the lake."""
from __future__ import annotations

from datetime import timedelta

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.clickstream.contract import click_partition_key, encode_click_event
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream
from fashion_pipeline.lake import read_table
from fashion_pipeline.pipelines.stream_recommendations import run_stream_recommendations
from fashion_pipeline.realtime.commands import local_fast_path
from fashion_pipeline.realtime.store import WRITTEN, item_without, trending_list
from fashion_pipeline.storage import storage_for
from fashion_pipeline.tables import TRENDING_ARTICLES_TABLE
from tests.realtime_events import CUSTOMER, GUEST_SESSION_ID, T0, click, seed_serving_items

SESSION = [click(1, "0200000001", 0), click(2, "0200000002", 40), click(3, "0200000001", 80),
           click(4, "0200000003", 120, "add_to_cart")]
GUEST = [click(10, "0200000005", 5, customer=None, session_id=GUEST_SESSION_ID),
         click(11, "0200000006", 25, customer=None, session_id=GUEST_SESSION_ID)]


@pytest.fixture
def rt_stream_config(aws_config):
    config = aws_config.with_overrides({
        "clickstream.shard_count": 2, "streaming.idle_probe_interval_ms": 0,
        "realtime.starting_position": "TRIM_HORIZON",
        # Short windows, so a test's few minutes of event time close some.
        "realtime.trending_window_s": 600, "realtime.trending_slide_s": 300,
        "realtime.trending_watermark_s": 60, "realtime.trending_min_events": 2, "realtime.trending_top_n": 5,
    })
    ensure_clickstream_stream(config)
    seed_serving_items(config)
    return config


def put_clicks(config, clicks: list[dict]) -> None:
    aws_client("kinesis", config).put_records(StreamName=config.names.clickstream_stream, Records=[
        {"Data": encode_click_event(c), "PartitionKey": click_partition_key(c)} for c in clicks])


def realtime_item(config, key: str) -> dict | None:
    return aws_client("dynamodb", config).get_item(
        TableName=config.names.realtime_recommendations_table, Key={"user_id": {"S": key}}, ConsistentRead=True).get("Item")


def test_both_paths_write_the_same_item_and_redelivery_rescores_nobody(spark, rt_stream_config):
    config, storage = rt_stream_config, storage_for(rt_stream_config)
    put_clicks(config, SESSION + GUEST + SESSION[:1])  # the first click is delivered twice

    report = run_stream_recommendations(spark, config, storage, until_idle=True, trigger_seconds=0)
    assert report.shoppers_by_status == {WRITTEN: 2}
    by_spark = {key: realtime_item(config, key) for key in (CUSTOMER, GUEST_SESSION_ID)}
    assert by_spark[CUSTOMER]["items"]["L"][0]["M"]["reason"]["S"] == "session"
    assert int(by_spark[CUSTOMER]["event_time_ms"]["N"]) == int((T0 + timedelta(seconds=120)).timestamp() * 1000)

    # The same events through the Lambda path, from an empty real-time table.
    dynamodb = aws_client("dynamodb", config)
    for key in by_spark:
        dynamodb.delete_item(TableName=config.names.realtime_recommendations_table, Key={"user_id": {"S": key}})
    mapping, _ = local_fast_path(config)
    mapping.run(until_idle=True)
    for key, item in by_spark.items():
        assert item_without(realtime_item(config, key), "generated_at") == item_without(item, "generated_at")

    # Clicks delivered again change no ring: nobody is rescored, nothing is written.
    put_clicks(config, SESSION[1:3])
    again = run_stream_recommendations(spark, config, storage, until_idle=True, trigger_seconds=0)
    assert again.shoppers_by_status == {}


def test_closed_windows_publish_their_top_movers(spark, rt_stream_config):
    config, storage = rt_stream_config, storage_for(rt_stream_config)
    surge = [click(100 + n, "0200000007", 10 * n, "add_to_cart" if n % 2 else "view") for n in range(12)]
    calm = [click(200 + n, "0200000008", 30 * n) for n in range(4)]
    later = [click(300, "0200000009", 40 * 60)]  # moves the watermark past the first windows
    put_clicks(config, surge + calm + later)

    report = run_stream_recommendations(spark, config, storage, until_idle=True, trigger_seconds=0)

    assert report.trending_windows >= 2
    item = aws_client("dynamodb", config).get_item(TableName=config.names.trending_table,
                                                    Key={"scope": {"S": "all"}})["Item"]
    newest = trending_list(item, now_s=T0.timestamp())
    assert [article for article, _ in newest][:2] == ["0200000007", "0200000008"]
    rows = read_table(spark, TRENDING_ARTICLES_TABLE.uri(config), TRENDING_ARTICLES_TABLE.schema).collect()
    first_window = min(r.window_end for r in rows)
    ranked = sorted((r.rank, r.article_id) for r in rows if r.window_end == first_window)
    assert [a for _, a in ranked] == ["0200000007", "0200000008"]
    assert all(r.lift > 1.0 for r in rows)  # no history: every article is above its (zero) usual
