"""Every lake table analysts and Athena see: its name, where it lives under the lake root, its
declared Spark schema and its partitioning. Glue tables, Athena DDL, the local DuckDB views and
the data-quality views are all generated from this list, which itself reads the declared schemas.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import StructField, StructType

from fashion_pipeline.schemas import ARTICLES, CUSTOMERS, TRANSACTIONS
from fashion_pipeline.store import schemas as store

# Partition projection per partition column: Athena computes partitions instead of listing them.
DAILY_PROJECTION = {"type": "date", "format": "yyyy-MM-dd", "range": "2018-09-20,NOW", "interval": "1", "interval.unit": "DAYS"}
MONTHLY_PROJECTION = {"type": "date", "format": "yyyy-MM", "range": "2018-09,NOW", "interval": "1", "interval.unit": "MONTHS"}


@dataclass(frozen=True)
class LakeTable:
    name: str  # the Glue / Athena table name
    location: str  # under the lake root
    schema: StructType  # every column, partition columns included
    partition_keys: tuple[str, ...] = ()
    description: str = ""

    @property
    def data_fields(self) -> list[StructField]:
        return [f for f in self.schema.fields if f.name not in self.partition_keys]

    @property
    def partition_fields(self) -> list[StructField]:
        by_name = {f.name: f for f in self.schema.fields}
        return [by_name[key] for key in self.partition_keys]

    def projection(self, key: str) -> dict[str, str]:
        return MONTHLY_PROJECTION if key == "year_month" else DAILY_PROJECTION




LAKE_TABLES: tuple[LakeTable, ...] = (
    LakeTable("articles", "curated/articles", ARTICLES.curated_schema, (), ARTICLES.description),
    LakeTable("customers", "curated/customers", CUSTOMERS.curated_schema, (), CUSTOMERS.description),
    LakeTable("transactions", "curated/transactions", TRANSACTIONS.curated_schema, TRANSACTIONS.partition_by, TRANSACTIONS.description),
    LakeTable("orders", "curated/orders", store.ORDERS_SCHEMA, (store.ORDER_DATE,),
              "Web-shop orders, newest version of each, by the UTC day they were placed."),
    LakeTable("order_items", "curated/order_items", store.ORDER_ITEMS_SCHEMA, (store.ORDER_DATE,),
              "Lines of the web-shop orders, partitioned like their orders."),
    LakeTable("store_customers", "curated/store_customers", store.STORE_CUSTOMERS_SCHEMA, (store.SNAPSHOT_DATE,),
              "Daily snapshot of the shop's customers, without direct identifiers."),
    LakeTable("store_articles", "curated/store_articles", store.STORE_ARTICLES_SCHEMA, (store.SNAPSHOT_DATE,),
              "Daily snapshot of the shop's catalogue with price and stock."),
    LakeTable("orders_quarantine", "quarantine/orders", store.ORDERS_QUARANTINE_SCHEMA, (store.RUN_DATE,),
              "Orders extract_rds refused, as read, with the reason; by run date."),
    LakeTable("order_items_quarantine", "quarantine/order_items", store.ORDER_ITEMS_QUARANTINE_SCHEMA, (store.RUN_DATE,),
              "Order lines extract_rds refused, as read, with the reason; by run date."),
    LakeTable("sales_daily", "analytics/sales_daily", store.SALES_DAILY_SCHEMA, ("sales_date",),
              "Net sales per day by article, product type, colour, department, index group and channel."),
    LakeTable("customer_rfm", "analytics/customer_rfm", store.CUSTOMER_RFM_SCHEMA, ("as_of_date",),
              "Recency, frequency and monetary scores and segment of each customer, as of a day."),
    LakeTable("top_sellers", "analytics/top_sellers", store.TOP_SELLERS_SCHEMA, ("as_of_date",),
              "Best-selling articles of the seven days ending on a day."),
    LakeTable("trend_movers", "analytics/trend_movers", store.TREND_MOVERS_SCHEMA, ("as_of_date",),
              "Articles rising or falling most, week over week, above a minimum volume."),
)
LAKE_TABLES_BY_NAME = {table.name: table for table in LAKE_TABLES}
