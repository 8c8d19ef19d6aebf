"""`fashion store simulate --date D`: one day of the web shop, written into its PostgreSQL database.

Shoppers and what they buy come from the generator's `TasteModel` (same scale and seed as the H&M
files), so the store's orders carry the same planted tastes. Each day also makes late changes to
orders of the previous `store.late_change_days` days (payments, shipping, deliveries,
cancellations, returns, a line's quantity reduced), which is what the nightly extract must pick up.
A small share of orders are guest checkouts and a few lines carry a non-positive quantity from
the point-of-sale client: both are valid in the shop and must be quarantined by the lake.

A day is written in one transaction and recorded in `simulated_days`; simulating it again does
nothing. Everything is drawn from a random stream keyed by (seed, day), so the same days
simulated in the same order give the same rows.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import numpy as np

from fashion_pipeline.config import Config
from fashion_pipeline.dataset import HM_FIRST_DAY
from fashion_pipeline.generate.calendar import WEEKDAY_WEIGHTS
from fashion_pipeline.store.credentials import RdsConnection
from fashion_pipeline.store.database import connect

STORE_STREAM = 41  # random-stream key of the simulator, apart from the generator's own streams
ONLINE, IN_STORE = 2, 1
OPENING_HOUR, CLOSING_HOUR = 7, 23
BASKET_LINES_P = 0.38
MAX_LINES = 8
EXTRA_UNIT_SHARE = 0.06
RESTOCK_BELOW, RESTOCK_UNITS = 5, 120
STOCK_RANGE = (20, 300)
PERSON_POOL = 600
# Shop customers and articles exist from the first day of the H&M history.
HM_FIRST_MOMENT = datetime.combine(HM_FIRST_DAY, time(0), tzinfo=timezone.utc)
# Next status of an order that moves on, and the chance it goes wrong instead.
NEXT_STATUS = {"placed": "paid", "paid": "shipped", "shipped": "delivered"}
CANCEL_SHARE = {"placed": 0.15, "paid": 0.05}
RETURN_SHARE = 0.2
LINE_REDUCTION_SHARE = 0.1


@dataclass
class SimulatedDay:
    day: date
    skipped: bool = False
    orders: int = 0
    lines: int = 0
    guest_orders: int = 0
    bad_lines: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    seeded: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if self.skipped:
            return f"store {self.day}: already simulated, nothing written"
        seeded = "".join(f", seeded {n:,} {table}" for table, n in self.seeded.items())
        changes = ", ".join(f"{kind} {n}" for kind, n in sorted(self.changes.items())) or "none"
        return (f"store {self.day}: {self.orders:,} orders with {self.lines:,} lines "
                f"({self.guest_orders} guest, {self.bad_lines} non-positive lines); late changes: {changes}{seeded}")


def simulate_day(config: Config, connection: RdsConnection, day: date) -> SimulatedDay:
    from fashion_pipeline.generate import TasteModel, scale_spec

    store = config.store
    model = TasteModel.build(scale_spec(store.scale), store.seed)
    rng = np.random.default_rng(np.random.SeedSequence(store.seed, spawn_key=(STORE_STREAM, day.toordinal())))
    result = SimulatedDay(day)
    with connect(connection, config.rds.connect_timeout_s) as conn:
        with conn.transaction():
            # One simulator at a time; a second one for the same day then sees it done.
            conn.execute("LOCK TABLE simulated_days IN EXCLUSIVE MODE")
            if conn.execute("SELECT 1 FROM simulated_days WHERE day = %s", (day,)).fetchone():
                result.skipped = True
                return result
            result.seeded = seed_reference_data(conn, model, store.seed)
            _late_changes(conn, rng, day, store.late_change_days, store.late_change_share, result)
            _new_orders(conn, model, rng, day, config, result)
            conn.execute(
                "INSERT INTO simulated_days (day, orders, changes) VALUES (%s, %s, %s)",
                (day, result.orders, sum(result.changes.values())),
            )
    return result


# ---- reference data ------------------------------------------------------------------------

def seed_reference_data(conn, model, seed: int) -> dict[str, int]:
    """Customers and articles from the model, once (an empty table is filled, a full one kept)."""
    seeded = {}
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM customers)").fetchone()[0]:
        seeded["customers"] = _copy_rows(conn, "customers", CUSTOMER_COLUMNS, customer_rows(model, seed))
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM articles)").fetchone()[0]:
        seeded["articles"] = _copy_rows(conn, "articles", ARTICLE_COLUMNS, article_rows(model, seed))
    return seeded


CUSTOMER_COLUMNS = ("customer_id", "first_name", "last_name", "email", "phone", "street_address", "city",
                    "postal_code", "age", "club_member_status", "created_at", "updated_at")
ARTICLE_COLUMNS = ("article_id", "product_code", "prod_name", "product_type_name", "product_group_name",
                   "colour_group_name", "department_name", "index_name", "index_group_name",
                   "garment_group_name", "price", "stock", "updated_at")


def customer_rows(model, seed: int):
    """The model's customers with a synthetic person each, chosen by a hash of the customer_id so
    a customer is the same person whatever else changes."""
    from faker import Faker

    from fashion_pipeline.generate.frames import customers_frame

    fake = Faker("sv_SE")
    fake.seed_instance(seed)
    first_names = [fake.first_name() for _ in range(PERSON_POOL)]
    last_names = [fake.last_name() for _ in range(PERSON_POOL)]
    streets = [fake.street_address() for _ in range(PERSON_POOL)]
    cities = [fake.city() for _ in range(PERSON_POOL // 4)]
    frame = customers_frame(model.customers).to_pydict()
    joined = HM_FIRST_MOMENT
    for customer_id, age, postal_code, club in zip(frame["customer_id"], frame["age"], frame["postal_code"],
                                                   frame["club_member_status"]):
        digest = hashlib.blake2b(customer_id.encode(), digest_size=16).digest()
        pick = lambda pool, offset: pool[int.from_bytes(digest[offset:offset + 4], "big") % len(pool)]  # noqa: E731
        first, last = pick(first_names, 0), pick(last_names, 4)
        phone = "+46 7" + "".join(str(b % 10) for b in digest[8:16])
        email = f"{first}.{last}.{customer_id[:6]}@example.com".lower().replace(" ", "")
        yield (customer_id, first, last, email, phone, pick(streets, 8), pick(cities, 12), postal_code, age,
               club, joined, joined)


def article_rows(model, seed: int):
    from fashion_pipeline.generate.frames import articles_frame

    frame = articles_frame(model.catalogue, model.seed).to_pydict()
    price_points = model.catalogue.price_point
    stock = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STORE_STREAM, 0))).integers(*STOCK_RANGE, len(price_points))
    listed = HM_FIRST_MOMENT
    for i, article_id in enumerate(frame["article_id"]):
        yield (article_id, frame["product_code"][i], frame["prod_name"][i], frame["product_type_name"][i],
               frame["product_group_name"][i], frame["colour_group_name"][i], frame["department_name"][i],
               frame["index_name"][i], frame["index_group_name"][i], frame["garment_group_name"][i],
               shop_price(int(price_points[i])), int(stock[i]), listed)


def shop_price(price_point: int) -> Decimal:
    """The model's integer price point as a shop price: 17 -> 16.99."""
    return Decimal(price_point) - Decimal("0.01")


