"""What the website shows a user: the batch and real-time recommendation items, merged."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from fashion_pipeline.aws import aws_client
from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.recs.items import (
    EXPIRES_AT,
    SOURCE_BATCH,
    SOURCE_REALTIME,
    USER_KEY,
    is_load_marker,
    plain_items,
)


class ServingTablesMissingError(PipelineError):
    """The DynamoDB serving tables have not been created."""


@dataclass
class ServedItem:
    article_id: str
    score: float
    reason: str
    source: str


@dataclass
class ServedRecommendations:
    user_id: str
    items: list[ServedItem]
    model_version: str | None
    generated_at: str | None
    realtime_generated_at: str | None = None


def merge_recommendations(batch: dict | None, realtime: dict | None, k: int, now: datetime | None = None) -> list[ServedItem]:
    """Real-time items first (they know today's session), then batch items not shown yet, k in all.

    A real-time item whose `expires_at` (epoch seconds, the table's TTL attribute) has passed is
    ignored even before DynamoDB's TTL sweep deletes it."""
    now = now or datetime.now(timezone.utc)
    served, seen = [], set()
    if realtime and (EXPIRES_AT not in realtime or float(realtime[EXPIRES_AT]["N"]) > now.timestamp()):
        for item in plain_items(realtime.get("items")):
            if item["article_id"] not in seen:
                served.append(ServedItem(**item, source=SOURCE_REALTIME))
                seen.add(item["article_id"])
    for item in plain_items((batch or {}).get("items")):
        if item["article_id"] not in seen:
            served.append(ServedItem(**item, source=SOURCE_BATCH))
            seen.add(item["article_id"])
    return served[:k]


def read_recommendations(config: Config, user_id: str, client=None, now: datetime | None = None) -> ServedRecommendations:
    """What the website shows a user: both tables read in one BatchGetItem, then merged."""
    client = client or aws_client("dynamodb", config)
    batch_table, realtime_table = config.names.recommendations_table, config.names.realtime_recommendations_table
    key = {USER_KEY: {"S": user_id}}
    try:
        response = client.batch_get_item(RequestItems={batch_table: {"Keys": [key]}, realtime_table: {"Keys": [key]}})
    except client.exceptions.ResourceNotFoundException:
        raise ServingTablesMissingError(
            f"the serving tables {batch_table} / {realtime_table} do not exist: run `fashion recs load --run-date D` "
            f"(or `fashion recs create-tables`)"
        ) from None
    found = response.get("Responses", {})
    batch = next(iter(found.get(batch_table, [])), None)
    if is_load_marker(batch):  # the table's load marker is nobody's list
        batch = None
    realtime = next(iter(found.get(realtime_table, [])), None)
    return ServedRecommendations(
        user_id=user_id,
        items=merge_recommendations(batch, realtime, config.recs.top_k, now),
        model_version=batch["model_version"]["S"] if batch else None,
        generated_at=batch["generated_at"]["S"] if batch else None,
        realtime_generated_at=realtime["generated_at"]["S"] if realtime and "generated_at" in realtime else None,
    )
