"""Real public interaction data rewritten into the H&M schema, to judge the recommender on data
that our own generator did not plant.

MovieLens 100k (GroupLens; 100,000 ratings of 1,682 films by 943 users, 1997-09-20..1998-04-22)
comes from PyPI only: the RecBole wheel ships it as "atomic files" (`ml-100k.inter`, `.item`,
`.user`, tab-separated, a `name:type` header). The wheel is downloaded at run time with pip into
`<state_dir>/datasets/` and checked against its pinned SHA-256, so everyone converts the same
bytes. RecBole's code is MIT-licensed, but the data keeps GroupLens' terms (research use,
acknowledgement, no redistribution without their permission): neither the wheel nor the converted
files are ever committed or published; each user downloads and converts them.

The mapping, one source row to one H&M row:
- user -> customer: customer_id is the SHA-256 of the dataset name and user id (64 hex, like H&M's);
  age is the user's own, kept as the data says even under 16 (validation quarantines those
  customers, and so their sales, as it would H&M's); postal_code is the SHA-256 of the zip code;
  FN, Active, club status and news frequency are blank (unknown), which the schema allows.
- film -> article: product_code 0100000 + item id, article_id that code + variant 001 (10 digits,
  the product-code prefix H&M's ids have); prod_name the title; the first listed genre is the
  product type, the full genre set the section (bit mask number, names joined by "|"), the release
  decade the department; the other required columns get H&M's own "Unknown" codes.
- rating -> one sale (whatever the rating: implicit feedback), online (sales_channel_id 2), at a
  price fixed per article (an H&M-like price point from the article id's hash).

Dates (see `day_offsets_before_run_date`): the platform evaluates on the `holdout_days` (7) days
up to the run date. So the last 10% of ratings by time (the usual temporal split of this data set)
are put into those 7 days, and the earlier 90% onto the days before, keeping their own pace (one
source day per day) so the time-decay half-lives mean what they say. Both pieces are linear in
time, hence monotone, and equal timestamps get equal days.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from fashion_pipeline.dataset import HM_LAST_DAY
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.generate.catalogue import price_value
from fashion_pipeline.generate.hm_writer import (
    MANIFEST_FILE,
    PRICE_SIGNIFICANT_DIGITS,
    TRUTH_DIR,
    write_articles,
    write_customers,
    write_text_table,
)
from fashion_pipeline.schemas import (
    ARTICLES,
    ARTICLES_COLUMNS,
    CUSTOMERS,
    CUSTOMERS_COLUMNS,
    TRANSACTIONS,
    TRANSACTIONS_COLUMNS,
)
from fashion_pipeline.storage import file_sha256

SECONDS_PER_DAY = 86_400
DEFAULT_HOLDOUT_SHARE = 0.10
DEFAULT_HOLDOUT_DAYS = 7

# MovieLens' 19 genres in their own order (u.genre); a film's first listed genre is its product type.
FILM_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)
PRODUCT_TYPE_NO_BASE = 1000
PRODUCT_CODE_BASE = 100_000
ARTICLE_VARIANT = 1
PRODUCT_GROUP_NAME = "Film"
UNKNOWN_DECADE_NO, UNKNOWN_DECADE_NAME = 0, "Unknown decade"
FILM_INDEX = {"index_code": "F", "index_name": "Films", "index_group_no": 1, "index_group_name": "Films"}
# H&M's own codes for "not recorded" in the columns a film has nothing for.
UNKNOWN_ARTICLE_COLUMNS = {
    "graphical_appearance_no": -1, "graphical_appearance_name": "Unknown",
    "colour_group_code": -1, "colour_group_name": "Unknown",
    "perceived_colour_value_id": -1, "perceived_colour_value_name": "Unknown",
    "perceived_colour_master_id": -1, "perceived_colour_master_name": "undefined",
    "garment_group_no": 1001, "garment_group_name": "Unknown",
}
# Price points (over catalogue.PRICE_DIVISOR) of 10..49: 0.017..0.083, where most H&M prices lie.
PRICE_POINT_MIN, PRICE_POINT_SPREAD = 10, 40
ONLINE_SALES_CHANNEL = "2"
ARTICLE_INTEGER_COLUMNS = frozenset(
    f.name for f in ARTICLES.curated_schema.fields if f.dataType.typeName() == "integer"
)


class PublicDatasetError(PipelineError):
    """A public data set cannot be fetched or read: unknown name, no network, unexpected bytes."""


@dataclass(frozen=True)
class PublicDataset:
    """A data set shipped inside a PyPI package, pinned to one file of one release."""

    name: str
    package: str
    version: str
    wheel_file: str
    wheel_sha256: str
    members: dict[str, str]  # interactions / items / users -> path inside the wheel
    source: str
    terms: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


_ML100K_DIR = "recbole/dataset_example/ml-100k"
PUBLIC_DATASETS = {
    "movielens-100k": PublicDataset(
        name="movielens-100k",
        package="recbole",
        version="1.2.1",
        wheel_file="recbole-1.2.1-py3-none-any.whl",
        wheel_sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
        members={
            "interactions": f"{_ML100K_DIR}/ml-100k.inter",
            "items": f"{_ML100K_DIR}/ml-100k.item",
            "users": f"{_ML100K_DIR}/ml-100k.user",
        },
        source="MovieLens 100k (F. M. Harper, J. A. Konstan, ACM TiiS 2015), as shipped in RecBole 1.2.1 (MIT)",
        terms="GroupLens terms: research use, cite the source, do not redistribute the data",
    ),
}


def public_dataset(name: str) -> PublicDataset:
    try:
        return PUBLIC_DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(PUBLIC_DATASETS))
        raise PublicDatasetError(f"unknown data set {name!r}: known data sets are {known}") from None


# ---- fetching --------------------------------------------------------------------------------

def fetch_wheel(dataset: PublicDataset, cache_dir: Path) -> Path:
    """The dataset's pinned wheel in `cache_dir`, downloaded with pip unless already there."""
    cache_dir = Path(cache_dir)
    target = cache_dir / dataset.wheel_file
    if target.is_file() and file_sha256(target)[0] == dataset.wheel_sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as download_dir:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", "--dest", download_dir, dataset.requirement,
        ]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        downloaded = Path(download_dir) / dataset.wheel_file
        if done.returncode != 0 or not downloaded.is_file():
            reason = (done.stderr.strip().splitlines() or ["no wheel came back"])[-1]
            raise PublicDatasetError(
                f"could not download {dataset.requirement} from PyPI ({reason}); check the network, "
                f"or put {dataset.wheel_file} into {cache_dir}"
            )
        digest = file_sha256(downloaded)[0]
        if digest != dataset.wheel_sha256:
            raise PublicDatasetError(
                f"{dataset.wheel_file} from PyPI has SHA-256 {digest}, expected {dataset.wheel_sha256}: "
                "not converting unexpected data"
            )
        downloaded.replace(target)
    return target


