"""EMR step definitions for the fashion-pipeline jobs, shared by the DAGs and by hand-run clusters.

The step name, the job file name and the Airflow task_id are the same word.
"""
from __future__ import annotations


def spark_step(job: str, jobs_prefix: str, job_args: list[str] | None = None, env: str = "emr") -> dict:
    """An EMR `AddJobFlowSteps` step running `jobs/<job>.py` with spark-submit in cluster mode."""
    return {
        "Name": job,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": [
                "spark-submit", "--deploy-mode", "cluster",
                f"{jobs_prefix.rstrip('/')}/{job}.py",
                "--env", env, *(job_args or []),
            ],
        },
    }
