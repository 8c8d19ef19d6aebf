"""EMR steps run our jobs as our jobs expect to be run: one name for the job file, the step and the
pipeline module, and arguments the job's own parser accepts."""
import importlib.util
from datetime import date
from pathlib import Path

import pytest

from fashion_pipeline.jobs import job_parser, pipeline_module

ROOT = Path(__file__).resolve().parents[2]
JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("*.py"))


def _emr_steps():
    spec = importlib.util.spec_from_file_location("emr_steps", ROOT / "dags" / "emr_steps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _takes_run_date(job: str) -> bool:
    return any(action.dest == "run_date" for action in job_parser(job)._actions)


def test_every_job_file_has_its_pipeline_module():
    assert {"partition_raw", "extract_rds", "daily_aggregates", "data_quality", "train_als", "evaluate_recs",
            "load_recommendations"} <= set(JOBS)
    for job in JOBS:
        assert callable(getattr(pipeline_module(job), f"run_{job}")), job


@pytest.mark.parametrize("job", JOBS)
def test_step_arguments_parse_with_the_jobs_own_parser(job):
    job_args = ["--run-date", "2020-09-22"] if _takes_run_date(job) else []
    step = _emr_steps().spark_step(job, "s3://bucket/code/jobs/", job_args)
    assert step["Name"] == job
    args = step["HadoopJarStep"]["Args"]
    script = args.index(f"s3://bucket/code/jobs/{job}.py")
    assert args[:script] == ["spark-submit", "--deploy-mode", "cluster"]
    parsed = job_parser(job).parse_args(args[script + 1:])
    assert parsed.env == "emr"
    if job_args:
        assert parsed.run_date == date(2020, 9, 22)
