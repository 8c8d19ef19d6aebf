from datetime import date

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.landing import LandingError, land_directory, read_manifest
from fashion_pipeline.storage import storage_for
from tests.handmade import transaction_line, write_hm_files


def test_landing_twice_even_on_another_day_lands_once(tmp_path, config):
    source = write_hm_files(tmp_path / "src", [transaction_line()])
    storage = storage_for(config)
    first = land_directory(source, config.paths.raw_root, date(2020, 9, 23), storage)
    again = land_directory(source, config.paths.raw_root, date(2020, 9, 24), storage)
    assert [o.landed for o in first] == [True, True, True]
    assert [o.landed for o in again] == [False, False, False]
    entries = read_manifest(config.paths.raw_root, "transactions", storage)
    assert len(entries) == 1 and entries[0].ingest_date == "2020-09-23"
    assert "/hm/transactions/ingest_date=2020-09-23/transactions_train_" in entries[0].uri
    landed = list((tmp_path / "raw" / "hm" / "transactions").rglob("*.csv"))
    assert len(landed) == 1 and landed[0].read_bytes() == (source / "transactions_train.csv").read_bytes()


def test_new_content_lands_beside_the_old(tmp_path, config):
    storage = storage_for(config)
    land_directory(write_hm_files(tmp_path / "a", [transaction_line()]), config.paths.raw_root, date(2020, 9, 23), storage)
    land_directory(write_hm_files(tmp_path / "b", [transaction_line(t_dat="2020-09-02")]), config.paths.raw_root, date(2020, 9, 24), storage)
    assert [e.ingest_date for e in read_manifest(config.paths.raw_root, "transactions", storage)] == ["2020-09-23", "2020-09-24"]
    # articles and customers were byte-identical: still one each
    assert len(read_manifest(config.paths.raw_root, "articles", storage)) == 1


def test_wrong_header_is_a_clear_error(tmp_path, config):
    source = write_hm_files(tmp_path / "src", [transaction_line()])
    (source / "transactions_train.csv").write_text("date,customer,article\n2020-09-01,a,b\n")
    with pytest.raises(LandingError, match="does not match the H&M transactions schema"):
        land_directory(source, config.paths.raw_root, date(2020, 9, 23), storage_for(config))


def test_empty_directory_is_a_clear_error(tmp_path, config):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LandingError, match="nothing to land"):
        land_directory(tmp_path / "empty", config.paths.raw_root, date(2020, 9, 23), storage_for(config))


def test_landing_to_s3(tmp_path, aws_config):
    s3 = aws_client("s3", aws_config)
    s3.create_bucket(Bucket="fashion-raw-test")
    config = aws_config.with_overrides({"paths.raw_root": "s3://fashion-raw-test/raw"})
    source = write_hm_files(tmp_path / "src", [transaction_line(), transaction_line()])
    storage = storage_for(config)
    first = land_directory(source, config.paths.raw_root, date(2020, 9, 23), storage)
    again = land_directory(source, config.paths.raw_root, date(2020, 9, 30), storage)
    assert all(o.landed for o in first) and not any(o.landed for o in again)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="fashion-raw-test")["Contents"])
    assert len([k for k in keys if k.endswith(".csv")]) == 3
    assert len([k for k in keys if "/_manifest/" in k]) == 3
    entry = read_manifest(config.paths.raw_root, "transactions", storage)[0]
    body = s3.get_object(Bucket="fashion-raw-test", Key=entry.uri.removeprefix("s3://fashion-raw-test/"))["Body"].read()
    assert body == (source / "transactions_train.csv").read_bytes()