def read_wheel_members(wheel: Path, dataset: PublicDataset) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {role: archive.read(member) for role, member in dataset.members.items()}


# ---- the source format -----------------------------------------------------------------------

@dataclass(frozen=True)
class MovieLensSource:
    interactions: pd.DataFrame  # user_id, item_id (int64), timestamp (int64 seconds)
    items: pd.DataFrame  # item_id (int64), title, release_year ('' when unknown), genres (space separated)
    users: pd.DataFrame  # user_id (int64), age (str), zip_code (str)


def read_atomic_file(data: bytes) -> pd.DataFrame:
    """A RecBole atomic file: tab-separated, header `name:type`; every value kept as text."""
    frame = pd.read_csv(
        io.BytesIO(data), sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, encoding="utf-8",
    )
    frame.columns = [column.split(":", 1)[0] for column in frame.columns]
    return frame


def movielens_source(members: dict[str, bytes]) -> MovieLensSource:
    inter = read_atomic_file(members["interactions"])
    items = read_atomic_file(members["items"])
    users = read_atomic_file(members["users"])
    return MovieLensSource(
        interactions=pd.DataFrame({
            "user_id": inter["user_id"].astype(np.int64),
            "item_id": inter["item_id"].astype(np.int64),
            # Some copies write timestamps as floats ("881250949.0").
            "timestamp": inter["timestamp"].astype(float).astype(np.int64),
        }),
        items=pd.DataFrame({
            "item_id": items["item_id"].astype(np.int64),
            "title": items["movie_title"],
            "release_year": items["release_year"],
            "genres": items["class"],
        }),
        users=pd.DataFrame({
            "user_id": users["user_id"].astype(np.int64),
            "age": users["age"],
            "zip_code": users["zip_code"],
        }),
    )


