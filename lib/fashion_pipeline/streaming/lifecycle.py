"""Running streaming queries for as long as a job asks, and stopping them between micro-batches.

`StreamingQuery.stop()` interrupts a batch in flight. The batch is replayed from the checkpoint
on the next start, so nothing is lost, but a `foreachBatch` cut short makes Spark's stream thread
log a long Java error (a StackOverflowError while it classifies the interruption) on the user's
terminal. A job that stops by itself (after N batches, or idle) waits for the running trigger to
end first, up to a timeout.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

POLL_S = 0.2


def stop_between_batches(queries: Iterable, timeout_s: float = 120.0,
                         sleep: Callable[[float], None] = time.sleep) -> None:
    """Stop each query once it has no trigger running (or after `timeout_s` in all)."""
    polls_left = round(timeout_s / POLL_S)
    for query in queries:
        while polls_left > 0 and query.isActive and query.status.get("isTriggerActive"):
            sleep(POLL_S)
            polls_left -= 1
        query.stop()


def run_queries(queries: list, until_idle: bool = False, batches_done: Callable[[], bool] | None = None,
                poll_s: float = POLL_S) -> None:
    """Run `queries` until every record available is processed (`until_idle`), until
    `batches_done()`, or until one of them stops; then stop them between batches. A query's
    failure, or Ctrl-C, stops every query at once and propagates (the checkpoint replays what was
    cut short)."""
    try:
        if until_idle:
            for query in queries:
                query.processAllAvailable()
        else:
            while all(q.isActive for q in queries) and not (batches_done and batches_done()):
                for query in queries:
                    query.awaitTermination(poll_s)  # raises the query's failure, if it failed
    except BaseException:
        for query in queries:
            query.stop()
        raise
    stop_between_batches(queries)
