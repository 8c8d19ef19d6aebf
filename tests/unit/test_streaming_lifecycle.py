"""A job that stops by itself lets the running micro-batch finish first, within a timeout."""
from fashion_pipeline.streaming.lifecycle import stop_between_batches


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
