"""Streaming queries run as long as a job asks; a job that stops by itself lets the running
micro-batch finish first, within a timeout; a failure stops them all at once."""
import pytest

from fashion_pipeline.streaming.lifecycle import run_queries, stop_between_batches


class FakeQuery:
    def __init__(self, busy_polls: int):
        self.busy_polls, self.stopped_while_busy, self.isActive = busy_polls, None, True

    @property
    def status(self):
        return {"isTriggerActive": self.busy_polls > 0}

    def stop(self):
        self.stopped_while_busy, self.isActive = self.busy_polls > 0, False


def test_each_query_is_stopped_once_its_trigger_has_ended():
    queries = [FakeQuery(busy_polls=3), FakeQuery(busy_polls=0)]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        for query in queries:
            query.busy_polls = max(query.busy_polls - 1, 0)

    stop_between_batches(queries, timeout_s=10, sleep=sleep)
    assert [q.stopped_while_busy for q in queries] == [False, False]
    assert len(sleeps) == 3


def test_a_batch_that_does_not_end_is_stopped_at_the_timeout():
    query = FakeQuery(busy_polls=1_000)
    sleeps = []
    stop_between_batches([query], timeout_s=1.0, sleep=sleeps.append)
    assert query.stopped_while_busy and len(sleeps) == 5


class RunningQuery(FakeQuery):
    """Runs a batch per awaitTermination poll; `fails_at` raises as a failed query does."""

    def __init__(self, fails_at: int | None = None):
        super().__init__(busy_polls=0)
        self.polls, self.fails_at = 0, fails_at

    def awaitTermination(self, timeout):  # noqa: N802 (Spark's name)
        self.polls += 1
        if self.polls == self.fails_at:
            raise RuntimeError("query failed")
        return False


def test_run_queries_until_enough_batches_then_stops_each():
    queries = [RunningQuery(), RunningQuery()]
    run_queries(queries, batches_done=lambda: queries[0].polls >= 3, poll_s=0)
    assert [q.polls for q in queries] == [3, 3]
    assert [q.isActive for q in queries] == [False, False]


def test_a_failed_query_stops_the_others_and_its_failure_propagates():
    queries = [RunningQuery(), RunningQuery(fails_at=2)]
    with pytest.raises(RuntimeError, match="query failed"):
        run_queries(queries, batches_done=lambda: False, poll_s=0)
    assert [q.isActive for q in queries] == [False, False]
