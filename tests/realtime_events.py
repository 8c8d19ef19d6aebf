"""Click events and AWS-shaped Kinesis events for the real-time tests, and the serving items they read."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fashion_pipeline.aws import aws_client
from fashion_pipeline.clickstream.contract import encode_click_event, format_event_time
from fashion_pipeline.realtime.commands import ensure_fast_path_resources
from fashion_pipeline.realtime.event_source import kinesis_event
from fashion_pipeline.realtime.settings import RealtimeSettings
from fashion_pipeline.realtime.store import trending_item
from fashion_pipeline.recs.items import neighbor_item, recommendation_item

T0 = datetime(2020, 9, 22, 12, 0, tzinfo=timezone.utc)
T0_S = T0.timestamp()
CUSTOMER = "c" * 64
NEW_CUSTOMER = "d" * 64  # a registered customer the nightly batch has not seen
SESSION_ID = "5e551011-0000-4000-8000-000000000001"
GUEST_SESSION_ID = "9e570000-0000-4000-8000-000000000002"
BATCH_VERSION = "20200922-abcdef12"
BATCH = [{"article_id": f"01000000{i:02d}", "score": 10.0 - i, "reason": "als" if i % 3 else "repurchase"}
         for i in range(12)]
# Articles of a style the customer never bought (02...), with neighbours of the same style (03...).
NEIGHBORS = {f"02000000{i:02d}": [(f"03000000{i:02d}", 0.9), (f"03000000{i + 1:02d}", 0.6)] for i in range(10)}
TRENDING = [("0900000001", 40.0), ("0900000002", 30.0), ("0900000003", 20.0)]
SHARD = "shardId-000000000000"


def click(n: int, article: str, seconds: float = 0.0, kind: str = "view", customer: str | None = CUSTOMER,
          session_id: str = SESSION_ID) -> dict:
    return {
        "event_id": f"00000000-0000-4000-8000-{n:012d}", "event_type": kind,
        "event_time": format_event_time(T0 + timedelta(seconds=seconds)), "customer_id": customer,
        "session_id": session_id, "article_id": article,
        "price": 0.03 if kind == "purchase" else None,
        "quantity": 1 if kind in ("add_to_cart", "remove_from_cart", "purchase") else None,
        "device": "desktop", "page": "product", "referrer": None,
    }


def kinesis_records(payloads: list, first_sequence: int = 1) -> list[dict]:
    """GetRecords-shaped records: a dict payload is encoded as the website does, bytes go as they are."""
    return [{
        "SequenceNumber": str(first_sequence + i),
        "PartitionKey": (p.get("customer_id") or p["session_id"]) if isinstance(p, dict) else "poison",
        "Data": encode_click_event(p) if isinstance(p, dict) else p,
        "ApproximateArrivalTimestamp": T0 + timedelta(seconds=i),
    } for i, p in enumerate(payloads)]


def aws_event(payloads: list, first_sequence: int = 1) -> dict:
    """The event the Kinesis event source mapping sends a function."""
    return kinesis_event(kinesis_records(payloads, first_sequence), SHARD,
                         "arn:aws:kinesis:us-east-1:000000000000:stream/fashion-clickstream", "us-east-1")


def sequence_numbers(event: dict) -> list[str]:
    return [r["kinesis"]["sequenceNumber"] for r in event["Records"]]


def seed_serving_items(config, trending_at: datetime = T0) -> RealtimeSettings:
    """The fast path's tables with one customer's nightly list, neighbours and live trending."""
    ensure_fast_path_resources(config)
    settings = RealtimeSettings.from_config(config)
    client = aws_client("dynamodb", config)
    client.put_item(TableName=settings.tables.batch,
                    Item=recommendation_item(CUSTOMER, BATCH, BATCH_VERSION, "2020-09-22T02:00:00+00:00"))
    for article, neighbors in NEIGHBORS.items():
        client.put_item(TableName=settings.tables.neighbors, Item=neighbor_item(
            article, [{"article_id": a, "score": s} for a, s in neighbors], BATCH_VERSION, "2020-09-22T02:00:00+00:00"))
    client.put_item(TableName=settings.tables.trending, Item=trending_item(
        TRENDING, int(trending_at.timestamp() * 1000), "2020-09-22T11:59:00+00:00", config.realtime.ttl_s))
    return settings
