"""A tiny shop for the storefront tests: a catalogue in the lake (curated articles, the shop's
prices, best sellers) and the serving tables in moto (one customer's nightly list, neighbours,
live trending), the articles of tests/realtime_events.py."""
from __future__ import annotations

import time
from datetime import date, datetime, timezone
from decimal import Decimal

from fashion_pipeline.aws import aws_client
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream
from fashion_pipeline.recs.dynamodb import ensure_serving_tables
from fashion_pipeline.recs.items import neighbor_item
from fashion_pipeline.tables import ARTICLES_TABLE, STORE_ARTICLES_TABLE, TOP_SELLERS_TABLE
from tests.lake_rows import write_rows
from tests.realtime_events import BATCH, BATCH_VERSION, NEIGHBORS, TRENDING, seed_serving_items

SNAPSHOT = date(2020, 9, 23)
TYPES = {"01": ("Trousers", "Garment Lower body", 9, "Black"), "02": ("Dress", "Garment Full body", 72, "Blue"),
         "03": ("Dress", "Garment Full body", 52, "Pink"), "09": ("Sneakers", "Shoes", 10, "White")}
ARTICLE_IDS = sorted({b["article_id"] for b in BATCH} | set(NEIGHBORS) | {a for n in NEIGHBORS.values() for a, _ in n}
                     | {a for a, _ in TRENDING})
BEST_SELLERS = sorted(NEIGHBORS)[:5] + [a for a, _ in TRENDING] + [b["article_id"] for b in BATCH][:4]
# The first nightly item leads to the new style: clicking it gives the real-time rule neighbours to offer.
FIRST_ITEM_NEIGHBORS = [("0200000000", 0.8), ("0200000001", 0.7)]


def article_row(article_id: str) -> dict:
    product_type, group, colour_code, colour = TYPES[article_id[:2]]
    n = int(article_id[-2:])
    return {
        "article_id": article_id, "product_code": int(article_id[:7]), "prod_name": f"{colour} {product_type.lower()} {n}",
        "product_type_no": 272, "product_type_name": product_type, "product_group_name": group,
        "graphical_appearance_no": 1010016, "graphical_appearance_name": "Solid", "colour_group_code": colour_code,
        "colour_group_name": colour, "perceived_colour_value_id": 4, "perceived_colour_value_name": "Dark",
        "perceived_colour_master_id": 5, "perceived_colour_master_name": colour, "department_no": 1676,
        "department_name": "Trousers", "index_code": "A", "index_name": "Ladieswear", "index_group_no": 1,
        "index_group_name": "Ladieswear", "section_no": 16, "section_name": "Womens Everyday Collection",
        "garment_group_no": 1009, "garment_group_name": "Trousers", "detail_desc": f"A {product_type.lower()} for tests.",
    }


def store_article_row(article_id: str) -> dict:
    row = article_row(article_id)
    return {**{k: row[k] for k in ("article_id", "product_code", "prod_name", "product_type_name", "product_group_name",
                                   "colour_group_name", "department_name", "index_name", "index_group_name",
                                   "garment_group_name")},
            "price": Decimal("19.99") + int(article_id[-2:]), "stock": 40, "updated_at": datetime(2020, 9, 22, tzinfo=timezone.utc),
            "snapshot_date": SNAPSHOT}


def top_seller_row(rank: int, article_id: str) -> dict:
    row = article_row(article_id)
    return {"rank": rank, **{k: row[k] for k in ("article_id", "prod_name", "product_type_name", "colour_group_name",
                                                 "department_name", "index_group_name")},
            "units": 100 - rank, "revenue": Decimal(1000 - rank), "customers": 50, "as_of_date": SNAPSHOT}


def seed_shop(config) -> None:
    write_rows(config, ARTICLES_TABLE, [article_row(a) for a in ARTICLE_IDS])
    write_rows(config, STORE_ARTICLES_TABLE, [store_article_row(a) for a in ARTICLE_IDS])
    write_rows(config, TOP_SELLERS_TABLE, [top_seller_row(r, a) for r, a in enumerate(BEST_SELLERS, start=1)])
    ensure_clickstream_stream(config)
    ensure_serving_tables(config)
    settings = seed_serving_items(config, trending_at=datetime.fromtimestamp(time.time(), timezone.utc))
    aws_client("dynamodb", config).put_item(TableName=settings.tables.neighbors, Item=neighbor_item(
        BATCH[0]["article_id"], [{"article_id": a, "score": s} for a, s in FIRST_ITEM_NEIGHBORS], BATCH_VERSION,
        "2020-09-22T02:00:00+00:00"))
