import importlib.util
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _emr_steps():
    spec = importlib.util.spec_from_file_location("emr_steps", DAGS / "emr_steps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_step_runs_the_job_of_the_same_name():
    step = _emr_steps().spark_step("partition_raw", "s3://bucket/code/jobs/", ["--run-date", "2020-09-22"])
    assert step["Name"] == "partition_raw"
    args = step["HadoopJarStep"]["Args"]
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    assert args[3] == "s3://bucket/code/jobs/partition_raw.py"
    assert args[4:] == ["--env", "emr", "--run-date", "2020-09-22"]
    assert (Path(__file__).resolve().parents[2] / "jobs" / "partition_raw.py").is_file()
