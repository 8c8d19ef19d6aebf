"""MovieLens (RecBole atomic files) -> H&M schema: the mapping, the dates, exactness and determinism,
on a tiny hand-written input in the source format (no download)."""
from __future__ import annotations

import csv
import json
import re
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from fashion_pipeline.generate import public_datasets
from fashion_pipeline.generate.public_datasets import (
    PublicDatasetError,
    day_offsets_before_run_date,
    movielens_source,
    movielens_to_hm,
    write_hm_tables,
)
from fashion_pipeline.lake import read_raw_csv
from fashion_pipeline.schemas import ARTICLES, ATTRIBUTE_ISSUES, CUSTOMERS, REJECT_REASON, TRANSACTIONS
from fashion_pipeline.storage import file_sha256
from fashion_pipeline.transforms.hm import (
    flag_articles,
    flag_customers,
    flag_transactions,
    to_curated_articles,
    to_curated_customers,
    to_curated_transactions,
)

DAY = 86_400
T0 = 874_724_710  # 1997-09-20
RUN_DATE = date(2020, 9, 22)
YOUNG_USER = 3

INTER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
    f"{user}\t{item}\t{rating}\t{timestamp}\n"
    for user, item, rating, timestamp in [
        (1, 10, 5, T0), (2, 10, 3, T0), (1, 20, 4, T0 + 1 * DAY), (2, 30, 1, T0 + 2 * DAY),
        (3, 20, 4, T0 + 3 * DAY), (1, 30, 2, T0 + 10 * DAY), (4, 40, 5, T0 + 10 * DAY + 60),
        (2, 40, 4, T0 + 19 * DAY), (3, 10, 3, T0 + 20 * DAY),  # 9 earlier rows over 20 days
        (4, 10, 4, T0 + 30 * DAY),  # the latest 10%: 1 row of 10
    ]
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tToy Story\t1995\tAnimation Children's Comedy\n"
    "20\tMisérables, Les\t1995\tDrama Musical\n"
    "30\t\"Quoted\" Title\t\tunknown\n"
    "40\tNo Genre\t1960\t\n"
)
USER = (
    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n3\t12\tF\tstudent\tT8H1N\n4\t33\tM\twriter\t15213\n"
)
MEMBERS = {"interactions": INTER.encode(), "items": ITEM.encode(), "users": USER.encode()}


def _convert(out_dir: Path, run_date: date = RUN_DATE) -> dict[str, int]:
    tables = movielens_to_hm(movielens_source(MEMBERS), "movielens-100k", run_date)
    return write_hm_tables(tables, out_dir, {"dataset": "movielens-100k"})[1]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("ml")
    _convert(out_dir)
    return out_dir


def test_row_counts_and_manifest(converted: Path) -> None:
    manifest = json.loads((converted / "_truth" / "manifest.json").read_text())
    assert manifest["row_counts"] == {"articles": 4, "customers": 4, "transactions": 10}


@pytest.mark.parametrize("spec", [ARTICLES, CUSTOMERS, TRANSACTIONS], ids=lambda s: s.name)
def test_headers_are_the_kaggle_headers_exactly(converted: Path, spec) -> None:
    assert (converted / spec.raw_file).read_bytes().split(b"\n", 1)[0] == ",".join(spec.raw_columns).encode()


def test_users_become_customers(converted: Path) -> None:
    customers = _rows(converted / "customers.csv")
    assert [c["age"] for c in customers] == ["24", "53", "12", "33"]  # kept as the data says, even under 16
    assert all(re.fullmatch(r"[0-9a-f]{64}", c["customer_id"]) for c in customers)
    assert all(re.fullmatch(r"[0-9a-f]{64}", c["postal_code"]) for c in customers)
    assert len({c["customer_id"] for c in customers}) == 4
    assert {c["FN"] + c["Active"] + c["club_member_status"] + c["fashion_news_frequency"] for c in customers} == {""}


def test_films_become_articles(converted: Path) -> None:
    articles = {a["prod_name"]: a for a in _rows(converted / "articles.csv")}
    toy = articles["Toy Story"]
    assert (toy["article_id"], toy["product_code"]) == ("0100010001", "0100010")
    assert (toy["product_type_name"], toy["section_name"], toy["department_name"]) == (
        "Animation", "Animation|Children's|Comedy", "1990s")
    assert articles["Misérables, Les"]["product_type_name"] == "Drama"
    assert articles['"Quoted" Title']["department_name"] == "Unknown decade"
    assert articles["No Genre"]["product_type_name"] == "unknown"


def test_sales_one_per_interaction_in_time_order(converted: Path) -> None:
    sales = _rows(converted / "transactions_train.csv")
    assert len(sales) == 10
    assert [s["t_dat"] for s in sales] == sorted(s["t_dat"] for s in sales)
    assert {s["sales_channel_id"] for s in sales} == {"2"}
    price_of = {}
    for sale in sales:
        assert price_of.setdefault(sale["article_id"], sale["price"]) == sale["price"]  # one price per article
        assert 0 < float(sale["price"]) <= 0.1
    # The latest 10% (one row) alone in the held-out week, on the run date.
    assert sales[-1]["t_dat"] == "2020-09-22" and sales[-2]["t_dat"] < "2020-09-16"


def test_same_input_gives_byte_identical_files(converted: Path, tmp_path: Path) -> None:
    _convert(tmp_path)
    for spec in (ARTICLES, CUSTOMERS, TRANSACTIONS):
        assert (tmp_path / spec.raw_file).read_bytes() == (converted / spec.raw_file).read_bytes()


