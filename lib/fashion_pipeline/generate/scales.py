"""The one table of generator scales: how many rows each named scale produces."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleSpec:
    name: str
    n_transactions: int
    n_customers: int
    n_articles: int
    purpose: str


SCALES: dict[str, ScaleSpec] = {
    spec.name: spec
    for spec in (
        ScaleSpec("tiny", 10_000, 1_000, 1_000, "unit tests; a couple of seconds"),
        ScaleSpec("small", 300_000, 30_000, 8_000, "the local demo"),
        ScaleSpec("medium", 5_200_000, 250_000, 40_000, "benchmarks"),
        # The row counts of the public H&M Kaggle files, exactly.
        ScaleSpec("hm", 31_788_324, 1_371_980, 105_542, "full H&M size"),
    )
}


def scale_spec(name: str) -> ScaleSpec:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {sorted(SCALES)}") from None
