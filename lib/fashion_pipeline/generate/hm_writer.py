"""Writes a `TasteModel` as the three H&M Kaggle CSV files, plus the ground truth beside them.

Value formats follow the Kaggle files: unquoted header in Kaggle column order, `t_dat` as
YYYY-MM-DD, prices as the shortest text that reads back to the same float, FN/Active as `1.0`
or empty, age as an integer or empty, and quotes only where a value needs them (descriptions
with commas). Transactions are written one month at a time so that at most one month of row
strings exists in memory.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from tqdm import tqdm

from fashion_pipeline.generate.calendar import FIRST_DAY, LAST_DAY, day_strings
from fashion_pipeline.generate.catalogue import MAX_PRICE_POINT, price_value
from fashion_pipeline.generate.frames import article_id_array, customer_id_array
from fashion_pipeline.generate.model import TasteModel, TransactionChunk
from fashion_pipeline.schemas import (
    ARTICLES,
    ARTICLES_COLUMNS,
    CUSTOMERS,
    CUSTOMERS_COLUMNS,
    TRANSACTIONS,
    TRANSACTIONS_COLUMNS,
)

TRUTH_DIR = "_truth"
CUSTOMER_SEGMENTS_FILE = "customer_segments.csv"
SEGMENT_PREFERENCES_FILE = "segment_preferences.json"
MANIFEST_FILE = "manifest.json"
# The CSV writer must never quote: values here hold no commas, quotes or newlines, and H&M's
# files carry none. It raises if that ever stops being true instead of writing a bad file.
_UNQUOTED = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def _header(columns: tuple[str, ...]) -> bytes:
    return (",".join(columns) + "\n").encode()


# Codes H&M prints zero-padded: product_code 0108775, colour_group_code 09.
PRICE_SIGNIFICANT_DIGITS = 16
ARTICLE_CODE_WIDTHS = {"product_code": 7, "colour_group_code": 2}


def write_articles(articles: pa.Table, path: Path) -> int:
    """articles.csv; the csv module quotes the descriptions that contain commas."""
    def text(name: str, value) -> str:
        if value is None:
            return ""
        width = ARTICLE_CODE_WIDTHS.get(name)
        return str(value).zfill(width) if width else str(value)

    columns = [[text(name, value) for value in articles.column(name).to_pylist()] for name in ARTICLES_COLUMNS]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(ARTICLES_COLUMNS)
        writer.writerows(zip(*columns))
    return articles.num_rows


def customers_text_table(customers: pa.Table) -> pa.Table:
    """Customers as H&M prints them: `1.0` or empty for FN/Active, empty for missing values."""
    def one_point_zero_or_empty(column: pa.ChunkedArray) -> pa.ChunkedArray:
        return pc.if_else(pc.is_valid(column), "1.0", "")

    text = {
        "customer_id": customers.column("customer_id"),
        "FN": one_point_zero_or_empty(customers.column("FN")),
        "Active": one_point_zero_or_empty(customers.column("Active")),
        "club_member_status": pc.fill_null(customers.column("club_member_status"), ""),
        "fashion_news_frequency": pc.fill_null(customers.column("fashion_news_frequency"), ""),
        "age": pc.fill_null(pc.cast(customers.column("age"), pa.string()), ""),
        "postal_code": customers.column("postal_code"),
    }
    return pa.table({name: text[name] for name in CUSTOMERS_COLUMNS})


def write_customers(customers: pa.Table, path: Path) -> int:
    return write_text_table(customers_text_table(customers), path)


def write_text_table(text: pa.Table, path: Path) -> int:
    """A table of ready-formatted text columns as an H&M CSV: header of its column names, no quotes."""
    with open(path, "wb") as handle:
        handle.write(_header(tuple(text.column_names)))
        pa_csv.write_csv(text, handle, _UNQUOTED)
    return text.num_rows


class TransactionFormatter:
    """Turns model chunks into H&M text rows through small lookup tables: every distinct date,
    id and price is formatted once, then rows are gathered with `take`."""

    def __init__(self, model: TasteModel) -> None:
        self._dates = pa.array(day_strings())
        self._customers = customer_id_array(model.customers)
        self._articles = article_id_array(model.catalogue)
        # H&M's file prints prices with 16 significant digits (0.0508305084745762).
        self._prices = pa.array(
            [f"{float(v):.{PRICE_SIGNIFICANT_DIGITS}g}" for v in price_value(np.arange(MAX_PRICE_POINT + 1))]
        )
        self._channels = pa.array(["0", "1", "2"])

    def table(self, chunk: TransactionChunk) -> pa.Table:
        text = {
            "t_dat": self._dates.take(chunk.day),
            "customer_id": self._customers.take(chunk.customer),
            "article_id": self._articles.take(chunk.article),
            "price": self._prices.take(chunk.price_point),
            "sales_channel_id": self._channels.take(chunk.sales_channel_id),
        }
        return pa.table({name: text[name] for name in TRANSACTIONS_COLUMNS})


def write_transactions(model: TasteModel, path: Path, progress: bool = True) -> int:
    formatter = TransactionFormatter(model)
    n_rows = 0
    with open(path, "wb") as handle, tqdm(
        total=model.scale.n_transactions, unit="rows", unit_scale=True, disable=not progress,
        desc="transactions",
    ) as bar:
        handle.write(_header(TRANSACTIONS_COLUMNS))
        for chunk in model.iter_transaction_chunks():
            pa_csv.write_csv(formatter.table(chunk), handle, _UNQUOTED)
            n_rows += len(chunk)
            bar.update(len(chunk))
    return n_rows


def write_truth(model: TasteModel, out_dir: Path, row_counts: dict[str, int]) -> dict[str, Path]:
    """The planted structure, for tests and for judging recommenders: who is in which segment,
    what each segment likes, and what was generated."""
    truth_dir = out_dir / TRUTH_DIR
    truth_dir.mkdir(parents=True, exist_ok=True)
    segments_path = truth_dir / CUSTOMER_SEGMENTS_FILE
    with open(segments_path, "wb") as handle:
        handle.write(_header(("customer_id", "segment")))
        pa_csv.write_csv(
            pa.table({
                "customer_id": customer_id_array(model.customers),
                "segment": pa.array(model.customers.segment.astype(np.int64)).cast(pa.string()),
            }),
            handle, _UNQUOTED,
        )
    preferences_path = truth_dir / SEGMENT_PREFERENCES_FILE
    preferences_path.write_text(json.dumps(model.segment_preferences(), indent=1) + "\n")
    manifest_path = truth_dir / MANIFEST_FILE
    manifest = {
        "generator": "fashion_pipeline.generate",
        "scale": model.scale.name,
        "seed": model.seed,
        "row_counts": row_counts,
        "first_day": str(FIRST_DAY),
        "last_day": str(LAST_DAY),
        "n_segments": model.n_segments,
        "files": {
            ARTICLES.name: ARTICLES.raw_file,
            CUSTOMERS.name: CUSTOMERS.raw_file,
            TRANSACTIONS.name: TRANSACTIONS.raw_file,
        },
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return {"customer_segments": segments_path, "segment_preferences": preferences_path,
            "manifest": manifest_path}
