"""What the storefront shows about articles, read from the lake a few rows at a time: the
curated H&M catalogue (names, types, colours), the shop's latest catalogue snapshot
(`store_articles`: price and stock) and the nightly best sellers (`top_sellers`). Every read is a
filtered Parquet read of the rows a page needs; nothing reads a whole table."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pyarrow.compute as pc

from fashion_pipeline.colours import colour_hex
from fashion_pipeline.config import Config
from fashion_pipeline.errors import MissingInputError
from fashion_pipeline.recs.show import lake_dataset
from fashion_pipeline.tables import ARTICLES_TABLE, STORE_ARTICLES_TABLE, TOP_SELLERS_TABLE, LakeTable

ARTICLE_COLUMNS = ("article_id", "prod_name", "product_type_name", "product_group_name", "colour_group_code",
                   "colour_group_name", "department_name", "detail_desc")
ARTICLE_ID = re.compile(r"\d{10}")


@dataclass(frozen=True)
class Article:
    article_id: str
    name: str
    product_type: str
    product_group: str
    colour_code: int | None
    colour: str
    department: str
    description: str
    price: Decimal | None = None  # the shop's price; None when the shop does not list it
    stock: int | None = None

    @property
    def swatch(self) -> str:
        return colour_hex(self.colour_code, self.colour)

    @property
    def price_text(self) -> str:
        return f"€{self.price:.2f}" if self.price is not None else "not listed"


class Catalogue:
    def __init__(self, config: Config):
        self.config = config

    def articles(self, article_ids: list[str]) -> dict[str, Article]:
        """The articles among `article_ids` the catalogue has, with the shop's price and stock."""
        wanted = sorted({a for a in article_ids if ARTICLE_ID.fullmatch(a)})
        if not wanted:
            return {}
        try:
            rows = lake_dataset(self.config, ARTICLES_TABLE.uri(self.config)).to_table(
                columns=list(ARTICLE_COLUMNS), filter=pc.field("article_id").isin(wanted)).to_pylist()
        except FileNotFoundError:
            raise MissingInputError(
                f"the articles table has not been written yet ({ARTICLES_TABLE.uri(self.config)}): "
                f"run `{ARTICLES_TABLE.written_by}` (or `make demo`) first") from None
        shop = self._shop_prices(wanted)
        return {row["article_id"]: Article(
            row["article_id"], row["prod_name"] or row["article_id"], row["product_type_name"] or "",
            row["product_group_name"] or "", row["colour_group_code"], row["colour_group_name"] or "",
            row["department_name"] or "", row["detail_desc"] or "", *shop.get(row["article_id"], (None, None)),
        ) for row in rows}

    def best_sellers(self, limit: int = 12) -> list[str]:
        """The nightly best sellers of the latest day the aggregates ran, best first."""
        folder = self._latest_partition(TOP_SELLERS_TABLE, "as_of_date")
        if folder is None:
            return []
        rows = lake_dataset(self.config, folder).to_table(
            columns=["rank", "article_id"], filter=pc.field("rank") <= limit).to_pylist()
        return [row["article_id"] for row in sorted(rows, key=lambda r: r["rank"])]

    def _shop_prices(self, article_ids: list[str]) -> dict[str, tuple[Decimal | None, int | None]]:
        folder = self._latest_partition(STORE_ARTICLES_TABLE, "snapshot_date")
        if folder is None:
            return {}
        rows = lake_dataset(self.config, folder).to_table(
            columns=["article_id", "price", "stock"], filter=pc.field("article_id").isin(article_ids)).to_pylist()
        return {row["article_id"]: (row["price"], row["stock"]) for row in rows}

    def _latest_partition(self, table: LakeTable, key: str) -> str | None:
        """The folder of the newest `key=YYYY-MM-DD` partition, or None when the table is empty."""
        try:
            files = lake_dataset(self.config, table.uri(self.config)).files
        except FileNotFoundError:
            return None
        days = {match.group(1) for path in files for match in [re.search(rf"{key}=(\d{{4}}-\d{{2}}-\d{{2}})", path)] if match}
        return table.uri(self.config, **{key: max(days)}) if days else None
