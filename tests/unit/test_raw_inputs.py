"""partition_raw runs at night only when files landed that no run has partitioned: raw_inputs must
pick the files partition_raw would read and name them as its report does."""
import subprocess
import sys
from datetime import date
from pathlib import Path

from fashion_pipeline.landing import land_directory, read_manifest
from fashion_pipeline.orchestration.raw_inputs import partition_raw_inputs, raw_files_pending
from fashion_pipeline.pipelines.partition_raw import (
    PartitionRawReport,
    TableReport,
    _fingerprint,
    _latest_snapshot,
)
from fashion_pipeline.schemas import ARTICLES, CUSTOMERS, TRANSACTIONS
from fashion_pipeline.storage import storage_for
from fashion_pipeline.tables import reports_uri
from tests.handmade import article_line, transaction_line, write_hm_files

ROOT = Path(__file__).resolve().parents[2]


def _record_partition_raw_run(config, storage) -> list[str]:
    """Write the report partition_raw writes, for the inputs its own helpers select."""
    raw_root = config.paths.raw_root
    selected = {
        ARTICLES.name: [e.uri for e in _latest_snapshot(raw_root, ARTICLES, storage)],
        CUSTOMERS.name: [e.uri for e in _latest_snapshot(raw_root, CUSTOMERS, storage)],
        TRANSACTIONS.name: [e.uri for e in read_manifest(raw_root, TRANSACTIONS.name, storage)],
    }
    report = PartitionRawReport(started_at="2020-09-23T00:00:00+00:00", tables=[
        TableReport(table, uris, 0, 0, 0, {}, "", "") for table, uris in selected.items()])
    storage.write_text(reports_uri(config, "partition_raw", f"{_fingerprint(report)}.json"), report.to_json())
    return sorted(uri for uris in selected.values() for uri in uris)


def test_nothing_landed_is_nothing_to_partition(config):
    assert not raw_files_pending(config, storage_for(config))


def test_new_files_are_pending_until_a_run_reads_exactly_them(config, tmp_path):
    storage = storage_for(config)
    land_directory(write_hm_files(tmp_path / "day1", [transaction_line()]), config.paths.raw_root, date(2020, 9, 22), storage)
    assert raw_files_pending(config, storage)

    read_by_partition_raw = _record_partition_raw_run(config, storage)
    assert sorted(partition_raw_inputs(config.paths.raw_root, storage)) == read_by_partition_raw
    assert not raw_files_pending(config, storage)

    # Landing the same bytes again lands nothing: still nothing to do.
    land_directory(tmp_path / "day1", config.paths.raw_root, date(2020, 9, 23), storage)
    assert not raw_files_pending(config, storage)

    # New sales and a new articles snapshot: the newest snapshot replaces the old one.
    write_hm_files(tmp_path / "day2", [transaction_line(t_dat="2020-09-02")],
                   articles=[article_line("0108775015", prod_name="Strap top II")])
    land_directory(tmp_path / "day2", config.paths.raw_root, date(2020, 9, 23), storage)
    assert raw_files_pending(config, storage)
    inputs = partition_raw_inputs(config.paths.raw_root, storage)
    assert len(inputs) == 4  # one articles, one customers, both transactions files
    assert sorted(inputs) == _record_partition_raw_run(config, storage)
    assert not raw_files_pending(config, storage)


def test_deciding_needs_no_spark():
    """The DAG's workers have no pyspark: importing the helper must not import it."""
    code = ("import sys, fashion_pipeline.orchestration.raw_inputs; "
            "sys.exit(1 if 'pyspark' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(ROOT / "lib")},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
