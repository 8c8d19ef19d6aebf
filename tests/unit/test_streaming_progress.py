"""The progress reporter: a job that returns waits for the report of its last batch, which Spark
delivers to listeners after the batch, on another thread."""
from types import SimpleNamespace

from fashion_pipeline.config import load_config
from fashion_pipeline.storage import LocalStorage
from fashion_pipeline.streaming.progress import ProgressReporter, read_recent_progress

QUERY_ID = "0f0e0d0c-0000-4000-8000-000000000001"


def _progress_event(batch_id: int):
    return SimpleNamespace(progress=SimpleNamespace(
        name="job", id=QUERY_ID, batchId=batch_id, timestamp="2026-12-03T10:00:00.000Z", numInputRows=0,
        inputRowsPerSecond=0.0, processedRowsPerSecond=0.0, durationMs={"triggerExecution": 5}, eventTime={},
        stateOperators=[]))


class DeadCloudWatch:
    def put_metric_data(self, **_):
        pass


def _reporter(tmp_path):
    config = load_config("local", overrides={"paths.lake_root": str(tmp_path / "lake")})
    return config, ProgressReporter(config, LocalStorage(), "job", cloudwatch=DeadCloudWatch())


def test_waits_for_the_report_of_the_last_batch_then_it_is_on_disk(tmp_path):
    config, reporter = _reporter(tmp_path)
    reporter.onQueryProgress(_progress_event(0))
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the listener bus delivers batch 1 meanwhile
            reporter.onQueryProgress(_progress_event(1))

    assert reporter.wait_until_heard(QUERY_ID, 1, timeout_s=5, sleep=sleep)
    assert len(sleeps) == 3
    assert [p.batch_id for p in read_recent_progress(config, LocalStorage(), "job", last=10)] == [0, 1]


def test_gives_up_after_the_timeout_and_a_run_without_batches_needs_no_wait(tmp_path):
    _, reporter = _reporter(tmp_path)
    sleeps = []
    assert not reporter.wait_until_heard(QUERY_ID, 4, timeout_s=1.0, sleep=sleeps.append)
    assert len(sleeps) == 10
    assert reporter.wait_until_heard(QUERY_ID, None, sleep=sleeps.append)
    assert len(sleeps) == 10