def _copy_rows(conn, table: str, columns: tuple[str, ...], rows) -> int:
    count = 0
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


# ---- a day of activity ---------------------------------------------------------------------

def _moments(rng: np.random.Generator, day: date, count: int) -> list[datetime]:
    start = datetime.combine(day, time(OPENING_HOUR), tzinfo=timezone.utc)
    seconds = np.sort(rng.integers(0, (CLOSING_HOUR - OPENING_HOUR) * 3600, count))
    return [start + timedelta(seconds=int(s)) for s in seconds]


def _new_orders(conn, model, rng: np.random.Generator, day: date, config: Config, result: SimulatedDay) -> None:
    from fashion_pipeline.generate.calendar import day_offset
    from fashion_pipeline.generate.frames import article_id_array, customer_id_array

    store = config.store
    weekday_weight = WEEKDAY_WEIGHTS[day.weekday()]
    n_orders = int(rng.poisson(store.orders_per_day * weekday_weight))
    if n_orders == 0:
        return
    offset = day_offset(day)
    shoppers = model.sample_customers(np.full(n_orders, offset), rng)
    lines_per_order = np.minimum(rng.geometric(BASKET_LINES_P, n_orders), MAX_LINES)
    line_shopper = np.repeat(shoppers, lines_per_order)
    line_article = model.sample_articles(line_shopper, np.full(len(line_shopper), offset), rng)
    extra_units = np.where(rng.random(len(line_article)) < EXTRA_UNIT_SHARE, rng.geometric(0.55, len(line_article)), 0)
    online = rng.random(n_orders) < model.customers.online_preference[shoppers]
    guest = rng.random(n_orders) < store.guest_order_share
    bad_line = rng.random(len(line_article)) < store.bad_quantity_share
    created = _moments(rng, day, n_orders)

    customer_ids = customer_id_array(model.customers).to_pylist()
    article_ids = article_id_array(model.catalogue).to_pylist()
    prices = dict(conn.execute("SELECT article_id, price FROM articles").fetchall())
    first_id = conn.execute("SELECT COALESCE(MAX(order_id), 0) + 1 FROM orders").fetchone()[0]

    orders, items, sold = [], [], {}
    line_index = 0
    for n in range(n_orders):
        order_id = first_id + n
        customer = None if guest[n] else customer_ids[shoppers[n]]
        orders.append((order_id, customer, "placed", ONLINE if online[n] else IN_STORE, created[n], created[n]))
        basket: dict[str, list] = {}
        for _ in range(lines_per_order[n]):
            article = article_ids[line_article[line_index]]
            quantity = 1 + int(extra_units[line_index])
            if bad_line[line_index]:
                quantity = -int(rng.integers(0, 2))  # 0 or -1, as the POS client writes corrections
                result.bad_lines += 1
            if article in basket:
                basket[article][0] += quantity
            else:
                basket[article] = [quantity]
            line_index += 1
        for line_no, (article, (quantity,)) in enumerate(basket.items(), 1):
            items.append((order_id, line_no, article, quantity, prices[article], created[n]))
            sold[article] = sold.get(article, 0) + max(quantity, 0)
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO orders (order_id, customer_id, status, sales_channel_id, created_at, updated_at) "
                           "VALUES (%s, %s, %s, %s, %s, %s)", orders)
        cursor.executemany("INSERT INTO order_items (order_id, line_no, article_id, quantity, unit_price, updated_at) "
                           "VALUES (%s, %s, %s, %s, %s, %s)", items)
        end_of_day = datetime.combine(day, time(CLOSING_HOUR), tzinfo=timezone.utc)
        cursor.executemany(
            "UPDATE articles SET stock = CASE WHEN stock - %(sold)s < %(floor)s THEN stock - LEAST(stock, %(sold)s) + %(restock)s "
            "ELSE stock - %(sold)s END, updated_at = %(at)s WHERE article_id = %(article)s",
            [{"sold": q, "floor": RESTOCK_BELOW, "restock": RESTOCK_UNITS, "at": end_of_day, "article": a}
             for a, q in sorted(sold.items())],
        )
    result.orders, result.lines = len(orders), len(items)
    result.guest_orders = int(guest.sum())


