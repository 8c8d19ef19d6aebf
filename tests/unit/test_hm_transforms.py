from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from fashion_pipeline.schemas import (
    ARTICLES_COLUMNS,
    CUSTOMERS_COLUMNS,
    REJECT_REASON,
    TRANSACTIONS,
    TRANSACTIONS_COLUMNS,
    raw_string_schema,
)
from fashion_pipeline.transforms.hm import (
    TRANSACTION_VALUES,
    flag_articles,
    flag_customers,
    flag_transactions,
    flag_valued_transactions,
    to_curated_customers,
    to_curated_transactions,
    valued_to_curated_transactions,
    year_month,
)
from fashion_pipeline.transforms.validation import Rule, with_reject_reason

CUSTOMER_A = "a" * 64
CUSTOMER_B = "b" * 64
UNKNOWN_CUSTOMER = "c" * 64
ARTICLE_1 = "0108775015"
UNKNOWN_ARTICLE = "0999999001"
MIN_DATE, MAX_DATE, MAX_PRICE = date(2018, 9, 20), date(2020, 9, 22), 1.0


def _raw(spark, columns, rows):
    """Rows as they come out of the CSV reader: strings, plus lineage columns."""
    schema = raw_string_schema(columns)
    df = spark.createDataFrame([(*row, None) for row in rows], schema)
    return df.withColumn("_source_file", F.lit("file:/raw/x.csv")).withColumn("_ingest_date", F.lit("2020-09-23"))


def _reasons(df):
    return [row[REJECT_REASON] for row in df.orderBy("_row").select(REJECT_REASON).collect()]


def test_first_broken_rule_names_the_reason(spark):
    df = spark.createDataFrame([(1, -5), (2, 0), (3, 7)], "id int, value int")
    rules = [Rule("negative", F.col("value") < 0), Rule("not_positive", F.col("value") <= 0)]
    expected = spark.createDataFrame(
        [(1, -5, "negative"), (2, 0, "not_positive"), (3, 7, None)], "id int, value int, _reject_reason string"
    )
    assert_df_equality(df.transform(with_reject_reason(rules)), expected, ignore_row_order=True)


@pytest.mark.parametrize(
    "row, reason",
    [
        (("2020-09-01", CUSTOMER_A, ARTICLE_1, "0.05", "2"), None),
        (("2020-09-01", CUSTOMER_A, ARTICLE_1, "0.05", None), "missing_sales_channel_id"),
        (("2020-13-45", CUSTOMER_A, ARTICLE_1, "0.05", "1"), "invalid_t_dat"),
        (("01/09/2020", CUSTOMER_A, ARTICLE_1, "0.05", "1"), "invalid_t_dat"),
        (("2017-01-01", CUSTOMER_A, ARTICLE_1, "0.05", "1"), "t_dat_out_of_range"),
        (("2020-09-01", "ABC", ARTICLE_1, "0.05", "1"), "invalid_customer_id"),
        (("2020-09-01", CUSTOMER_A, "108775015", "0.05", "1"), "invalid_article_id"),
        (("2020-09-01", CUSTOMER_A, ARTICLE_1, "free", "1"), "invalid_price"),
        (("2020-09-01", CUSTOMER_A, ARTICLE_1, "-0.01", "1"), "invalid_price"),
        (("2020-09-01", CUSTOMER_A, ARTICLE_1, "NaN", "1"), "invalid_price"),
        (("2020-09-01", CUSTOMER_A, ARTICLE_1, "0.05", "3"), "invalid_sales_channel_id"),
        (("2020-09-01", UNKNOWN_CUSTOMER, ARTICLE_1, "0.05", "1"), "unknown_customer_id"),
        (("2020-09-01", CUSTOMER_A, UNKNOWN_ARTICLE, "0.05", "1"), "unknown_article_id"),
    ],
)
def test_transaction_rules(spark, row, reason):
    raw_df = _raw(spark, TRANSACTIONS_COLUMNS, [row])
    articles_df = spark.createDataFrame([(ARTICLE_1,)], "article_id string")
    customers_df = spark.createDataFrame([(CUSTOMER_A,), (CUSTOMER_B,)], "customer_id string")
    flagged = flag_transactions(raw_df, articles_df, customers_df, MIN_DATE, MAX_DATE, MAX_PRICE)
    assert [r[REJECT_REASON] for r in flagged.collect()] == [reason]
    assert flagged.columns == raw_df.columns + [REJECT_REASON]