def test_the_files_pass_the_platforms_validation_with_the_under_16s_age_nulled(spark, converted: Path) -> None:
    def flagged(spec, flag):
        return flag(read_raw_csv(spark, spec, [str(converted / spec.raw_file)])).cache()

    articles_df = flagged(ARTICLES, flag_articles)
    customers_df = flagged(CUSTOMERS, flag_customers)
    valid_articles = articles_df.filter(F.col(REJECT_REASON).isNull())
    valid_customers = customers_df.filter(F.col(REJECT_REASON).isNull())
    sales_df = flagged(TRANSACTIONS, lambda df: flag_transactions(
        df, valid_articles, valid_customers, date(2018, 9, 20), RUN_DATE, 1.0))

    assert articles_df.filter(F.col(REJECT_REASON).isNotNull()).count() == 0
    # The under-16 customer keeps its row (age to be nulled, recorded), so its two sales survive.
    assert customers_df.filter(F.col(REJECT_REASON).isNotNull()).count() == 0
    issues = customers_df.select(F.explode(ATTRIBUTE_ISSUES).alias("issue")).select("issue.column_name", "issue.original_value")
    assert [tuple(r) for r in issues.collect()] == [("age", "12")]
    reasons = {r[0]: r[1] for r in sales_df.groupBy(REJECT_REASON).count().collect()}
    assert reasons == {None: 10}
    # Typed as the curated schemas say.
    drop = [REJECT_REASON, "_corrupt_record", "_source_file", "_ingest_date"]
    assert to_curated_articles(valid_articles.drop(*drop)).schema.simpleString() == ARTICLES.curated_schema.simpleString()
    assert to_curated_customers(valid_customers.drop(*drop)).schema.simpleString() == CUSTOMERS.curated_schema.simpleString()
    curated_sales = to_curated_transactions(sales_df.filter(F.col(REJECT_REASON).isNull()))
    assert curated_sales.schema.simpleString() == TRANSACTIONS.curated_schema.simpleString()


# ---- the date mapping -------------------------------------------------------------------------

def _shuffled_timestamps(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Bursts of equal timestamps, like ratings entered in one sitting.
    return rng.choice(T0 + rng.integers(0, 200 * DAY, size=300), size=2_000)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_day_mapping_is_monotone_and_keeps_ties(seed: int) -> None:
    timestamps = _shuffled_timestamps(seed)
    days = day_offsets_before_run_date(timestamps).days_before_run_date
    order = np.argsort(timestamps, kind="stable")
    assert np.all(np.diff(days[order]) <= 0)  # later never maps to an earlier day
    for value in np.unique(timestamps):
        assert len(np.unique(days[timestamps == value])) == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_latest_tenth_fills_the_last_seven_days_and_nothing_else_does(seed: int) -> None:
    timestamps = _shuffled_timestamps(seed)
    mapping = day_offsets_before_run_date(timestamps)
    days = mapping.days_before_run_date
    held = days < 7
    assert held.sum() == mapping.held_out_rows >= 200  # at least 10%, more only through ties at the split
    assert timestamps[held].min() > timestamps[~held].max()
    boundary = timestamps[held].min()
    assert (timestamps[~held] < boundary).all() and held.sum() - 200 < (timestamps == boundary).sum()
    assert days.min() == 0 and days[timestamps.argmin()] == 7 + mapping.history_days - 1


def test_the_earlier_days_keep_the_source_pace() -> None:
    timestamps = np.array([T0, T0 + DAY, T0 + 5 * DAY, T0 + 9 * DAY + 5, T0 + 10 * DAY, T0 + 12 * DAY])
    mapping = day_offsets_before_run_date(timestamps, holdout_share=0.15)  # the last row held out
    assert mapping.history_days == 12  # the 12 source days before the held-out row
    assert mapping.days_before_run_date.tolist() == [18, 17, 13, 9, 8, 0]


def test_the_run_date_is_where_the_data_ends(tmp_path: Path) -> None:
    _convert(tmp_path, run_date=date(2021, 1, 31))
    assert _rows(tmp_path / "transactions_train.csv")[-1]["t_dat"] == "2021-01-31"


# ---- fetching ----------------------------------------------------------------------------------

def _fake_dataset(tmp_path: Path):
    wheel = tmp_path / "source" / "fake-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        for role, data in MEMBERS.items():
            archive.writestr(f"fake/{role}.txt", data)
    dataset = public_datasets.PublicDataset(
        name="fake", package="fake", version="1.0", wheel_file=wheel.name, wheel_sha256=file_sha256(wheel)[0],
        members={role: f"fake/{role}.txt" for role in MEMBERS}, source="test", terms="test",
    )
    return wheel, dataset


def test_a_cached_wheel_with_the_pinned_hash_is_used_without_pip(tmp_path: Path, monkeypatch) -> None:
    wheel, dataset = _fake_dataset(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / wheel.name).write_bytes(wheel.read_bytes())
    monkeypatch.setattr(public_datasets.subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))
    fetched = public_datasets.fetch_wheel(dataset, cache)
    assert public_datasets.read_wheel_members(fetched, dataset) == MEMBERS


def test_a_failed_download_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch) -> None:
    _, dataset = _fake_dataset(tmp_path)

    class Failed:
        returncode, stderr = 1, "ERROR: Could not find a version that satisfies the requirement fake==1.0\n"

    monkeypatch.setattr(public_datasets.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(PublicDatasetError, match=r"could not download fake==1.0 .* put fake-1.0-py3-none-any.whl into") as error:
        public_datasets.fetch_wheel(dataset, tmp_path / "cache")
    assert "\n" not in str(error.value)


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(PublicDatasetError, match="known data sets are movielens-100k"):
        public_datasets.public_dataset("netflix")
