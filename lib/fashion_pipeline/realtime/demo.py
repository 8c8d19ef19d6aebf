"""The fast path's part of `make demo`: a customer's 12 items, a short browsing session of a style
they never bought, the Lambda handler run by the local event source mapping, the 12 items again.

Needs what the recommender's demo leaves: the curated tables, a train_als run and its items
loaded into DynamoDB (moto), and the clickstream stream (`fashion services up` creates it).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.console import demo_step, say
from fashion_pipeline.errors import PipelineError

SESSION_ARTICLES = 4
STYLE_WINDOW_DAYS = 28  # the new style's articles: its best sellers of the last four weeks


def run_realtime_demo(config: Config, spark: SparkSession, customer_id: str | None = None,
                      run_date: date | None = None, step_prefix: str = "8") -> dict:
    """Print the before/after lists of one customer around a browsing session; returns figures for
    the demo's summary. `customer_id` defaults to the first customer with a nightly ALS item."""
    from fashion_pipeline.aws import aws_client
    from fashion_pipeline.clickstream.producer import PutRecordsSender, ensure_clickstream_stream
    from fashion_pipeline.realtime.commands import ensure_fast_path_resources
    from fashion_pipeline.realtime.event_source import CheckpointStore, LocalEventSourceMapping, MappingSettings
    from fashion_pipeline.realtime.lambda_handler import FastPath
    from fashion_pipeline.realtime.settings import RealtimeSettings
    from fashion_pipeline.recs.reader import read_recommendations
    from fashion_pipeline.recs.show import article_names, format_recommendations

    ensure_clickstream_stream(config)
    ensure_fast_path_resources(config)
    run_date = run_date or _latest_run_date(spark, config)
    customer_id = customer_id or _a_customer_with_als_items(spark, config, run_date)

    def show(title: str):
        with demo_step(title):
            served = read_recommendations(config, customer_id)
            say(format_recommendations(served, article_names(config, [i.article_id for i in served.items])))
            return served

    before = show(f"{step_prefix}a. what the website shows {customer_id[:12]}... now (nightly list)")
    style, articles = new_style_for(spark, config, customer_id, run_date)

    with demo_step(f"{step_prefix}b. a browsing session of a style never bought: {style}"):
        events = session_clicks(customer_id, articles, datetime.now(timezone.utc))
        # The mapping starts at the stream's end (LATEST) before the clicks are sent, so the demo's
        # Lambda sees this session only, not whatever the stream held before.
        fast_path = FastPath(RealtimeSettings.from_config(config), aws_client("dynamodb", config))
        mapping = LocalEventSourceMapping(
            aws_client("kinesis", config), aws_client("sqs", config), fast_path,
            MappingSettings.from_config(config, starting_position="LATEST", poll_interval_s=0.2),
            CheckpointStore(None),
        ).open()
        sender = PutRecordsSender(aws_client("kinesis", config), config.names.clickstream_stream,
                                  config.clickstream.put_max_attempts, config.clickstream.backoff_base_s,
                                  config.clickstream.backoff_max_s, endpoint_url=config.aws.endpoint_url)
        outcome = sender.send([_outgoing(event) for event in events])
        for event in events:
            say(f"{event.event_time:%H:%M:%S} {event.event_type:<12} {event.article_id}")
        say(f"{len(outcome.accepted)} clicks sent to {config.names.clickstream_stream}")

    with demo_step(f"{step_prefix}c. fashion lambda run-local: the event source mapping invokes the handler"):
        report = mapping.run(until_idle=True, max_seconds=60)
        say(report.line())
        say(fast_path.totals_line())

    after = show(f"{step_prefix}d. the same customer's list a moment later (real-time items first)")
    session_items = [i.article_id for i in after.items if i.reason == "session"]
    return {
        "customer": customer_id, "style": style, "session_articles": [e.article_id for e in events],
        "before_top3": [i.article_id for i in before.items[:3]], "after_top3": [i.article_id for i in after.items[:3]],
        "session_items": session_items, "invocations": len(report.invocations),
    }


