"""The DynamoDB items the website reads: the serving contract documented in README.md ("Serving
contract"), written here and read back here, in AttributeValue form.

Plain Python (boto3's wire format, no Spark): the nightly load, the real-time paths and the
website's reader all build and parse items through these functions."""
from __future__ import annotations

import math

USER_KEY, ARTICLE_KEY = "user_id", "article_id"
SOURCE_BATCH, SOURCE_REALTIME = "batch", "realtime"
EXPIRES_AT = "expires_at"  # epoch seconds; the real-time table's TTL attribute
# The key of the one item in each nightly table (recommendations, item neighbours) that is not
# a user's or an article's: which run date the table serves (recs/dynamodb.py, load guard).
# Customer ids are 64 hex, article ids 10 digits, guests' session ids UUIDs: "#" is none of them.
LOAD_MARKER_KEY = "#load"


def is_load_marker(item: dict | None) -> bool:
    return bool(item) and any(item.get(key, {}).get("S") == LOAD_MARKER_KEY for key in (USER_KEY, ARTICLE_KEY))


def dynamo_number(value: float) -> dict:
    # DynamoDB numbers are decimals; six significant digits keep items small and re-runs equal.
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"score {value!r} cannot be stored as a DynamoDB number")
    return {"N": f"{number:.6g}"}


def recommendation_item(
    customer_id: str, items: list, model_version: str, generated_at: str, source: str = SOURCE_BATCH,
    expires_at: int | None = None,
) -> dict:
    """The DynamoDB item of one user's recommendations: `items` are dicts (or rows) with
    article_id, score and reason, best first."""
    item = {
        USER_KEY: {"S": customer_id},
        "items": {"L": [
            {"M": {
                "article_id": {"S": entry["article_id"]},
                "score": dynamo_number(entry["score"]),
                "reason": {"S": entry["reason"]},
                "rank": {"N": str(rank)},
            }}
            for rank, entry in enumerate(items, start=1)
        ]},
        "model_version": {"S": model_version},
        "generated_at": {"S": generated_at},
        "source": {"S": source},
    }
    if expires_at is not None:
        item[EXPIRES_AT] = {"N": str(int(expires_at))}
    return item


def neighbor_item(article_id: str, neighbors: list, model_version: str, generated_at: str) -> dict:
    return {
        ARTICLE_KEY: {"S": article_id},
        "neighbors": {"L": [
            {"M": {"article_id": {"S": n["article_id"]}, "score": dynamo_number(n["score"])}} for n in neighbors
        ]},
        "model_version": {"S": model_version},
        "generated_at": {"S": generated_at},
    }


def plain_items(attribute: dict | None) -> list[dict]:
    """The `items` attribute of a recommendations item as dicts: article_id, score, reason."""
    if not attribute:
        return []
    return [
        {"article_id": e["M"]["article_id"]["S"], "score": float(e["M"]["score"]["N"]), "reason": e["M"]["reason"]["S"]}
        for e in attribute.get("L", [])
    ]


def plain_neighbors(attribute: dict | None) -> list[dict]:
    """The `neighbors` attribute of an item-neighbours item as dicts: article_id, score."""
    if not attribute:
        return []
    return [{"article_id": e["M"]["article_id"]["S"], "score": float(e["M"]["score"]["N"])} for e in attribute.get("L", [])]
