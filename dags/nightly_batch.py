"""Airflow DAG nightly_batch: at 00:01 UTC, the day that ended through the nightly jobs (built by
fashion_pipeline.orchestration.dags). FASHION_ENV picks the target: emr on MWAA, local here."""
from fashion_pipeline.orchestration.dags import nightly_batch_dag

dag = nightly_batch_dag()
