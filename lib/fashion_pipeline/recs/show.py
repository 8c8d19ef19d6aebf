"""`fashion recs show USER_ID`: a user's recommendations as the website would list them."""
from __future__ import annotations

from urllib.parse import urlparse

import pyarrow.compute as pc
import pyarrow.dataset as ds

from fashion_pipeline.config import Config, is_remote
from fashion_pipeline.recs.reader import ServedRecommendations
from fashion_pipeline.tables import ARTICLES_TABLE

ARTICLE_DISPLAY_COLUMNS = ("article_id", "prod_name", "product_type_name", "colour_group_name")


def lake_dataset(config: Config, uri: str, partitioning: str | None = None) -> ds.Dataset:
    """A Parquet table of the lake as a pyarrow dataset, local or on S3 (moto's endpoint locally),
    so that a few rows can be read with a filter instead of the whole table."""
    filesystem = None
    if is_remote(uri):
        from pyarrow import fs

        parsed = urlparse(uri)
        endpoint = urlparse(config.aws.endpoint_url) if config.aws.endpoint_url else None
        filesystem = fs.S3FileSystem(
            region=config.aws.region,
            endpoint_override=endpoint.netloc if endpoint else None,
            scheme=endpoint.scheme if endpoint else "https",
        )
        uri = parsed.netloc + parsed.path
    return ds.dataset(uri, format="parquet", filesystem=filesystem, partitioning=partitioning)


def article_names(config: Config, article_ids: list[str]) -> dict[str, dict]:
    """Display fields of a few articles from the curated catalogue (a filtered Parquet read)."""
    if not article_ids:
        return {}
    table = lake_dataset(config, ARTICLES_TABLE.uri(config)).to_table(
        columns=list(ARTICLE_DISPLAY_COLUMNS), filter=pc.field("article_id").isin(article_ids)
    )
    return {row["article_id"]: row for row in table.to_pylist()}


def format_recommendations(served: ServedRecommendations, names: dict[str, dict]) -> str:
    if not served.items:
        return f"no recommendations for user {served.user_id}"
    lines = [
        f"user {served.user_id}",
        f"model {served.model_version or '-'} generated {served.generated_at or '-'}"
        + (f"; real-time update {served.realtime_generated_at}" if served.realtime_generated_at else ""),
        f"{'#':>2}  {'article':<10}  {'name':<28} {'type':<18} {'colour':<16} {'reason':<10} {'score':>9}",
    ]
    for rank, item in enumerate(served.items, start=1):
        article = names.get(item.article_id)
        # A catalogue attribute may be null (partition_raw nulls a value that breaks its rule).
        name = (article.get("prod_name") or "") if article else "(not in catalogue)"
        product_type = (article or {}).get("product_type_name") or ""
        colour = (article or {}).get("colour_group_name") or ""
        lines.append(
            f"{rank:>2}  {item.article_id:<10}  {name[:28]:<28} "
            f"{product_type[:18]:<18} {colour[:16]:<16} "
            f"{item.reason:<10} {item.score:>9.4f}"
        )
    return "\n".join(lines)
