"""Hand-made store rows written straight into a test's PostgreSQL database, every value known."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from fashion_pipeline.store.credentials import resolve_rds_connection
from fashion_pipeline.store.database import connect

CUSTOMERS = ["a" * 64, "b" * 64, "c" * 64]
ARTICLES = {"0108775015": Decimal("19.99"), "0108775044": Decimal("9.99"), "0110065001": Decimal("24.99")}
ARTICLE_IDS = list(ARTICLES)


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00").replace(tzinfo=timezone.utc)


def execute(config, sql: str, rows: list[tuple] | None = None) -> None:
    with connect(resolve_rds_connection(config)) as conn:
        with conn.transaction():
            if rows is None:
                conn.execute(sql)
            else:
                with conn.cursor() as cursor:
                    cursor.executemany(sql, rows)


def seed_reference_rows(config) -> None:
    execute(config, "INSERT INTO customers (customer_id, first_name, last_name, email, city, postal_code, age, club_member_status) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(c, f"First{i}", f"Last{i}", f"person{i}@example.com", "Stockholm", "11120", 30 + i, "ACTIVE")
             for i, c in enumerate(CUSTOMERS)])
    execute(config, "INSERT INTO articles (article_id, product_code, prod_name, product_type_name, product_group_name, "
            "colour_group_name, department_name, index_name, index_group_name, garment_group_name, price, stock) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(a, int(a[:7]), f"Article {a}", "Vest top" if i < 2 else "Trousers", "Garment Upper body",
              "Black" if i != 1 else "White", "Jersey Basic", "Ladieswear", "Ladieswear", "Jersey Basic", price, 100)
             for i, (a, price) in enumerate(ARTICLES.items())])


def insert_order(config, order_id: int, customer: str | None, created: datetime, lines: list[tuple[str, int]],
                 status: str = "placed", channel: int = 2, updated: datetime | None = None) -> None:
    updated = updated or created
    execute(config, "INSERT INTO orders (order_id, customer_id, status, sales_channel_id, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)", [(order_id, customer, status, channel, created, updated)])
    execute(config, "INSERT INTO order_items (order_id, line_no, article_id, quantity, unit_price, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(order_id, n, article, quantity, ARTICLES[article], updated) for n, (article, quantity) in enumerate(lines, 1)])


def set_status(config, order_id: int, status: str, when: datetime) -> None:
    execute(config, "UPDATE orders SET status = %s, updated_at = %s WHERE order_id = %s", [(status, when, order_id)])


def set_quantity(config, order_id: int, line_no: int, quantity: int, when: datetime) -> None:
    execute(config, "UPDATE order_items SET quantity = %s, updated_at = %s WHERE order_id = %s AND line_no = %s",
            [(quantity, when, order_id, line_no)])
