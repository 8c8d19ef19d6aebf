"""The nightly_batch DAG's local target end to end on tiny data: Airflow's dag.test() runs the real
DAG file, each job by spark-submit on this machine, against the embedded PostgreSQL and moto;
the Slack summary comes last. Then a re-run of the day has nothing new to partition."""
from __future__ import annotations

import json
from datetime import date

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.generate import generate_hm
from fashion_pipeline.landing import land_directory
from fashion_pipeline.orchestration.local_airflow import AirflowRunFailed, LocalAirflow
from fashion_pipeline.orchestration.raw_inputs import raw_files_pending
from fashion_pipeline.storage import storage_for
from fashion_pipeline.store.credentials import resolve_rds_connection
from fashion_pipeline.store.simulate import simulate_day
from fashion_pipeline.tables import reports_uri

RUN_DATE = date(2020, 9, 23)  # the shop's first day after H&M's history


def test_the_local_night_runs_every_job_by_spark_submit(store_config, moto_service, tmp_path, slack_webhook):
    moto_service.reset()
    config = store_config.with_overrides({
        "aws.endpoint_url": moto_service.address, "services.moto_port": moto_service.port,
        "store.scale": "tiny", "recs.max_iter": 3, "recs.rank": 8,
    })
    storage = storage_for(config)
    generate_hm(scale="tiny", seed=42, out_dir=tmp_path / "hm", progress=False)
    land_directory(tmp_path / "hm", config.paths.raw_root, RUN_DATE, storage)
    simulated = simulate_day(config, resolve_rds_connection(config), RUN_DATE)
    assert raw_files_pending(config, storage)

    airflow = LocalAirflow.for_config(config, extra_connections={"slack_alerts": slack_webhook.connection})
    assert airflow.test_dag("nightly_batch", RUN_DATE, timeout_s=1200) == "success"

    # Every job wrote its report for the day, from the lake the previous one left.
    extract = json.loads(storage.read_text(reports_uri(config, "extract_rds", f"run_date={RUN_DATE}.json")))
    published = extract["published"]["orders"]
    assert 0 < published <= simulated.orders
    assert storage.exists(reports_uri(config, "daily_aggregates", f"run_date={RUN_DATE}.json"))
    assert storage.exists(reports_uri(config, "recs", f"train_als-{RUN_DATE}.json"))
    checks = list(storage.list_files(reports_uri(config, "dq", f"run_date={RUN_DATE}"), suffix=".json"))
    assert checks and all(json.loads(storage.read_text(uri))["status"] != "fail" for uri in checks)
    served = aws_client("dynamodb", config).scan(TableName=config.names.recommendations_table, Limit=5)
    assert served["Items"], "load_recommendations wrote nothing to DynamoDB"
    assert not raw_files_pending(config, storage)  # partition_raw's report now carries these files

    (summary,) = slack_webhook.received
    text = summary["text"]
    assert text.startswith(f"fashion-pipeline night of {RUN_DATE}")
    assert f"store orders: {published:,} orders" in text and "checks pass" in text


def test_an_unknown_dag_is_one_line_naming_the_dags_there(config, capfd):
    with pytest.raises(AirflowRunFailed, match="cannot run no_such_dag"):
        LocalAirflow.for_config(config).test_dag("no_such_dag", RUN_DATE, timeout_s=300)
    err = capfd.readouterr().err
    assert "no DAG no_such_dag in" in err and "clickstream_5min, nightly_batch" in err
