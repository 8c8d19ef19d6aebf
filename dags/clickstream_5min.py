"""Airflow DAG clickstream_5min: every 5 minutes, the streaming job's health (an alert when it is
behind or stopped) and compaction of the clickstream's closed hours (built by
fashion_pipeline.orchestration.dags). FASHION_ENV picks the target: emr on MWAA, local here."""
from fashion_pipeline.orchestration.dags import clickstream_5min_dag

dag = clickstream_5min_dag()
