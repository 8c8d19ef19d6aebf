from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from fashion_pipeline.schemas import (
    ARTICLES_COLUMNS,
    ATTRIBUTE_ISSUES,
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
    to_attribute_issues,
    to_curated_articles,
    to_curated_customers,
    to_curated_transactions,
    valued_to_curated_transactions,
    year_month,
)
from fashion_pipeline.transforms.validation import (
    AttributeRule,
    Rule,
    filter_valid,
    with_attribute_issues,
    with_broken_attributes_nulled,
    with_reject_reason,
)

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


CURATED_CUSTOMERS_DDL = (
    "customer_id string, fn boolean, active boolean, club_member_status string, "
    "fashion_news_frequency string, age int, postal_code string"
)
ISSUES_DDL = "key string, column_name string, original_value string, reason string, _source_file string, _ingest_date string"


def _issues(spark, rows):
    return spark.createDataFrame([(*row, "file:/raw/x.csv", "2020-09-23") for row in rows], ISSUES_DDL)


def test_customer_rules_and_duplicates(spark):
    good = (CUSTOMER_A, "1.0", "1.0", "ACTIVE", "Regularly", "25", "d" * 64)
    rows = [
        good,
        good,  # the same customer twice: one survives
        (CUSTOMER_B, None, None, "MAYBE", None, "30", None),
        ("e" * 64, None, None, None, None, "twelve", None),
        ("f" * 64, "yes", None, None, None, None, None),
        ("1" * 64, None, None, None, None, "7", None),
        ("ABC", None, None, None, None, "7", None),  # a bad key is quarantined, whatever else is wrong
        (None, None, None, "ACTIVE", None, "30", None),
    ]
    raw_df = _raw(spark, CUSTOMERS_COLUMNS, rows)
    flagged = [(r["customer_id"], str(r[REJECT_REASON]), [i.reason for i in r[ATTRIBUTE_ISSUES]])
               for r in flag_customers(raw_df).collect()]
    assert sorted(flagged, key=str) == sorted([
        (CUSTOMER_A, "None", []), (CUSTOMER_A, "duplicate_customer_id", []),
        (CUSTOMER_B, "None", ["invalid_club_member_status"]), ("e" * 64, "None", ["invalid_age"]),
        ("f" * 64, "None", ["invalid_fn"]), ("1" * 64, "None", ["invalid_age"]),
        ("ABC", "invalid_customer_id", ["invalid_age"]), (None, "missing_customer_id", []),
    ], key=str)


def test_a_customer_with_a_bad_attribute_is_kept_without_it(spark):
    rows = [
        (CUSTOMER_A, "1.0", "yes", "ACTIVE", "Regularly", "12", "d" * 64),
        (CUSTOMER_B, "1.0", None, "ACTIVE", "NONE", "49", "not-a-hash"),
        ("ABC", None, None, None, None, "12", None),
    ]
    valid_df = filter_valid(flag_customers(_raw(spark, CUSTOMERS_COLUMNS, rows)))
    expected_curated = spark.createDataFrame(
        [(CUSTOMER_A, True, None, "ACTIVE", "Regularly", None, "d" * 64), (CUSTOMER_B, True, None, "ACTIVE", "NONE", 49, None)],
        CURATED_CUSTOMERS_DDL,
    )
    assert_df_equality(to_curated_customers(valid_df), expected_curated, ignore_nullable=True, ignore_row_order=True)
    expected_issues = _issues(spark, [
        (CUSTOMER_A, "Active", "yes", "invalid_active"), (CUSTOMER_A, "age", "12", "invalid_age"),
        (CUSTOMER_B, "postal_code", "not-a-hash", "invalid_postal_code"),
    ])
    assert_df_equality(to_attribute_issues(flag_customers(_raw(spark, CUSTOMERS_COLUMNS, rows)), "customer_id"),
                       expected_issues, ignore_nullable=True, ignore_row_order=True)