def _late_changes(conn, rng: np.random.Generator, day: date, window_days: int, share: float, result: SimulatedDay) -> None:
    start = datetime.combine(day - timedelta(days=window_days), time(0), tzinfo=timezone.utc)
    end = datetime.combine(day, time(0), tzinfo=timezone.utc)
    candidates = conn.execute(
        "SELECT order_id, status FROM orders WHERE created_at >= %s AND created_at < %s "
        "AND status NOT IN ('cancelled', 'returned') ORDER BY order_id", (start, end)).fetchall()
    if not candidates:
        return
    chosen = [candidates[i] for i in np.flatnonzero(rng.random(len(candidates)) < share)]
    moments = _moments(rng, day, len(chosen))
    status_updates, reductions = [], []
    for (order_id, status), moment in zip(chosen, moments):
        draw = rng.random()
        if status in CANCEL_SHARE and draw < CANCEL_SHARE[status]:
            new_status = "cancelled"
        elif status == "delivered":
            if draw < RETURN_SHARE:
                new_status = "returned"
            elif draw < RETURN_SHARE + LINE_REDUCTION_SHARE:
                reductions.append((moment, order_id))
                continue
            else:
                continue
        else:
            new_status = NEXT_STATUS.get(status)
            if new_status is None:
                continue
        status_updates.append((new_status, moment, order_id))
        result.changes[new_status] = result.changes.get(new_status, 0) + 1
    with conn.cursor() as cursor:
        cursor.executemany("UPDATE orders SET status = %s, updated_at = %s WHERE order_id = %s", status_updates)
        for moment, order_id in reductions:
            # a partial return: one unit of the order's first line with more than one unit
            cursor.execute(
                "UPDATE order_items SET quantity = quantity - 1, updated_at = %s WHERE (order_id, line_no) = "
                "(SELECT order_id, line_no FROM order_items WHERE order_id = %s AND quantity > 1 ORDER BY line_no LIMIT 1)",
                (moment, order_id))
            if cursor.rowcount:
                result.changes["line_reduced"] = result.changes.get("line_reduced", 0) + 1
