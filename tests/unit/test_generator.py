"""The synthetic H&M generator: file formats, exact sizes, determinism and the planted taste."""
from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from fashion_pipeline.generate import SCALES, TasteModel, generate_hm, scale_spec
from fashion_pipeline.generate.calendar import day_offset
from fashion_pipeline.schemas import ARTICLES_COLUMNS, CUSTOMERS_COLUMNS, TRANSACTIONS_COLUMNS

SEED = 7
HEX64 = re.compile(r"[0-9a-f]{64}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FIRST_DAY, LAST_DAY = date(2018, 9, 20), date(2020, 9, 22)
FILES = ("articles.csv", "customers.csv", "transactions_train.csv")


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split(",")
        handle.seek(0)
        return header, list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("tiny")
    generate_hm("tiny", SEED, out_dir, progress=False)
    return out_dir


@pytest.fixture(scope="module")
def tables(tiny_dir: Path) -> dict[str, list[dict[str, str]]]:
    return {name: _read(tiny_dir / name)[1] for name in FILES}


@pytest.fixture(scope="module")
def truth(tiny_dir: Path) -> dict:
    segments_of = {row["customer_id"]: int(row["segment"])
                   for row in _read(tiny_dir / "_truth" / "customer_segments.csv")[1]}
    preferences = json.loads((tiny_dir / "_truth" / "segment_preferences.json").read_text())
    manifest = json.loads((tiny_dir / "_truth" / "manifest.json").read_text())
    return {"segments_of": segments_of, "preferences": preferences, "manifest": manifest}


@pytest.mark.parametrize(
    "file_name, columns",
    [("articles.csv", ARTICLES_COLUMNS), ("customers.csv", CUSTOMERS_COLUMNS),
     ("transactions_train.csv", TRANSACTIONS_COLUMNS)],
)
def test_headers_are_the_kaggle_headers_exactly(tiny_dir: Path, file_name: str, columns) -> None:
    first_line = (tiny_dir / file_name).read_bytes().split(b"\n", 1)[0]
    assert first_line == ",".join(columns).encode()


def test_row_counts_follow_the_scale_table(tables, truth) -> None:
    tiny = SCALES["tiny"]
    assert len(tables["articles.csv"]) == tiny.n_articles
    assert len(tables["customers.csv"]) == tiny.n_customers
    assert len(tables["transactions_train.csv"]) == tiny.n_transactions
    assert truth["manifest"]["row_counts"] == {
        "articles": tiny.n_articles, "customers": tiny.n_customers,
        "transactions": tiny.n_transactions,
    }


def test_article_formats_and_hierarchy(tables) -> None:
    articles = tables["articles.csv"]
    ids = [row["article_id"] for row in articles]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    index_group_of_code = {}
    for row in articles:
        assert re.fullmatch(r"\d{10}", row["article_id"]), row["article_id"]
        assert row["article_id"][:7] == row["product_code"]
        assert re.fullmatch(r"\d{2}|-1", row["colour_group_code"]), row["colour_group_code"]
        assert row["index_code"] in "ABCDEFGHIJ"
        assert index_group_of_code.setdefault(row["index_code"], row["index_group_name"]) \
            == row["index_group_name"]
        assert row["prod_name"]
    products = defaultdict(set)
    for row in articles:
        products[row["product_code"]].add((row["prod_name"], row["product_type_no"]))
    assert all(len(variants) == 1 for variants in products.values()), "variants share a product"
    assert len(products) < len(articles), "some products have several colour variants"
    assert any("," in row["detail_desc"] for row in articles)


def test_customer_formats(tables) -> None:
    customers = tables["customers.csv"]
    for row in customers:
        assert HEX64.fullmatch(row["customer_id"])
        assert HEX64.fullmatch(row["postal_code"])
        assert row["FN"] in ("", "1.0") and row["Active"] in ("", "1.0")
        assert row["club_member_status"] in ("ACTIVE", "PRE-CREATE", "LEFT CLUB", "")
        assert row["fashion_news_frequency"] in ("NONE", "Regularly", "Monthly", "", "None")
        assert row["age"] == "" or 16 <= int(row["age"]) <= 99
    ages = [int(row["age"]) for row in customers if row["age"]]
    assert sum(a < 30 for a in ages) > 0.3 * len(ages), "a young mode"
    assert sum(a >= 45 for a in ages) > 0.15 * len(ages), "an older mode"
    biggest_postal_share = Counter(row["postal_code"] for row in customers).most_common(1)[0][1]
    assert biggest_postal_share > 0.03 * len(customers), "some postal codes are heavily shared"


def test_transaction_formats_and_references(tables) -> None:
    article_ids = {row["article_id"] for row in tables["articles.csv"]}
    customer_ids = {row["customer_id"] for row in tables["customers.csv"]}
    transactions = tables["transactions_train.csv"]
    for row in transactions:
        assert DATE.fullmatch(row["t_dat"])
        assert FIRST_DAY <= date.fromisoformat(row["t_dat"]) <= LAST_DAY
        price = float(row["price"])
        assert 0 < price < 1 and f"{price:.16g}" == row["price"], row["price"]
        assert row["sales_channel_id"] in ("1", "2")
        assert row["article_id"] in article_ids
        assert row["customer_id"] in customer_ids
    days = [row["t_dat"] for row in transactions]
    assert days == sorted(days)
    assert days[0] == "2018-09-20" and days[-1] == "2020-09-22"
    assert {row["sales_channel_id"] for row in transactions} == {"1", "2"}


def test_same_seed_is_byte_identical_and_another_seed_differs(
    tiny_dir: Path, tmp_path: Path
) -> None:
    # A second run, with the progress bar on, must not change a byte.
    generate_hm("tiny", SEED, tmp_path / "again", progress=True)
    generate_hm("tiny", SEED + 1, tmp_path / "other", progress=False)
    for name in FILES + ("_truth/customer_segments.csv", "_truth/segment_preferences.json",
                         "_truth/manifest.json"):
        assert (tmp_path / "again" / name).read_bytes() == (tiny_dir / name).read_bytes(), name
    for name in FILES:
        assert (tmp_path / "other" / name).read_bytes() != (tiny_dir / name).read_bytes(), name


def test_purchases_follow_the_planted_segment_taste(tables, truth) -> None:
    type_of_article = {row["article_id"]: int(row["product_type_no"])
                       for row in tables["articles.csv"]}
    catalogue_types = Counter(type_of_article.values())
    top3 = {p["segment"]: {t["no"] for t in p["top_product_types"][:3]}
            for p in truth["preferences"]}
    in_top3 = 0
    random_choice_expectation = 0.0
    transactions = tables["transactions_train.csv"]
    for row in transactions:
        favourites = top3[truth["segments_of"][row["customer_id"]]]
        in_top3 += type_of_article[row["article_id"]] in favourites
        favourite_articles = sum(catalogue_types[t] for t in favourites)
        random_choice_expectation += favourite_articles / len(type_of_article)
    observed_share = in_top3 / len(transactions)
    random_share = random_choice_expectation / len(transactions)
    assert observed_share > 0.15
    assert observed_share > 4 * random_share, (observed_share, random_share)


def test_customers_repurchase_articles_on_later_days(tables) -> None:
    days_of_pair = defaultdict(set)
    for row in tables["transactions_train.csv"]:
        days_of_pair[(row["customer_id"], row["article_id"])].add(row["t_dat"])
    repurchased = sum(len(days) > 1 for days in days_of_pair.values())
    # Taste alone makes ~15-18% of pairs recur at this scale; deliberate repurchases add more.
    assert repurchased > 0.21 * len(days_of_pair)


def test_multi_unit_purchases_are_identical_rows(tiny_dir: Path) -> None:
    lines = (tiny_dir / "transactions_train.csv").read_text().splitlines()[1:]
    repeated_rows = sum(count - 1 for count in Counter(lines).values() if count > 1)
    # Same-basket picks of one article give ~10% at this scale; multi-unit lines about as many.
    assert 0.14 * len(lines) < repeated_rows < 0.3 * len(lines)


def test_weekends_sell_more_than_early_weekdays(tables) -> None:
    per_weekday = Counter(date.fromisoformat(row["t_dat"]).weekday()
                          for row in tables["transactions_train.csv"])
    weekend = (per_weekday[5] + per_weekday[6]) / 2
    monday_to_wednesday = (per_weekday[0] + per_weekday[1] + per_weekday[2]) / 3
    assert weekend > 1.15 * monday_to_wednesday


def test_basket_customers_buy_several_items_a_day(tables) -> None:
    rows_per_visit = Counter((row["customer_id"], row["t_dat"])
                             for row in tables["transactions_train.csv"])
    assert sum(rows_per_visit.values()) / len(rows_per_visit) > 2.0


def test_model_samplers_respect_launch_and_join_dates() -> None:
    model = TasteModel.build(scale_spec("tiny"), SEED)
    rng = np.random.default_rng(0)
    days = rng.integers(0, day_offset("2020-09-22") + 1, size=5_000)
    customers = model.sample_customers(days, rng)
    assert np.all(model.customers.join_day[customers] <= days)
    articles = model.sample_articles(customers, days, rng)
    assert np.all(model.catalogue.launch_day[articles] <= days)
    weights = model.article_weights(segment=0, day=100)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all(weights[model.catalogue.launch_day > 100] == 0)


def test_transaction_chunks_are_monthly_exact_and_repeatable() -> None:
    model = TasteModel.build(scale_spec("tiny"), SEED)
    first = list(model.iter_transaction_chunks())
    second = list(model.iter_transaction_chunks())
    assert [chunk.month for chunk in first][:2] == ["2018-09", "2018-10"]
    assert len(first) == 25
    assert sum(len(chunk) for chunk in first) == SCALES["tiny"].n_transactions
    for a, b in zip(first, second):
        assert np.array_equal(a.article, b.article) and np.array_equal(a.customer, b.customer)


def test_unknown_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        generate_hm("huge", SEED, tmp_path, progress=False)