def new_style_for(spark: SparkSession, config: Config, customer_id: str, run_date: date) -> tuple[str, list[str]]:
    """A product type the customer never bought, among those with articles the nightly run knows
    (they have neighbours), and its best sellers of the last weeks (at most SESSION_ARTICLES)."""
    from fashion_pipeline.lake import read_table
    from fashion_pipeline.tables import ARTICLES_TABLE, ITEM_NEIGHBORS_TABLE, TRANSACTIONS_TABLE, read_lake_table

    # An article whose type partition_raw nulled stands for no style.
    articles_df = (read_lake_table(spark, config, ARTICLES_TABLE).select("article_id", "product_type_name")
                   .filter(F.col("product_type_name").isNotNull()))
    transactions_df = read_lake_table(spark, config, TRANSACTIONS_TABLE)
    owned_df = (transactions_df.filter(F.col("customer_id") == customer_id)
                .join(articles_df, on="article_id", how="inner").select("product_type_name").distinct())
    known_df = (read_table(spark, ITEM_NEIGHBORS_TABLE.uri(config)).filter(F.col("run_date") == F.lit(run_date))
                .select("article_id"))
    recent_df = (transactions_df.filter(F.col("t_dat") > F.date_sub(F.lit(run_date), STYLE_WINDOW_DAYS))
                 .groupBy("article_id").agg(F.count(F.lit(1)).alias("units")))
    ranked_df = (
        recent_df.join(known_df, on="article_id", how="inner")
        .join(articles_df, on="article_id", how="inner")
        .join(owned_df, on="product_type_name", how="left_anti")
    )
    # The style with the most units sold lately; at most a handful of rows come back.
    best = ranked_df.groupBy("product_type_name").agg(F.sum("units").alias("units")) \
        .orderBy(F.desc("units"), "product_type_name").first()
    if best is None:
        raise PipelineError(f"customer {customer_id} has bought every style the nightly run knows: pick another")
    style = best["product_type_name"]
    top = (ranked_df.filter(F.col("product_type_name") == style).orderBy(F.desc("units"), "article_id")
           .limit(SESSION_ARTICLES).collect())
    return style, [row["article_id"] for row in top]


def session_clicks(customer_id: str, articles: list[str], now: datetime) -> list:
    """A minute or two of browsing ending now: one product view of each article, 20 s apart.
    (Views of equal weight keep all of them on top; an add to cart would weigh one article three
    times and, the rule scaling the session by its best article, push the others down.)"""
    from fashion_pipeline.clickstream.contract import VIEW
    from fashion_pipeline.clickstream.events import ClickEvent

    session_id = str(uuid.uuid4())
    start = now.replace(microsecond=0) - timedelta(seconds=20 * len(articles))
    return [
        ClickEvent(str(uuid.uuid4()), VIEW, start + timedelta(seconds=20 * n), customer_id, session_id, article,
                   None, None, "mobile_app", "product", "instagram" if n == 0 else "internal:category")
        for n, article in enumerate(articles)
    ]


def _outgoing(event):
    from fashion_pipeline.clickstream.faults import EVENT, OutgoingRecord

    return OutgoingRecord(event.to_json(), event.partition_key, EVENT, event.event_id)


def _latest_run_date(spark: SparkSession, config: Config) -> date:
    from fashion_pipeline.lake import read_table
    from fashion_pipeline.tables import RECOMMENDATIONS_TABLE

    return read_table(spark, RECOMMENDATIONS_TABLE.uri(config)).agg(F.max("run_date")).first()[0]


def _a_customer_with_als_items(spark: SparkSession, config: Config, run_date: date) -> str:
    from fashion_pipeline.lake import read_table
    from fashion_pipeline.tables import RECOMMENDATIONS_TABLE

    row = (read_table(spark, RECOMMENDATIONS_TABLE.uri(config))
           .filter((F.col("run_date") == F.lit(run_date)) & F.array_contains("items.reason", "als"))
           .select("customer_id").orderBy("customer_id").first())
    return row["customer_id"]