def test_of_duplicate_customers_the_one_with_fewer_bad_attributes_is_kept(spark):
    rows = [(CUSTOMER_A, None, None, "ACTIVE", None, "12", None), (CUSTOMER_A, None, None, "ACTIVE", None, "30", None)]
    flagged = flag_customers(_raw(spark, CUSTOMERS_COLUMNS, rows))
    assert sorted((r["age"], str(r[REJECT_REASON])) for r in flagged.collect()) == [
        ("12", "duplicate_customer_id"), ("30", "None")
    ]
    assert to_attribute_issues(flagged, "customer_id").count() == 0


def test_curated_customers_turn_flags_into_booleans(spark):
    rows = [(CUSTOMER_A, "1.0", None, "ACTIVE", "NONE", "49", "d" * 64), (CUSTOMER_B, None, None, None, None, None, None)]
    valid_df = filter_valid(flag_customers(_raw(spark, CUSTOMERS_COLUMNS, rows)))
    expected = spark.createDataFrame(
        [(CUSTOMER_A, True, None, "ACTIVE", "NONE", 49, "d" * 64), (CUSTOMER_B, None, None, None, None, None, None)],
        CURATED_CUSTOMERS_DDL,
    )
    assert_df_equality(to_curated_customers(valid_df), expected, ignore_nullable=True, ignore_row_order=True)


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
        _article(article_id="0108775018", product_type_no="  "),  # blank: missing, not also invalid
        _article(),
        _article(article_id="108775019"),
    ]
    raw_df = _raw(spark, ARTICLES_COLUMNS, rows)
    flagged = sorted((r["article_id"], str(r[REJECT_REASON]), [i.reason for i in r[ATTRIBUTE_ISSUES]])
                     for r in flag_articles(raw_df).collect())
    assert flagged == sorted([
        (ARTICLE_1, "None", []), ("0108775016", "None", []), ("0200000001", "None", ["product_code_mismatch"]),
        ("0108775017", "None", ["invalid_product_type_no"]), ("0108775018", "None", ["missing_product_type_no"]),
        (ARTICLE_1, "duplicate_article_id", []), ("108775019", "invalid_article_id", ["product_code_mismatch"]),
    ])


def test_an_article_with_bad_attributes_is_kept_without_them(spark):
    values = dict(zip(ARTICLES_COLUMNS, _article(article_id="0200000001", product_code="0108775", product_type_no="two")))
    values["prod_name"] = None
    raw_df = _raw(spark, ARTICLES_COLUMNS, [tuple(values[c] for c in ARTICLES_COLUMNS)])
    flagged_df = flag_articles(raw_df)
    curated = to_curated_articles(filter_valid(flagged_df)).first().asDict()
    assert (curated["product_code"], curated["prod_name"], curated["product_type_no"]) == (None, None, None)
    assert curated["product_type_name"] == "x" and curated["colour_group_code"] == 1
    expected_issues = _issues(spark, [
        ("0200000001", "product_code", "0108775", "product_code_mismatch"),
        ("0200000001", "prod_name", None, "missing_prod_name"),
        ("0200000001", "product_type_no", "two", "invalid_product_type_no"),
    ])
    assert_df_equality(to_attribute_issues(flagged_df, "article_id"), expected_issues,
                       ignore_nullable=True, ignore_row_order=True)


def test_attribute_rules_null_only_the_broken_attribute_once(spark):
    df = spark.createDataFrame([(1, "-5", "a"), (2, "7", "zz"), (3, "x", "b")], "id int, value string, label string")
    rules = [
        AttributeRule("value", "not_a_number", F.col("value").try_cast("int").isNull()),
        AttributeRule("value", "negative", F.col("value").try_cast("int") < 0),
        AttributeRule("label", "too_long", F.length("label") > 1),
    ]
    flagged = df.transform(with_attribute_issues(rules))
    issues = {r["id"]: [tuple(i) for i in r[ATTRIBUTE_ISSUES]] for r in flagged.collect()}
    assert issues == {1: [("value", "-5", "negative")], 2: [("label", "zz", "too_long")], 3: [("value", "x", "not_a_number")]}
    expected = spark.createDataFrame([(1, None, "a"), (2, "7", None), (3, None, "b")], "id int, value string, label string")
    assert_df_equality(flagged.transform(with_broken_attributes_nulled(rules)).drop(ATTRIBUTE_ISSUES), expected,
                       ignore_row_order=True)


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