# ---- dates -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DayMapping:
    """How source timestamps became days: the held-out share lands in the last `holdout_days`."""

    days_before_run_date: np.ndarray  # per row: 0 = the run date
    history_days: int  # days before the held-out ones
    held_out_rows: int
    split_timestamp: int  # the first held-out timestamp


def day_offsets_before_run_date(
    timestamps: np.ndarray,
    holdout_share: float = DEFAULT_HOLDOUT_SHARE,
    holdout_days: int = DEFAULT_HOLDOUT_DAYS,
    history_days: int | None = None,
) -> DayMapping:
    """Each timestamp's distance in days from the run date.

    The latest `holdout_share` of rows by time (rounded up; rows tied with the first of them are
    held out too, so ties stay together) are spread linearly over the last `holdout_days` days,
    the latest on the run date. The earlier rows are spread linearly over the `history_days`
    before those (default: the source's own span of them, in whole days: one source day per day),
    the earliest on the first of them. Integer arithmetic, so the same input gives the same days.
    """
    timestamps = np.asarray(timestamps, dtype=np.int64)
    if len(timestamps) == 0:
        raise PublicDatasetError("no interactions to convert")
    if not 0 < holdout_share < 1 or holdout_days < 1:
        raise PublicDatasetError(f"holdout_share must be in (0, 1) and holdout_days >= 1, got {holdout_share}, {holdout_days}")
    ordered = np.sort(timestamps)
    n_held_target = max(1, math.ceil(holdout_share * len(ordered)))
    split = int(ordered[len(ordered) - n_held_target])
    first, last = int(ordered[0]), int(ordered[-1])
    held = timestamps >= split
    days = np.empty(len(timestamps), dtype=np.int64)

    held_width = last - split + 1
    days[held] = (last - timestamps[held]) * holdout_days // held_width

    history_span = split - first
    if history_days is None:
        history_days = max(1, math.ceil(history_span / SECONDS_PER_DAY))
    if history_span > 0:
        history_offset = (timestamps[~held] - first) * history_days // history_span  # 0..history_days-1
        days[~held] = holdout_days + (history_days - 1 - history_offset)
    return DayMapping(days, history_days, int(held.sum()), split)


# ---- the H&M tables --------------------------------------------------------------------------

@dataclass(frozen=True)
class HmTables:
    articles: pa.Table  # typed, as write_articles takes it
    customers: pa.Table  # typed, as write_customers takes it
    transactions: pa.Table  # text, in TRANSACTIONS_COLUMNS order
    first_day: date
    last_day: date
    first_held_out_day: date
    history_days: int
    held_out_rows: int


def _sha256_hex(prefix: str, values) -> list[str]:
    return [hashlib.sha256(f"{prefix}{value}".encode()).hexdigest() for value in values]


def customer_ids(dataset_name: str, user_ids: np.ndarray) -> list[str]:
    return _sha256_hex(f"{dataset_name}:user:", user_ids.tolist())


def article_ids(item_ids: np.ndarray) -> np.ndarray:
    return np.array([f"{PRODUCT_CODE_BASE + item:07d}{ARTICLE_VARIANT:03d}" for item in item_ids.tolist()])


def article_prices(ids: np.ndarray) -> np.ndarray:
    """One H&M-like price per article, from its id's hash (stable across runs and machines)."""
    points = [PRICE_POINT_MIN + int(digest[:8], 16) % PRICE_POINT_SPREAD for digest in _sha256_hex("price:", ids)]
    return price_value(np.array(points))


def _genre_fields(genres_text: str) -> tuple[int, str, int, str]:
    """product_type_no/name from the first known genre; section no/name from the genre set."""
    genres = [g for g in genres_text.split() if g in FILM_GENRES] or ["unknown"]
    first = FILM_GENRES.index(genres[0])
    ordered = sorted(set(genres), key=FILM_GENRES.index)
    mask = sum(1 << FILM_GENRES.index(g) for g in ordered)
    return PRODUCT_TYPE_NO_BASE + first, genres[0], mask, "|".join(ordered)


