"""Validation and typing of the raw H&M tables: raw string rows in, a reason or a typed row out.

Dimension rows (articles, customers) are quarantined only when they cannot be kept: malformed, or
with a missing, invalid or duplicate key. A bad attribute of a row with a sound key is nulled and
recorded instead (`*_attribute_rules`), so the sales that reference the row are not lost with it.
"""
from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fashion_pipeline.schemas import (
    ARTICLES,
    ATTRIBUTE_ISSUE_TABLE,
    ATTRIBUTE_ISSUES,
    ATTRIBUTE_ISSUES_SCHEMA,
    CORRUPT_RECORD,
    CUSTOMERS,
    INGEST_DATE,
    REJECT_REASON,
    SOURCE_FILE,
    TRANSACTIONS,
)
from fashion_pipeline.transforms.validation import (
    HEX_64,
    AttributeRule,
    Rule,
    filter_rejected,
    filter_valid,
    missing_attribute_rules,
    missing_rules,
    not_integer,
    outside,
    with_attribute_issues,
    with_broken_attributes_nulled,
    with_duplicate_key_rule,
    with_reject_reason,
)

ARTICLE_ID_PATTERN = r"^[0-9]{10}$"
PRODUCT_CODE_DIGITS = 7
SALES_CHANNELS = ("1", "2")
CLUB_MEMBER_STATUSES = ("ACTIVE", "PRE-CREATE", "LEFT CLUB")
# H&M's file spells "no news" both ways; both are kept as they came.
NEWS_FREQUENCIES = ("NONE", "None", "Regularly", "Monthly")
FLAG_TRUE_VALUES = ("1.0", "1")
MIN_CUSTOMER_AGE, MAX_CUSTOMER_AGE = 16, 110
_KNOWN = "_known"
# Parsed values of a transaction's text, carried from the rules to the curated row.
T_DAT_VALUE, PRICE_VALUE = "_t_dat_value", "_price_value"
TRANSACTION_VALUES = (T_DAT_VALUE, PRICE_VALUE)

ARTICLE_INTEGER_COLUMNS = tuple(
    field.name for field in ARTICLES.curated_schema.fields if field.dataType.typeName() == "integer"
)
# H&M fills every article column but the description: a blank one is recorded (and nulled).
ARTICLE_EXPECTED_ATTRIBUTES = tuple(
    column for column in ARTICLES.raw_columns if column not in (*ARTICLES.primary_key, "detail_desc")
)


def _malformed_rule() -> Rule:
    # Spark fills _corrupt_record when a line has too few or too many fields.
    return Rule("malformed_line", F.col(CORRUPT_RECORD).isNotNull())


def _lineage_order() -> list[Column]:
    return [F.col(INGEST_DATE).desc_nulls_last(), F.col(SOURCE_FILE)]


# ---- articles ---------------------------------------------------------------------------------

def article_row_rules() -> list[Rule]:
    """An article that cannot be kept: the row is quarantined."""
    return [
        _malformed_rule(),
        *missing_rules(ARTICLES.primary_key),
        Rule("invalid_article_id", ~F.col("article_id").rlike(ARTICLE_ID_PATTERN)),
    ]


def article_attribute_rules() -> list[AttributeRule]:
    """Values an article with a sound id is kept without: nulled and recorded."""
    return [
        *missing_attribute_rules(ARTICLE_EXPECTED_ATTRIBUTES),
        *[AttributeRule(column, f"invalid_{column}", not_integer(column)) for column in ARTICLE_INTEGER_COLUMNS],
        # The product code is the article id's first digits: when they disagree, the id (the key
        # the sales use) is kept and the code dropped.
        AttributeRule(
            "product_code",
            "product_code_mismatch",
            F.substring("article_id", 1, PRODUCT_CODE_DIGITS)
            != F.lpad(F.col("product_code").try_cast("int").cast("string"), PRODUCT_CODE_DIGITS, "0"),
        ),
    ]


def flag_articles(raw_df: DataFrame) -> DataFrame:
    """Raw article rows with `_reject_reason` and `_attribute_issues`."""
    return (
        raw_df.transform(with_reject_reason(article_row_rules()))
        .transform(with_attribute_issues(article_attribute_rules()))
        .transform(with_duplicate_key_rule("article_id", "duplicate_article_id", _row_order(ARTICLES.raw_columns)))
    )


def to_curated_articles(valid_df: DataFrame) -> DataFrame:
    """Typed articles from valid flagged rows, their broken attributes nulled."""
    typed = [
        F.col(field.name).try_cast(field.dataType).alias(field.name)
        if field.name in ARTICLE_INTEGER_COLUMNS else F.col(field.name)
        for field in ARTICLES.curated_schema.fields
    ]
    return valid_df.transform(with_broken_attributes_nulled(article_attribute_rules())).select(*typed)


# ---- customers --------------------------------------------------------------------------------

