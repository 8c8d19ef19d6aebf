"""Synthetic H&M-schema data: `generate_hm` writes articles, customers and transactions drawn
from one seeded `TasteModel`, with the planted truth in `<out>/_truth/`.

Other generators (store orders, clickstream) should build the same model with
`TasteModel.build(scale_spec(scale), seed)` and draw from it rather than invent their own.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from fashion_pipeline.generate.calendar import FIRST_DAY, LAST_DAY, day_offset
from fashion_pipeline.generate.catalogue import price_value
from fashion_pipeline.generate.frames import articles_frame, customers_frame
from fashion_pipeline.generate.hm_writer import (
    write_articles,
    write_customers,
    write_transactions,
    write_truth,
)
from fashion_pipeline.generate.model import TasteModel, TransactionChunk
from fashion_pipeline.generate.scales import SCALES, ScaleSpec, scale_spec
from fashion_pipeline.schemas import ARTICLES, CUSTOMERS, TRANSACTIONS

__all__ = [
    "FIRST_DAY", "GenerateResult", "LAST_DAY", "SCALES", "ScaleSpec", "TasteModel",
    "TransactionChunk", "day_offset", "generate_hm", "price_value", "scale_spec", "write_curated_catalogue",
]


@dataclass(frozen=True)
class GenerateResult:
    scale: str
    seed: int
    out_dir: Path
    paths: dict[str, Path]
    row_counts: dict[str, int]
    seconds: float
    truth_paths: dict[str, Path] = field(default_factory=dict)

    @property
    def bytes_written(self) -> int:
        return sum(path.stat().st_size for path in self.paths.values())

    def summary(self) -> str:
        counts = ", ".join(f"{name} {count:,}" for name, count in self.row_counts.items())
        return (
            f"generated scale={self.scale} seed={self.seed} in {self.seconds:.1f}s: {counts} "
            f"({self.bytes_written / 1e6:,.1f} MB) -> {self.out_dir} (truth in _truth/)"
        )


def generate_hm(
    scale: str, seed: int, out_dir: str | Path, progress: bool = True
) -> GenerateResult:
    """Write articles.csv, customers.csv and transactions_train.csv for a named scale."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = TasteModel.build(scale_spec(scale), seed)
    paths = {spec.name: out_dir / spec.raw_file for spec in (ARTICLES, CUSTOMERS, TRANSACTIONS)}
    row_counts = {
        ARTICLES.name: write_articles(articles_frame(model.catalogue, model.seed), paths[ARTICLES.name]),
        CUSTOMERS.name: write_customers(customers_frame(model.customers), paths[CUSTOMERS.name]),
        TRANSACTIONS.name: write_transactions(model, paths[TRANSACTIONS.name], progress),
    }
    truth_paths = write_truth(model, out_dir, row_counts)
    return GenerateResult(
        scale=scale, seed=seed, out_dir=out_dir, paths=paths, row_counts=row_counts,
        seconds=time.perf_counter() - started, truth_paths=truth_paths,
    )


def write_curated_catalogue(scale: str, seed: int, folder: str | Path) -> Path:
    """The model's articles as a Parquet file in `folder`, with H&M's columns, for tests and
    benchmarks that need a curated catalogue without running generate -> land -> partition_raw."""
    import pyarrow.parquet as pq

    model = TasteModel.build(scale_spec(scale), seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(articles_frame(model.catalogue, model.seed), folder / "part-00000.parquet")
    return folder