def _decade(release_year: str) -> tuple[int, str]:
    year = release_year.strip()
    if not year.isdigit():
        return UNKNOWN_DECADE_NO, UNKNOWN_DECADE_NAME
    decade = int(year) // 10 * 10
    return decade, f"{decade}s"


def articles_table(items: pd.DataFrame) -> pa.Table:
    items = items.sort_values("item_id", kind="stable")
    item_ids = items["item_id"].to_numpy()
    genre = [_genre_fields(text) for text in items["genres"]]
    decade = [_decade(text) for text in items["release_year"]]
    n = len(items)
    columns = {
        "article_id": article_ids(item_ids).tolist(),
        "product_code": (PRODUCT_CODE_BASE + item_ids).astype(np.int64),
        "prod_name": items["title"].tolist(),
        "product_type_no": [g[0] for g in genre],
        "product_type_name": [g[1] for g in genre],
        "product_group_name": [PRODUCT_GROUP_NAME] * n,
        "department_no": [d[0] for d in decade],
        "department_name": [d[1] for d in decade],
        "section_no": [g[2] for g in genre],
        "section_name": [g[3] for g in genre],
        "detail_desc": [
            f"{title} ({year.strip() or 'year unknown'}): {' '.join(text.split()) or 'no genre'}"
            for title, year, text in zip(items["title"], items["release_year"], items["genres"])
        ],
        **{name: [value] * n for name, value in {**UNKNOWN_ARTICLE_COLUMNS, **FILM_INDEX}.items()},
    }
    return pa.table({
        name: pa.array(columns[name], pa.int64() if name in ARTICLE_INTEGER_COLUMNS else pa.string())
        for name in ARTICLES_COLUMNS
    })


def customers_table(users: pd.DataFrame, dataset_name: str) -> pa.Table:
    users = users.sort_values("user_id", kind="stable")
    ages = pd.to_numeric(users["age"], errors="coerce")
    zips = users["zip_code"].str.strip()
    n = len(users)
    blank_text = pa.nulls(n, pa.string())
    columns = {
        "customer_id": pa.array(customer_ids(dataset_name, users["user_id"].to_numpy()), pa.string()),
        "FN": pa.nulls(n, pa.float64()),
        "Active": pa.nulls(n, pa.float64()),
        "club_member_status": blank_text,
        "fashion_news_frequency": blank_text,
        "age": pa.array(ages.to_numpy(dtype=np.float64), pa.float64(), mask=ages.isna().to_numpy()).cast(pa.int64()),
        "postal_code": pa.array(
            [None if not z else h for z, h in zip(zips, _sha256_hex("zip:", zips))], pa.string()
        ),
    }
    return pa.table({name: columns[name] for name in CUSTOMERS_COLUMNS})


def transactions_table(
    interactions: pd.DataFrame, dataset_name: str, run_date: date, mapping: DayMapping
) -> pa.Table:
    """One sale per interaction, ordered by time (then user, item), as H&M's text."""
    order = np.lexsort((interactions["item_id"].to_numpy(), interactions["user_id"].to_numpy(),
                        interactions["timestamp"].to_numpy()))
    user_ids = interactions["user_id"].to_numpy()[order]
    item_ids = interactions["item_id"].to_numpy()[order]
    days = np.datetime64(run_date, "D") - mapping.days_before_run_date[order].astype("timedelta64[D]")

    distinct_users, user_position = np.unique(user_ids, return_inverse=True)
    distinct_items, item_position = np.unique(item_ids, return_inverse=True)
    distinct_articles = article_ids(distinct_items)
    prices = [f"{float(p):.{PRICE_SIGNIFICANT_DIGITS}g}" for p in article_prices(distinct_articles)]
    text = {
        "t_dat": pa.array(np.datetime_as_string(days, unit="D")),
        "customer_id": pa.array(customer_ids(dataset_name, distinct_users)).take(pa.array(user_position)),
        "article_id": pa.array(distinct_articles).take(pa.array(item_position)),
        "price": pa.array(prices).take(pa.array(item_position)),
        "sales_channel_id": pa.array([ONLINE_SALES_CHANNEL] * len(order)),
    }
    return pa.table({name: text[name] for name in TRANSACTIONS_COLUMNS})