def customer_row_rules() -> list[Rule]:
    """A customer that cannot be kept: the row is quarantined."""
    return [
        _malformed_rule(),
        *missing_rules(CUSTOMERS.primary_key),
        Rule("invalid_customer_id", ~F.col("customer_id").rlike(HEX_64)),
    ]


def customer_attribute_rules() -> list[AttributeRule]:
    """Values a customer with a sound id is kept without: nulled and recorded."""
    age = F.col("age").try_cast("int")
    return [
        AttributeRule("FN", "invalid_fn", outside(F.col("FN"), FLAG_TRUE_VALUES)),
        AttributeRule("Active", "invalid_active", outside(F.col("Active"), FLAG_TRUE_VALUES)),
        AttributeRule("club_member_status", "invalid_club_member_status",
                      outside(F.col("club_member_status"), CLUB_MEMBER_STATUSES)),
        AttributeRule("fashion_news_frequency", "invalid_fashion_news_frequency",
                      outside(F.col("fashion_news_frequency"), NEWS_FREQUENCIES)),
        AttributeRule("age", "invalid_age",
                      F.col("age").isNotNull() & (age.isNull() | ~age.between(MIN_CUSTOMER_AGE, MAX_CUSTOMER_AGE))),
        AttributeRule("postal_code", "invalid_postal_code",
                      F.col("postal_code").isNotNull() & ~F.col("postal_code").rlike(HEX_64)),
    ]


def flag_customers(raw_df: DataFrame) -> DataFrame:
    """Raw customer rows with `_reject_reason` and `_attribute_issues`."""
    return (
        raw_df.transform(with_reject_reason(customer_row_rules()))
        .transform(with_attribute_issues(customer_attribute_rules()))
        .transform(with_duplicate_key_rule("customer_id", "duplicate_customer_id", _row_order(CUSTOMERS.raw_columns)))
    )


def to_curated_customers(valid_df: DataFrame) -> DataFrame:
    """Typed customers from valid flagged rows, their broken attributes nulled."""
    return valid_df.transform(with_broken_attributes_nulled(customer_attribute_rules())).select(
        F.col("customer_id"),
        _flag("FN").alias("fn"),
        _flag("Active").alias("active"),
        F.col("club_member_status"),
        F.col("fashion_news_frequency"),
        F.col("age").try_cast("int").alias("age"),
        F.col("postal_code"),
    )


def _flag(column: str) -> Column:
    """H&M's '1.0' or blank becomes true or null: a blank says nothing, it is not a 'no'."""
    return F.when(F.col(column).isin(*FLAG_TRUE_VALUES), F.lit(True))


# ---- transactions -----------------------------------------------------------------------------

def flag_transactions(
    raw_df: DataFrame,
    known_articles_df: DataFrame,
    known_customers_df: DataFrame,
    min_date: date,
    max_date: date,
    max_price: float,
) -> DataFrame:
    """Raw transaction rows with `_reject_reason`."""
    return flag_valued_transactions(
        raw_df, known_articles_df, known_customers_df, min_date, max_date, max_price
    ).drop(*TRANSACTION_VALUES)


def flag_valued_transactions(
    raw_df: DataFrame,
    known_articles_df: DataFrame,
    known_customers_df: DataFrame,
    min_date: date,
    max_date: date,
    max_price: float,
) -> DataFrame:
    """`flag_transactions` keeping the parsed values (`with_transaction_values`), so that
    `valued_to_curated_transactions` does not parse them again."""
    t_dat, price = F.col(T_DAT_VALUE), F.col(PRICE_VALUE)
    customer_known = F.col(f"{_KNOWN}_customer").isNotNull()
    article_known = F.col(f"{_KNOWN}_article").isNotNull()
    # A known id is well formed: the dimension tables hold only validated ids. So the format
    # regexes, the costliest rules (each converts the value to a Java string), run only for the
    # few ids that are not known, to name the precise reason.
    rules = [
        _malformed_rule(),
        *missing_rules(TRANSACTIONS.raw_columns),
        # The shape check keeps the cast honest: casts also accept "2020-9-1" or a time part.
        Rule("invalid_t_dat", ~_is_iso_date_text("t_dat") | t_dat.isNull()),
        Rule("t_dat_out_of_range", ~t_dat.between(F.lit(min_date), F.lit(max_date))),
        Rule("invalid_customer_id", ~customer_known & ~F.col("customer_id").rlike(HEX_64)),
        Rule("invalid_article_id", ~article_known & ~F.col("article_id").rlike(ARTICLE_ID_PATTERN)),
        Rule("invalid_price", price.isNull() | F.isnan(price) | (price <= 0) | (price > F.lit(max_price))),
        Rule("invalid_sales_channel_id", ~F.col("sales_channel_id").isin(*SALES_CHANNELS)),
        Rule("unknown_customer_id", ~customer_known),
        Rule("unknown_article_id", ~article_known),
    ]
    return (
        raw_df.transform(with_transaction_values)
        .transform(with_known_key("customer_id", known_customers_df, f"{_KNOWN}_customer"))
        .transform(with_known_key("article_id", known_articles_df, f"{_KNOWN}_article"))
        .transform(with_reject_reason(rules))
        .drop(f"{_KNOWN}_customer", f"{_KNOWN}_article")
    )


