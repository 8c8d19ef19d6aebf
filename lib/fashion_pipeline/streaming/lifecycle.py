"""Stopping streaming queries between micro-batches.

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