def test_identical_transaction_rows_are_all_kept(spark):
    unit = ("2020-09-01", CUSTOMER_A, ARTICLE_1, "0.0508305084745762", "2")
    raw_df = _raw(spark, TRANSACTIONS_COLUMNS, [unit, unit, unit])
    articles_df = spark.createDataFrame([(ARTICLE_1,)], "article_id string")
    customers_df = spark.createDataFrame([(CUSTOMER_A,)], "customer_id string")
    flagged = flag_transactions(raw_df, articles_df, customers_df, MIN_DATE, MAX_DATE, MAX_PRICE)
    assert flagged.filter(F.col(REJECT_REASON).isNull()).count() == 3


def test_curated_transactions_are_typed_and_partitioned_by_month(spark):
    raw_df = spark.createDataFrame(
        [("2019-12-31", CUSTOMER_A, ARTICLE_1, "0.0508305084745762", "2")], raw_string_schema(TRANSACTIONS_COLUMNS, False)
    )
    expected = spark.createDataFrame(
        [(date(2019, 12, 31), CUSTOMER_A, ARTICLE_1, 0.0508305084745762, 2, "2019-12")], TRANSACTIONS.curated_schema
    )
    assert_df_equality(to_curated_transactions(raw_df), expected, ignore_nullable=True)


def test_customer_rules_and_duplicates(spark):
    good = (CUSTOMER_A, "1.0", "1.0", "ACTIVE", "Regularly", "25", "d" * 64)
    rows = [
        good,
        good,  # the same customer twice: one survives
        (CUSTOMER_B, None, None, "MAYBE", None, "30", None),
        ("e" * 64, None, None, None, None, "twelve", None),
        ("f" * 64, "yes", None, None, None, None, None),
        ("1" * 64, None, None, None, None, "7", None),
    ]
    raw_df = _raw(spark, CUSTOMERS_COLUMNS, rows)
    reasons = sorted((r["customer_id"], str(r[REJECT_REASON])) for r in flag_customers(raw_df).collect())
    assert reasons == sorted([
        (CUSTOMER_A, "None"), (CUSTOMER_A, "duplicate_customer_id"), (CUSTOMER_B, "invalid_club_member_status"),
        ("e" * 64, "invalid_age"), ("f" * 64, "invalid_fn"), ("1" * 64, "invalid_age"),
    ])


def test_curated_customers_turn_flags_into_booleans(spark):
    raw_df = spark.createDataFrame(
        [(CUSTOMER_A, "1.0", None, "ACTIVE", "NONE", "49", "d" * 64), (CUSTOMER_B, None, None, None, None, None, None)],
        raw_string_schema(CUSTOMERS_COLUMNS, False),
    )
    expected = spark.createDataFrame(
        [(CUSTOMER_A, True, None, "ACTIVE", "NONE", 49, "d" * 64), (CUSTOMER_B, None, None, None, None, None, None)],
        "customer_id string, fn boolean, active boolean, club_member_status string, "
        "fashion_news_frequency string, age int, postal_code string",
    )
    assert_df_equality(to_curated_customers(raw_df), expected, ignore_nullable=True, ignore_row_order=True)


