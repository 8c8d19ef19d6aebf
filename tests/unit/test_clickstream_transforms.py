"""The streaming job's transforms on small DataFrames of Kinesis-shaped records."""
import json
from datetime import datetime, timedelta, timezone

from chispa import assert_df_equality
from pyspark.sql import functions as F

from fashion_pipeline.clickstream.contract import encode_click_event
from fashion_pipeline.clickstream.validation import click_reject_reason
from fashion_pipeline.schemas import (
    CLICK_QUARANTINE_SCHEMA,
    CURATED_CLICKS_SCHEMA,
    KINESIS_RECORD_SCHEMA,
    REJECT_REASON,
)
from fashion_pipeline.transforms.clickstream import (
    DEDUP_KEY,
    DEDUP_TIME,
    EVENT,
    flag_click_records,
    to_click_quarantine,
    to_curated_clicks,
    with_dedup_columns,
    with_unknown_articles,
)

MAX_BYTES = 4096
ARRIVED = datetime(2020, 9, 23, 10, 0, 5, tzinfo=timezone.utc)
KNOWN_ARTICLE, UNKNOWN_ARTICLE = "0706016001", "0999999999"
VIEW = {
    "event_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "event_type": "view",
    "event_time": datetime(2020, 9, 23, 9, 59, 58, 250000, tzinfo=timezone.utc), "customer_id": "a" * 64,
    "session_id": "6fa459ea-ee8a-4ca4-894e-db77e160355e", "article_id": KNOWN_ARTICLE, "price": None,
    "quantity": None, "device": "desktop", "page": "product", "referrer": "google",
}


def _event(**changes) -> bytes:
    return encode_click_event({**VIEW, **changes})


def _records(spark, payloads: list[bytes], arrived: datetime = ARRIVED):
    rows = [(payload, "fashion-clickstream", "a" * 64, str(1000 + n), arrived) for n, payload in enumerate(payloads)]
    return spark.createDataFrame(rows, KINESIS_RECORD_SCHEMA)


def test_spark_applies_exactly_the_contracts_validator(spark):
    broken = json.loads(_event())
    del broken["page"]
    payloads = [
        _event(),
        _event(event_type="purchase", price=0.05, quantity=1, page="checkout"),
        _event()[:-7],  # cut off
        json.dumps(broken).encode(),
        _event(article_id="706016001"),  # nine digits
        _event(event_type="view", quantity=2),  # a view has no quantity
        _event(referrer="x" * 5000),  # oversized
        b"\xff\xfe not utf-8",
        b"[1, 2]",
    ]
    flagged = flag_click_records(_records(spark, payloads), MAX_BYTES)
    by_sequence = {row.sequenceNumber: row[REJECT_REASON] for row in flagged.collect()}
    expected = {str(1000 + n): click_reject_reason(payload, MAX_BYTES) for n, payload in enumerate(payloads)}
    assert by_sequence == expected
    assert list(expected.values()) == [
        None, None, "invalid_json", "missing_page", "invalid_article_id", "invalid_quantity", "oversized_event",
        "invalid_json", "invalid_json",
    ]


def test_unknown_articles_are_refused_after_every_other_rule(spark):
    payloads = [_event(), _event(event_id="2b4e28ba-2fa1-41d2-883f-0016d3cca427", article_id=UNKNOWN_ARTICLE),
                _event(article_id=UNKNOWN_ARTICLE, page="nowhere")]
    articles = spark.createDataFrame([(KNOWN_ARTICLE,), (KNOWN_ARTICLE,)], "article_id string")
    checked = with_unknown_articles(flag_click_records(_records(spark, payloads), MAX_BYTES), articles)
    reasons = sorted((row.sequenceNumber, row[REJECT_REASON]) for row in checked.collect())
    assert reasons == [("1000", None), ("1001", "unknown_article_id"), ("1002", "invalid_page")]


def test_dedup_keys_events_by_id_and_every_refused_record_by_itself(spark):
    late = VIEW["event_time"] - timedelta(hours=3)
    payloads = [_event(), _event(), _event(event_time=late), b"{", b"{"]
    flagged = with_dedup_columns(flag_click_records(_records(spark, payloads), MAX_BYTES), watermark_delay_s=3600)
    rows = {row.sequenceNumber: (row[DEDUP_KEY], row[DEDUP_TIME]) for row in flagged.collect()}
    assert rows["1000"] == rows["1001"] == (VIEW["event_id"], VIEW["event_time"].replace(tzinfo=None))
    # Three hours late: de-duplicated as if it arrived half the delay ago, so it is kept.
    assert rows["1002"] == (VIEW["event_id"], (ARRIVED - timedelta(minutes=30)).replace(tzinfo=None))
    assert rows["1003"][0] != rows["1004"][0] and rows["1003"][0].startswith("record:")
    assert rows["1003"][1] == ARRIVED.replace(tzinfo=None)


def test_curated_events_carry_the_contract_their_lineage_and_partition(spark):
    flagged = flag_click_records(_records(spark, [_event()]), MAX_BYTES).filter(F.col(REJECT_REASON).isNull())
    expected = spark.createDataFrame([(
        VIEW["event_id"], "view", VIEW["event_time"], "a" * 64, VIEW["session_id"], KNOWN_ARTICLE, None, None,
        "desktop", "product", "google", "a" * 64, "1000", ARRIVED, datetime(2020, 9, 23).date(), 9,
    )], CURATED_CLICKS_SCHEMA)
    assert_df_equality(to_curated_clicks(flagged), expected, ignore_nullable=True)


def test_quarantine_keeps_the_payload_byte_for_byte(spark):
    payload = b'{"event_id": "\xff'
    flagged = flag_click_records(_records(spark, [payload]), MAX_BYTES)
    expected = spark.createDataFrame([(
        bytearray(payload), "fashion-clickstream", "a" * 64, "1000", ARRIVED, "invalid_json", datetime(2020, 9, 23).date(),
    )], CLICK_QUARANTINE_SCHEMA)
    assert_df_equality(to_click_quarantine(flagged), expected, ignore_nullable=True)
    assert EVENT in flagged.columns