def movielens_to_hm(
    source: MovieLensSource,
    dataset_name: str,
    run_date: date = HM_LAST_DAY,
    holdout_share: float = DEFAULT_HOLDOUT_SHARE,
    holdout_days: int = DEFAULT_HOLDOUT_DAYS,
) -> HmTables:
    mapping = day_offsets_before_run_date(source.interactions["timestamp"].to_numpy(), holdout_share, holdout_days)
    furthest = int(mapping.days_before_run_date.max())
    return HmTables(
        articles=articles_table(source.items),
        customers=customers_table(source.users, dataset_name),
        transactions=transactions_table(source.interactions, dataset_name, run_date, mapping),
        first_day=run_date - timedelta(days=furthest),
        last_day=run_date - timedelta(days=int(mapping.days_before_run_date.min())),
        first_held_out_day=run_date - timedelta(days=holdout_days - 1),
        history_days=mapping.history_days,
        held_out_rows=mapping.held_out_rows,
    )


# ---- writing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvertResult:
    dataset: str
    out_dir: Path
    row_counts: dict[str, int]
    first_day: date
    first_held_out_day: date
    last_day: date
    held_out_rows: int
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{name} {count:,}" for name, count in self.row_counts.items())
        return (
            f"converted {self.dataset} in {self.seconds:.1f}s: {counts}; sales {self.first_day}..{self.last_day}, "
            f"held-out week {self.first_held_out_day}..{self.last_day} ({self.held_out_rows:,} sales) -> {self.out_dir}"
        )


def write_hm_tables(tables: HmTables, out_dir: Path, manifest: dict) -> tuple[dict[str, Path], dict[str, int]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {spec.name: out_dir / spec.raw_file for spec in (ARTICLES, CUSTOMERS, TRANSACTIONS)}
    row_counts = {
        ARTICLES.name: write_articles(tables.articles, paths[ARTICLES.name]),
        CUSTOMERS.name: write_customers(tables.customers, paths[CUSTOMERS.name]),
        TRANSACTIONS.name: write_text_table(tables.transactions, paths[TRANSACTIONS.name]),
    }
    # The generator's manifest file, so tools that look for a finished output directory find one.
    truth_dir = out_dir / TRUTH_DIR
    truth_dir.mkdir(exist_ok=True)
    (truth_dir / MANIFEST_FILE).write_text(json.dumps({**manifest, "row_counts": row_counts}, indent=2) + "\n")
    return paths, row_counts


def convert_public_dataset(
    name: str,
    out_dir: str | Path,
    cache_dir: str | Path,
    run_date: date = HM_LAST_DAY,
    holdout_share: float = DEFAULT_HOLDOUT_SHARE,
    holdout_days: int = DEFAULT_HOLDOUT_DAYS,
) -> ConvertResult:
    """Download (once) and convert a public data set into articles/customers/transactions CSVs."""
    started = time.perf_counter()
    dataset = public_dataset(name)
    wheel = fetch_wheel(dataset, Path(cache_dir))
    tables = movielens_to_hm(movielens_source(read_wheel_members(wheel, dataset)), dataset.name, run_date,
                             holdout_share, holdout_days)
    out_dir = Path(out_dir)
    manifest = {
        "generator": __name__,
        "dataset": dataset.name,
        "source": dataset.source,
        "package": dataset.requirement,
        "package_sha256": dataset.wheel_sha256,
        "terms": dataset.terms,
        "run_date": str(run_date),
        "first_day": str(tables.first_day),
        "last_day": str(tables.last_day),
        "first_held_out_day": str(tables.first_held_out_day),
        "holdout_share": holdout_share,
        "holdout_days": holdout_days,
        "history_days": tables.history_days,
        "held_out_rows": tables.held_out_rows,
        "files": {spec.name: spec.raw_file for spec in (ARTICLES, CUSTOMERS, TRANSACTIONS)},
    }
    paths, row_counts = write_hm_tables(tables, out_dir, manifest)
    return ConvertResult(
        dataset=dataset.name, out_dir=out_dir, row_counts=row_counts, first_day=tables.first_day,
        first_held_out_day=tables.first_held_out_day, last_day=tables.last_day,
        held_out_rows=tables.held_out_rows, seconds=time.perf_counter() - started, paths=paths,
    )

