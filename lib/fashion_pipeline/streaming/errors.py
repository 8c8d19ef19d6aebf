"""Errors of the Kinesis source, each with a one-line message that names the cause and the fix."""
from __future__ import annotations

from fashion_pipeline.errors import PipelineError


class KinesisSourceError(PipelineError):
    """Base class: the streaming source cannot go on."""


class KinesisStreamNotFoundError(KinesisSourceError):
    """The configured stream does not exist where the client looks for it."""

    def __init__(self, stream: str, endpoint_url: str | None, region: str):
        from fashion_pipeline.aws import is_local_endpoint  # boto3 only where a message is made

        where = endpoint_url or f"AWS Kinesis in {region}"
        if is_local_endpoint(endpoint_url):
            fix = "run `fashion services up` (it creates the stream) or `fashion clicks create-stream`"
        else:
            fix = "check names.clickstream_stream and aws.region in the configuration, or create the stream"
        super().__init__(f"Kinesis stream {stream!r} does not exist at {where} (region {region}): {fix}")
        self.stream, self.endpoint_url, self.region = stream, endpoint_url, region


class KinesisUnavailableError(KinesisSourceError):
    """Kinesis kept failing (throttled, unreachable, erroring) after every retry."""


class KinesisSourceOptionError(KinesisSourceError, ValueError):
    """An option of format("kinesis") is missing or malformed."""


class BatchOutcomeConflictError(KinesisSourceError):
    """Two reads of one batch's shard ended in different places at the same moment (a speculative
    task, or two actions on one batch in parallel). The task fails; its retry follows the end the
    other read recorded."""
