"""The fast path beside the local storefront: the local event source mapping of `fashion lambda
run-local`, run on a thread of the web process, so that a click on the site reaches the shopper's
real-time list without a second terminal. It starts at the stream's end (LATEST, no checkpoint
file): it serves the clicks made on this site from now on, and leaves `fashion lambda run-local`'s
checkpoints alone."""
from __future__ import annotations

import logging
import threading

from fashion_pipeline.config import Config
from fashion_pipeline.errors import describe_failure

# AWS's mapping polls an idle shard once a second; a quarter of that keeps click -> list well
# under the storefront's 2-second promise on moto.
POLL_INTERVAL_S = 0.25
log = logging.getLogger(__name__)


class FastPathThread:
    def __init__(self, config: Config):
        self.config = config
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.mapping = None

    def start(self) -> None:
        """Open the mapping here (a missing stream or table fails the start with its one line),
        then poll on a daemon thread."""
        from fashion_pipeline.aws import aws_client
        from fashion_pipeline.realtime.commands import ensure_fast_path_resources
        from fashion_pipeline.realtime.event_source import CheckpointStore, LocalEventSourceMapping, MappingSettings
        from fashion_pipeline.realtime.lambda_handler import FastPath
        from fashion_pipeline.realtime.settings import RealtimeSettings

        ensure_fast_path_resources(self.config)
        fast_path = FastPath(RealtimeSettings.from_config(self.config), aws_client("dynamodb", self.config))
        self.mapping = LocalEventSourceMapping(
            aws_client("kinesis", self.config), aws_client("sqs", self.config), fast_path,
            MappingSettings.from_config(self.config, starting_position="LATEST", poll_interval_s=POLL_INTERVAL_S),
            CheckpointStore(None),
        ).open()
        self._thread = threading.Thread(target=self._run, name="fast-path", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.mapping.run(stop=self._stop.is_set)
        except Exception as error:  # noqa: BLE001 - shown on /healthz and the pages, the site keeps serving
            self.error = describe_failure(error) or f"{type(error).__name__}: {error}"
            log.exception("the storefront's fast path stopped")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