def with_transaction_values(raw_df: DataFrame) -> DataFrame:
    """Adds the date and price parsed from their text (null where they do not parse), once.

    A cast written inside the rules would be evaluated again by each condition that reads it (Spark
    does not share expressions between the branches of the reason's CASE WHENs): four times for a
    valid price, whose parse is the costliest step after the CSV parser (16-digit prices take the
    JDK's slow big-number path). Spark keeps this projection separate because its outputs are read
    more than once.
    """
    return raw_df.withColumn(T_DAT_VALUE, F.col("t_dat").try_cast("date")).withColumn(
        PRICE_VALUE, F.col("price").try_cast("double")
    )


def _is_iso_date_text(column: str) -> Column:
    """The YYYY-MM-DD shape, checked by position rather than by a regex, which would convert every
    value to a Java string. With the date cast it admits only real dates in that shape, or odd
    years (+020-09-01) that the range rule then rejects."""
    text = F.col(column)
    return (F.length(text) == 10) & (F.substring(text, 5, 1) == "-") & (F.substring(text, 8, 1) == "-")


def with_known_key(column: str, known_df: DataFrame, flag_column: str, known_unique: bool = False):
    """Adds `flag_column` = true where `column` is a key of `known_df`, null otherwise.

    The join runs on a 64-bit hash of the key, so that even 1.4M customer ids broadcast as 11 MB
    instead of 130 MB of strings; a false match needs a hash collision with a known key
    (about 1 in 10^13 per row at H&M scale). `known_unique`: `known_df` holds each key once (a
    primary key), so the hashes are broadcast as they are, without a shuffle to drop repeats;
    two known keys with one hash (about 1 in 10^7 for 1.4M keys) would then repeat a row.
    """

    def transform(df: DataFrame) -> DataFrame:
        hash_column = f"{flag_column}_hash"
        hashes_df = known_df.select(F.xxhash64(column).alias(hash_column))
        known_hashes = (hashes_df if known_unique else hashes_df.distinct()).withColumn(flag_column, F.lit(True))
        return (
            df.withColumn(hash_column, F.xxhash64(column))
            .join(F.broadcast(known_hashes), on=hash_column, how="left")
            .drop(hash_column)
        )

    return transform


def to_curated_transactions(valid_df: DataFrame) -> DataFrame:
    """Typed, month-partitioned rows from valid raw rows."""
    return valued_to_curated_transactions(with_transaction_values(valid_df))


def valued_to_curated_transactions(valid_df: DataFrame) -> DataFrame:
    """Typed, month-partitioned rows from valid rows that carry their parsed values."""
    t_dat = F.col(T_DAT_VALUE)
    return valid_df.select(
        t_dat.alias("t_dat"),
        F.col("customer_id"),
        F.col("article_id"),
        F.col(PRICE_VALUE).alias("price"),
        F.col("sales_channel_id").cast("int").alias("sales_channel_id"),
        year_month(t_dat).alias("year_month"),
    )


def year_month(day: Column) -> Column:
    """'YYYY-MM' of a date, as date_format(day, 'yyyy-MM') writes it for years 1000-9999 (validated
    dates are), from the date's numbers: the general formatter costs several times more per row."""
    return F.concat(
        F.lpad(F.year(day).cast("string"), 4, "0"), F.lit("-"), F.lpad(F.month(day).cast("string"), 2, "0")
    )


def to_quarantine(flagged_df: DataFrame, raw_columns: tuple[str, ...]) -> DataFrame:
    """Rejected rows exactly as they arrived, with where they came from and why."""
    return filter_rejected(flagged_df).select(*raw_columns, CORRUPT_RECORD, SOURCE_FILE, INGEST_DATE, REJECT_REASON)


def to_attribute_issues(flagged_df: DataFrame, key: str) -> DataFrame:
    """One row per attribute nulled in the rows kept (ATTRIBUTE_ISSUES_SCHEMA, less the table name
    it is filed under). Rejected rows are not listed: the quarantine holds them whole."""
    columns = [f.name for f in ATTRIBUTE_ISSUES_SCHEMA.fields if f.name != ATTRIBUTE_ISSUE_TABLE]
    return (
        filter_valid(flagged_df)
        .select(F.col(key).alias("key"), F.explode(ATTRIBUTE_ISSUES).alias("issue"), SOURCE_FILE, INGEST_DATE)
        .select("key", "issue.*", SOURCE_FILE, INGEST_DATE)
        .select(*columns)
    )


def _row_order(raw_columns: tuple[str, ...]) -> list[Column]:
    # Deterministic across runs: newest landing first, then the row with the fewest broken
    # attributes, then the row's own values.
    return _lineage_order() + [F.size(ATTRIBUTE_ISSUES)] + [F.col(c).asc_nulls_last() for c in raw_columns]
