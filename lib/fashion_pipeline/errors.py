"""Failures a person can act on, reported as one line that names the cause and the fix.

Our own expected failures derive from `PipelineError`. Failures of the tools underneath (a local
service that is not running, a database without its schema, a lake path Spark cannot write, a
missing JDBC driver) arrive as their libraries' exceptions; `describe_failure` recognises those
and says the same in one line. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable
from urllib.parse import urlparse

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
START_SERVICES = "start the local services with `fashion services up`"


class PipelineError(Exception):
    """An expected failure whose message says what is wrong and what to run."""

    exit_code = 1


class MissingInputError(PipelineError):
    """A table or file a job reads has not been written yet."""


class ReconciliationError(PipelineError):
    """What a job read does not equal what it wrote plus what it quarantined."""


def describe_failure(error: BaseException) -> str | None:
    """One line for a failure the user can fix, or None for a bug (which keeps its traceback)."""
    if isinstance(error, PipelineError):
        return _first_line(str(error))
    for describe in (_describe_aws, _describe_postgres, _describe_spark, _describe_os):
        message = describe(error)
        if message:
            return message
    return None


def exit_code(error: BaseException) -> int:
    return getattr(error, "exit_code", 1)


def run_reporting_failures(prog: str, action: Callable[[], int]) -> int:
    """Run `action`; a failure the user can fix is printed as `prog: message` and exits non-zero."""
    try:
        return action()
    except Exception as error:  # noqa: BLE001 - only describable failures are swallowed
        message = describe_failure(error)
        if message is None:
            raise
        print(f"{prog}: {message}", file=sys.stderr, flush=True)
        return exit_code(error)


def _describe_aws(error: BaseException) -> str | None:
    try:
        from botocore import exceptions as aws
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return None
    if isinstance(error, (aws.EndpointConnectionError, aws.ConnectionClosedError, aws.ConnectTimeoutError)):
        endpoint = getattr(error, "kwargs", {}).get("endpoint_url", "")
        if urlparse(endpoint).hostname in LOOPBACK_HOSTS:
            origin = f"{urlparse(endpoint).scheme}://{urlparse(endpoint).netloc}"
            return f"moto (the local AWS) is not running at {origin}: {START_SERVICES}"
        return f"cannot reach AWS at {endpoint or 'its endpoint'}: check the network and aws.endpoint_url"
    if isinstance(error, aws.NoCredentialsError):
        return "no AWS credentials found: configure a profile, an instance role or AWS_ACCESS_KEY_ID"
    if isinstance(error, aws.ClientError):
        details = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "AWS call")
        return f"{operation} failed: {details.get('Code', 'error')}: {_first_line(details.get('Message', ''))}"
    return None


def _describe_postgres(error: BaseException) -> str | None:
    module = type(error).__module__
    if not module.startswith("psycopg"):
        return None
    name = type(error).__name__
    if name == "UndefinedTable":
        return f"the store database has no schema yet ({_first_line(str(error))}): run `fashion store migrate`"
    if name == "OperationalError":
        return f"cannot reach PostgreSQL: {_first_line(str(error))}; locally, {START_SERVICES}"
    return None


_SPARK_PATH_NOT_FOUND = re.compile(r"\[PATH_NOT_FOUND\] Path does not exist: (\S+?)\.?(?:\s|$)")
_JAVA_IO = re.compile(
    r"(?:java\.(?:io|nio\.file)\.\w+Exception|org\.apache\.hadoop\.\S+Exception): ([^\n]+)"
)


def _describe_spark(error: BaseException) -> str | None:
    text = str(error)
    if "ClassNotFoundException" in text and "org.postgresql.Driver" in text:
        return (
            "the PostgreSQL JDBC driver is not on Spark's classpath: pass "
            "`--jars /usr/share/java/postgresql.jar` to spark-submit (Debian package "
            "libpostgresql-jdbc-java; `make system-deps` installs it) or set spark.jdbc_jar"
        )
    match = _SPARK_PATH_NOT_FOUND.search(text)
    if match:
        return f"input not found: {match.group(1)}; run the job that writes it first (see README)"
    if type(error).__name__ in {"Py4JJavaError", "SparkRuntimeException", "SparkException", "AnalysisException"} or "java." in text:
        io_match = _JAVA_IO.search(text)
        if io_match and any(word in io_match.group(1) for word in ("Mkdirs failed", "Permission denied", "Not a directory", "not a directory", "Read-only")):
            return f"cannot write to the lake: {_first_line(io_match.group(1))}; choose a writable --lake-root"
    return None


def _describe_os(error: BaseException) -> str | None:
    if isinstance(error, (PermissionError, NotADirectoryError, IsADirectoryError, FileNotFoundError, FileExistsError)) and error.filename:
        return f"{error.strerror}: {error.filename}; choose a path you can write (--lake-root, --raw-root, --out)"
    return None


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""
