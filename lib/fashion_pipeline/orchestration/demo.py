"""`make demo`'s night through Airflow: the store's next day, then the real nightly_batch DAG for it
with dag.test(), each job by spark-submit on this machine (the local target of the EMR DAG)."""
from __future__ import annotations

from datetime import date

from fashion_pipeline.config import Config
from fashion_pipeline.console import demo_step, say


def run_airflow_demo(config: Config, run_date: date, step_prefix: str = "") -> dict:
    from fashion_pipeline.orchestration.local_airflow import LocalAirflow
    from fashion_pipeline.orchestration.nightly_tasks import daily_summary
    from fashion_pipeline.storage import storage_for
    from fashion_pipeline.store.credentials import resolve_rds_connection
    from fashion_pipeline.store.simulate import simulate_day

    airflow = LocalAirflow.for_config(config)
    with demo_step(f"{step_prefix}. {run_date} through Airflow: the shop's day, then "
                   f"`fashion airflow test nightly_batch --run-date {run_date}` (dag.test, spark-submit per job)"):
        say(simulate_day(config, resolve_rds_connection(config), run_date).summary())
        say(f"Airflow home (metadata, task logs): {airflow.home}")
        say("(Airflow's own log is kept to warnings here; `fashion airflow test` shows every task's output)")
        state = airflow.test_dag("nightly_batch", run_date, quiet=True)
        for line in daily_summary(config, storage_for(config), run_date):
            say(line)
    return {"run_date": run_date.isoformat(), "state": state, "task_logs": str(airflow.home / "logs")}