def _article(article_id=ARTICLE_1, product_code="0108775", product_type_no="253"):
    values = dict.fromkeys(ARTICLES_COLUMNS, "x")
    numeric = [c for c in ARTICLES_COLUMNS if c.endswith(("_no", "_code", "_id")) and c not in ("article_id", "index_code")]
    values.update({c: "1" for c in numeric})
    values.update(article_id=article_id, product_code=product_code, product_type_no=product_type_no, index_code="A")
    return tuple(values[c] for c in ARTICLES_COLUMNS)


def test_article_rules(spark):
    rows = [
        _article(),
        _article(article_id="0108775016", product_code="108775"),  # product_code without zero padding is fine
        _article(article_id="0200000001", product_code="0108775"),
        _article(article_id="0108775017", product_type_no="two"),
        _article(),
    ]
    raw_df = _raw(spark, ARTICLES_COLUMNS, rows)
    reasons = sorted((r["article_id"], str(r[REJECT_REASON])) for r in flag_articles(raw_df).collect())
    assert reasons == sorted([
        (ARTICLE_1, "None"), ("0108775016", "None"), ("0200000001", "product_code_mismatch"),
        ("0108775017", "invalid_product_type_no"), (ARTICLE_1, "duplicate_article_id"),
    ])


def test_year_month_writes_what_date_format_writes(spark):
    days = [date(2018, 9, 20), date(2019, 1, 1), date(2019, 12, 31), date(2020, 2, 29), date(2020, 9, 22),
            date(1000, 1, 1), date(9999, 12, 31)]
    df = spark.createDataFrame([(d,) for d in days], "day date")
    rows = df.select(year_month(F.col("day")).alias("ours"), F.date_format("day", "yyyy-MM").alias("spark")).collect()
    assert [r.ours for r in rows] == [r.spark for r in rows]
    assert rows[0].ours == "2018-09"


def test_flagging_with_values_keeps_the_parse_for_the_curated_rows(spark):
    rows = [
        ("2019-12-31", CUSTOMER_A, ARTICLE_1, "0.0508305084745762", "2"),
        ("2020-09-1 ", CUSTOMER_A, ARTICLE_1, "0.05", "1"),   # valid: the cast trims, the shape holds
        ("2020-09-01", CUSTOMER_B, ARTICLE_1, " 0.5", "1"),
        ("2020-13-01", CUSTOMER_A, ARTICLE_1, "0.05", "1"),   # invalid_t_dat
        ("2020-09-01", CUSTOMER_A, ARTICLE_1, "1.5", "1"),    # invalid_price
    ]
    raw_df = _raw(spark, TRANSACTIONS_COLUMNS, rows)
    articles_df = spark.createDataFrame([(ARTICLE_1,)], "article_id string")
    customers_df = spark.createDataFrame([(CUSTOMER_A,), (CUSTOMER_B,)], "customer_id string")
    args = (articles_df, customers_df, MIN_DATE, MAX_DATE, MAX_PRICE)

    valued = flag_valued_transactions(raw_df, *args)
    assert valued.columns == raw_df.columns + list(TRANSACTION_VALUES) + [REJECT_REASON]
    assert_df_equality(valued.drop(*TRANSACTION_VALUES), flag_transactions(raw_df, *args), ignore_row_order=True)
    assert sorted((r["t_dat"], r["price"], str(r[REJECT_REASON])) for r in valued.collect()) == sorted([
        ("2019-12-31", "0.0508305084745762", "None"), ("2020-09-1 ", "0.05", "None"), ("2020-09-01", " 0.5", "None"),
        ("2020-13-01", "0.05", "invalid_t_dat"), ("2020-09-01", "1.5", "invalid_price"),
    ])
    valid = valued.filter(F.col(REJECT_REASON).isNull()).drop(REJECT_REASON)
    assert_df_equality(
        valued_to_curated_transactions(valid),
        to_curated_transactions(valid.drop(*TRANSACTION_VALUES)),
        ignore_row_order=True,
    )
    assert sorted(r.year_month for r in valued_to_curated_transactions(valid).collect()) == ["2019-12", "2020-09", "2020-09"]
