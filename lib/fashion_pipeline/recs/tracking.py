"""The recommender's runs in MLflow: every train, evaluate and sweep point is recorded with the
recs.* parameters it used, its report's numbers as metrics, the report and the model metadata as
artifacts, and kind / run_date / model_version as tags; `fashion recs runs` reads them back.

Recording never fails a job: a store that cannot be reached, a missing client or any MLflow error
prints ONE warning line (what is wrong, what to set) and the job goes on. Where runs go is
`config.tracking` (config.py TrackingConfig): by default a SQLite store under paths.state_dir, so
a clone in any directory keeps its own; on EMR a tracking server from FASHION_TRACKING_URI.

The metrics are read from the report's JSON, not from named fields, so a report that grows a
strategy or a count is recorded without a change here:
- top-level numbers: `interactions`, `evaluated_customers`, `seconds`, ...
- dicts of numbers: `recommendations_by_reason.<reason>`
- lists of results naming a strategy: `<strategy>.map_at_12`, `<strategy>.recall_at_12`, ...
MLflow itself is imported only when a run is recorded or read: importing this module is free, and
pulls in neither mlflow nor pyspark.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
import sys
import time
import warnings
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from fashion_pipeline.config import Config, RecsConfig
from fashion_pipeline.errors import PipelineError

KIND_TRAIN, KIND_EVALUATE, KIND_SWEEP = "train", "evaluate", "sweep"
TAG_KIND, TAG_RUN_DATE, TAG_MODEL_VERSION, TAG_ENV = "kind", "run_date", "model_version", "env"
TAG_GRID, TAG_GRID_POINT, TAG_BEST_GRID_POINT = "grid", "grid_point", "best_grid_point"
PARENT_RUN_TAG = "mlflow.parentRunId"  # what makes MLflow show a sweep point under its sweep
REPORT_ARTIFACT, MODEL_ARTIFACT, SWEEP_ARTIFACT = "report.json", "model.json", "sweep.json"
# A run's headline: MAP@12 of what is served ("served", once it exists), else of the blend.
HEADLINE_STRATEGIES = ("served", "blend")
HEADLINE_METRIC = "map_at_12"
BEST_PREFIX = "best."
POINTS_METRIC = "points"
PARAMETER_PREFIX = "recs."
# Report keys that are not measurements (the parameters are logged as parameters).
NOT_METRICS = {"parameters"}
LOCAL_STORE_DIR = "mlflow"
LOCAL_STORE_DB = "mlflow.db"
LOCAL_ARTIFACTS_DIR = "artifacts"
# MLflow's own limits per log_batch call.
MAX_PARAMS_PER_CALL = 100
MAX_METRICS_PER_CALL = 1000
MAX_ERROR_CHARS = 160
_METRIC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")
# Set before MLflow is imported, unless the operator set them: no usage reports sent from the
# cluster, no emoji "View run" lines, no GitPython complaint where git is absent, and an
# unreachable server costs seconds, not MLflow's default of 7 retries (about 4 minutes) per call.
_MLFLOW_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    # MLflow's own loggers (and alembic's, which it configures on import) at ERROR.
    "MLFLOW_LOGGING_LEVEL": "ERROR",
}
SETTINGS_HINT = ("set tracking.uri (FASHION_TRACKING_URI on EMR, FASHION__TRACKING__URI or "
                 "--set tracking.uri=... anywhere) or tracking.enabled=false")


class TrackingError(PipelineError):
    """The tracking store cannot be read (`fashion recs runs`)."""


# ---- what a run records: pure data built from a report ----------------------------------------

@dataclass(frozen=True)
class RunRecord:
    kind: str
    run_date: str
    model_version: str
    params: dict[str, str]
    metrics: dict[str, float]
    artifacts: dict[str, str]  # file name -> text
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "-".join(part for part in (self.kind, self.run_date, self.model_version) if part)


def recs_parameters(recs: RecsConfig) -> dict[str, str]:
    """`recs.<key>` -> the value as text (tuples and lists as JSON)."""
    return {PARAMETER_PREFIX + key: value if isinstance(value, str) else json.dumps(value)
            for key, value in recs.model_dump(mode="json").items()}


def report_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a report's JSON as metric names (see the module doc). Non-finite values
    (a lift over a baseline of 0) are left out: they are no measurement to compare."""
    metrics: dict[str, float] = {}

    def add(name: str, value: Any) -> None:
        if _is_number(value) and math.isfinite(value):
            metrics[_METRIC_NAME_UNSAFE.sub("_", name)] = float(value)

    for key, value in report.items():
        if key in NOT_METRICS:
            continue
        if isinstance(value, Mapping):
            for child, number in value.items():
                add(f"{key}.{child}", number)
        elif isinstance(value, list):
            for item in value:
                label = isinstance(item, Mapping) and (item.get("strategy") or item.get("name"))
                if isinstance(label, str):
                    for child, number in item.items():
                        add(f"{label}.{child}", number)
        else:
            add(key, value)
    return metrics


def train_record(config: Config, report: Any, model_json: str | None) -> RunRecord:
    """A train_als run: its TrainReport (any object with to_json, run_date, model_version)."""
    report_json = report.to_json()
    artifacts = {REPORT_ARTIFACT: report_json}
    if model_json is not None:
        artifacts[MODEL_ARTIFACT] = model_json
    return RunRecord(KIND_TRAIN, str(report.run_date), report.model_version, recs_parameters(config.recs),
                     report_metrics(json.loads(report_json)), artifacts, {TAG_ENV: config.env})


def evaluation_record(config: Config, report: Any, kind: str = KIND_EVALUATE,
                      tags: Mapping[str, str] | None = None) -> RunRecord:
    """An evaluation (evaluate_recs, or one sweep point). The evaluation writes no model.json of
    its own: the artifact holds the same metadata of the model it fitted."""
    report_json = report.to_json()
    data = json.loads(report_json)
    model_json = json.dumps({"model_version": report.model_version, "run_date": data.get("train_until"),
                             "parameters": config.recs.model_dump(mode="json"), "fitted_by": "evaluation"},
                            indent=2, sort_keys=True)
    return RunRecord(kind, str(report.run_date), report.model_version, recs_parameters(config.recs),
                     report_metrics(data), {REPORT_ARTIFACT: report_json, MODEL_ARTIFACT: model_json},
                     {TAG_ENV: config.env, **(tags or {})})


def headline_metric(metrics: Mapping[str, float]) -> tuple[str, float] | None:
    """(name, value) of MAP@12 of the served strategy, else of the blend; for a sweep, its best
    point's (`best.<name>`)."""
    for prefix in ("", BEST_PREFIX):
        for strategy in HEADLINE_STRATEGIES:
            name = f"{prefix}{strategy}.{HEADLINE_METRIC}"
            if name in metrics:
                return name, metrics[name]
    return None


def headline(metrics: Mapping[str, float]) -> float | None:
    found = headline_metric(metrics)
    return found[1] if found else None


def grid_point_text(parameters: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in parameters.items())


# ---- where runs go ------------------------------------------------------------------------------

def local_store_dir(config: Config) -> Path:
    return Path(config.paths.state_dir) / LOCAL_STORE_DIR


def tracking_uri(config: Config) -> str:
    """The configured URI; null is the SQLite store under paths.state_dir (absolute, as
    state_dir is resolved against the project, never the current directory)."""
    if config.tracking.uri is None:
        return f"sqlite:///{local_store_dir(config) / LOCAL_STORE_DB}"
    return config.tracking.uri.strip()


def artifact_location(uri: str) -> str | None:
    """Where a new experiment's artifacts go: beside a SQLite file (MLflow's default would be
    ./mlruns in the current directory); a server decides for itself (None)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / LOCAL_ARTIFACTS_DIR).as_uri()
    return None


def redact(uri: str) -> str:
    """The URI without its user and password, for messages."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    return uri.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2], 1)


# ---- MLflow, at the edge ---------------------------------------------------------------------------

@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's warnings, INFO lines (database migrations) and urllib3's retry lines kept out of
    the job's output; what matters reaches it as the one line of RunTracker."""
    for name, value in _MLFLOW_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    retries_logger = logging.getLogger("urllib3.connectionpool")  # boto3's too: only for our calls
    level = retries_logger.level
    retries_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        retries_logger.setLevel(level)


class TrackingStore:
    """One MLflow client on one tracking URI and experiment."""

    def __init__(self, config: Config):
        self.uri = tracking_uri(config)
        self.experiment_name = config.tracking.experiment
        self._client = None
        self._experiment_id: str | None = None

    @property
    def client(self):
        if self._client is None:
            if not self.uri:
                raise TrackingError(f"tracking.uri is empty: {SETTINGS_HINT}")
            if self.uri.startswith("sqlite:") and importlib.util.find_spec("sqlalchemy") is None:
                raise TrackingError(f"the SQLite store {self.uri} needs sqlalchemy and alembic "
                                    f"(pip install -e '.[local]'): install them or {SETTINGS_HINT}")
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def experiment_id(self, create: bool) -> str | None:
        if self._experiment_id is None:
            experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is None and create:
                try:
                    self._experiment_id = self.client.create_experiment(
                        self.experiment_name, artifact_location=artifact_location(self.uri))
                except Exception:  # another run created it meanwhile
                    experiment = self.client.get_experiment_by_name(self.experiment_name)
                    if experiment is None:
                        raise
            if experiment is not None:
                self._experiment_id = experiment.experiment_id
        return self._experiment_id

    def start(self, record: RunRecord, parent_run_id: str | None = None, start_ms: int | None = None) -> str:
        """A new run holding the record (left running: `finish` ends it)."""
        from mlflow.entities import Metric, Param

        tags = {TAG_KIND: record.kind, TAG_RUN_DATE: record.run_date, TAG_MODEL_VERSION: record.model_version,
                **record.tags}
        if parent_run_id:
            tags[PARENT_RUN_TAG] = parent_run_id
        run = self.client.create_run(self.experiment_id(create=True), start_time=start_ms,
                                     tags={k: v for k, v in tags.items() if v}, run_name=record.name)
        run_id = run.info.run_id
        now_ms = int(time.time() * 1000)
        try:
            params = [Param(key, value) for key, value in sorted(record.params.items())]
            metrics = [Metric(key, value, now_ms, 0) for key, value in sorted(record.metrics.items())]
            for batch in _chunks(params, MAX_PARAMS_PER_CALL):
                self.client.log_batch(run_id, params=batch)
            for batch in _chunks(metrics, MAX_METRICS_PER_CALL):
                self.client.log_batch(run_id, metrics=batch)
            for name, text in record.artifacts.items():
                self.client.log_text(run_id, text, name)
        except Exception:
            with suppress(Exception):  # the first failure is the one to report
                self.finish(run_id, "FAILED")
            raise
        return run_id

    def log(self, record: RunRecord, parent_run_id: str | None = None) -> str:
        run_id = self.start(record, parent_run_id)
        self.finish(run_id)
        return run_id

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def set_tags_and_metrics(self, run_id: str, tags: Mapping[str, str], metrics: Mapping[str, float],
                             artifacts: Mapping[str, str]) -> None:
        from mlflow.entities import Metric, RunTag

        now_ms = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, v, now_ms, 0) for k, v in metrics.items()],
                              tags=[RunTag(k, v) for k, v in tags.items() if v])
        for name, text in artifacts.items():
            self.client.log_text(run_id, text, name)


class RunTracker:
    """Records runs for one job; after the first failure it warns once and records no more."""

    def __init__(self, config: Config, store: TrackingStore | None = None):
        self.enabled = config.tracking.enabled
        self.store = store or TrackingStore(config)
        self.gave_up = False

    def attempt(self, what: str, action):
        """action() under the job's guard: its result, or None after one warning line."""
        if not self.enabled or self.gave_up:
            return None
        try:
            with _quiet_mlflow():
                return action()
        except Exception as error:  # noqa: BLE001 - recording must never fail the night's job
            self.gave_up = True
            print(f"warning: {what} not recorded in MLflow: {describe_tracking_failure(error, self.store.uri)}",
                  file=sys.stderr, flush=True)
            return None


def describe_tracking_failure(error: BaseException, uri: str) -> str:
    """One line: what went wrong with the store at `uri`, and what to set."""
    shown = redact(uri)
    if isinstance(error, TrackingError):
        return str(error)
    if isinstance(error, ImportError):
        return f"the MLflow client is not installed ({error}): install the project's requirements or {SETTINGS_HINT}"
    text = _one_line(str(error)).replace(uri, shown)
    if any(sign in text for sign in ("Failed to establish a new connection", "Connection refused",
                                     "Max retries exceeded", "timed out", "Name or service not known")):
        return f"cannot reach the MLflow tracking server at {shown}; start it, or {SETTINGS_HINT}"
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS].rsplit(" ", 1)[0] + " ..."
    return f"{type(error).__name__} from the store at {shown}: {text}; {SETTINGS_HINT}"


# ---- the hooks the pipelines call ------------------------------------------------------------------

def track_train_run(config: Config, storage, report) -> str | None:
    """Record a train_als run (its TrainReport, and model.json from where the run wrote it)."""
    tracker = RunTracker(config)

    def record() -> str:
        model_dir = report.outputs.get("model")
        model_json_uri = f"{model_dir.rstrip('/')}/{MODEL_ARTIFACT}" if model_dir else None
        model_json = storage.read_text(model_json_uri) if model_json_uri and storage.exists(model_json_uri) else None
        return tracker.store.log(train_record(config, report, model_json))

    return tracker.attempt(f"{KIND_TRAIN} run {report.run_date}", record)


def track_evaluation_run(config: Config, report) -> str | None:
    """Record an evaluate_recs run (its EvaluationReport)."""
    tracker = RunTracker(config)
    return tracker.attempt(f"{KIND_EVALUATE} run {report.run_date}",
                           lambda: tracker.store.log(evaluation_record(config, report)))


class SweepTracker:
    """One MLflow run for a sweep, with a child run per grid point (MLflow nests them):

        sweep = SweepTracker(config, run_date, grid)     # before the loop
        sweep.record_point(trial_config, report)         # per grid point
        sweep.finish(rows)                               # after it: the sweep's table as sweep.json
    """

    def __init__(self, config: Config, run_date: date | str, grid: Mapping[str, Iterable]):
        self.config = config
        self.run_date = str(run_date)
        self.grid = {key: list(values) for key, values in grid.items()}
        self.tracker = RunTracker(config)
        self.started_ms = int(time.time() * 1000)
        self.parent_run_id: str | None = None
        self.points = 0
        self.best: tuple[float, str, str] | None = None  # value, metric name, grid point

    def _parent(self) -> str:
        if self.parent_run_id is None:
            base = {key: value for key, value in recs_parameters(self.config.recs).items()
                    if key.removeprefix(PARAMETER_PREFIX) not in self.grid}
            grid = {f"grid.{key}": ",".join(map(str, values)) for key, values in self.grid.items()}
            record = RunRecord(KIND_SWEEP, self.run_date, "", {**base, **grid}, {}, {},
                               {TAG_ENV: self.config.env, TAG_GRID: " x ".join(self.grid)})
            self.parent_run_id = self.tracker.store.start(record, start_ms=self.started_ms)
        return self.parent_run_id

    def record_point(self, trial_config: Config, report) -> str | None:
        point = grid_point_text({key: getattr(trial_config.recs, key) for key in self.grid})

        def record() -> str:
            child = evaluation_record(trial_config, report, kind=KIND_SWEEP, tags={TAG_GRID_POINT: point})
            run_id = self.tracker.store.log(child, parent_run_id=self._parent())
            self.points += 1
            found = headline_metric(child.metrics)
            if found is not None and (self.best is None or found[1] > self.best[0]):
                self.best = (found[1], found[0], point)
            return run_id

        return self.tracker.attempt(f"{KIND_SWEEP} point {point} ({self.run_date})", record)

    def finish(self, rows: Iterable[Any]) -> None:
        if self.parent_run_id is None:
            return

        def record() -> None:
            table = [asdict(row) if is_dataclass(row) else row for row in rows]
            metrics = {POINTS_METRIC: float(self.points)}
            tags = {}
            if self.best is not None:
                value, name, point = self.best
                metrics[BEST_PREFIX + name] = value
                tags[TAG_BEST_GRID_POINT] = point
            self.tracker.store.set_tags_and_metrics(self.parent_run_id, tags, metrics,
                                                    {SWEEP_ARTIFACT: json.dumps(table, indent=2, default=str)})
            self.tracker.store.finish(self.parent_run_id)

        self.tracker.attempt(f"{KIND_SWEEP} {self.run_date}", record)


# ---- reading runs back: `fashion recs runs` ---------------------------------------------------------

@dataclass(frozen=True)
class RunSummary:
    run_id: str
    kind: str
    run_date: str
    model_version: str
    headline: float | None
    started: datetime | None
    status: str
    note: str = ""


def _summary(run) -> RunSummary:
    tags, metrics = run.data.tags, run.data.metrics
    note = tags.get(TAG_GRID_POINT, "")
    if PARENT_RUN_TAG in tags:
        note = f"point of {tags[PARENT_RUN_TAG][:8]}: {note}"
    elif tags.get(TAG_KIND) == KIND_SWEEP:
        points = int(metrics.get(POINTS_METRIC, 0))
        note = f"{points} points over {tags.get(TAG_GRID, '?')}" + (
            f", best {tags[TAG_BEST_GRID_POINT]}" if TAG_BEST_GRID_POINT in tags else "")
    started = datetime.fromtimestamp(run.info.start_time / 1000, tz=timezone.utc) if run.info.start_time else None
    return RunSummary(run.info.run_id, tags.get(TAG_KIND, "?"), tags.get(TAG_RUN_DATE, ""),
                      tags.get(TAG_MODEL_VERSION, ""), headline(metrics), started, run.info.status, note)


def _reading(store: TrackingStore):
    @contextmanager
    def guard() -> Iterator[None]:
        try:
            with _quiet_mlflow():
                yield
        except TrackingError:
            raise
        except Exception as error:  # noqa: BLE001 - the CLI says it in one line
            raise TrackingError(f"cannot read runs: {describe_tracking_failure(error, store.uri)}") from None
    return guard()


def _no_store_yet(store: TrackingStore) -> bool:
    """A local SQLite store that no run has created: nothing to read, and nothing to create."""
    return store.uri.startswith("sqlite:///") and not Path(store.uri.removeprefix("sqlite:///")).exists()


def list_runs(config: Config, limit: int = 20) -> list[RunSummary]:
    """The newest `limit` runs of the experiment, newest first."""
    store = TrackingStore(config)
    if _no_store_yet(store):
        return []
    with _reading(store):
        experiment_id = store.experiment_id(create=False)
        if experiment_id is None:
            return []
        runs = store.client.search_runs([experiment_id], max_results=limit,
                                        order_by=["attributes.start_time DESC"])
        return [_summary(run) for run in runs]


def format_runs(runs: list[RunSummary], where: str) -> str:
    if not runs:
        return f"no runs recorded yet in {where}"
    lines = [f"{'run':<8}  {'kind':<8}  {'run_date':<10}  {'model_version':<17}  {'MAP@12':>8}  "
             f"{'started (UTC)':<16}  note"]
    for run in runs:
        value = f"{run.headline:.5f}" if run.headline is not None else "-"
        started = run.started.strftime("%Y-%m-%d %H:%M") if run.started else "-"
        note = run.note if run.status == "FINISHED" else f"[{run.status.lower()}] {run.note}".strip()
        lines.append(f"{run.run_id[:8]:<8}  {run.kind:<8}  {run.run_date or '-':<10}  {run.model_version or '-':<17}  "
                     f"{value:>8}  {started:<16}  {note}".rstrip())
    return "\n".join(lines)


@dataclass(frozen=True)
class RunComparison:
    first: RunSummary
    second: RunSummary
    params: list[tuple[str, str | None, str | None]]  # only those that differ
    metrics: list[tuple[str, float | None, float | None]]


def compare_runs(config: Config, first: str, second: str) -> RunComparison:
    store = TrackingStore(config)
    if _no_store_yet(store):
        raise TrackingError(f"no runs recorded yet in {redact(store.uri)}")
    with _reading(store):
        run_a, run_b = (_find_run(store, run_id) for run_id in (first, second))
    params_a, params_b = run_a.data.params, run_b.data.params
    params = [(key, params_a.get(key), params_b.get(key)) for key in sorted(set(params_a) | set(params_b))
              if params_a.get(key) != params_b.get(key)]
    metrics_a, metrics_b = run_a.data.metrics, run_b.data.metrics
    metrics = [(key, metrics_a.get(key), metrics_b.get(key)) for key in sorted(set(metrics_a) | set(metrics_b))]
    return RunComparison(_summary(run_a), _summary(run_b), params, metrics)


def _find_run(store: TrackingStore, run_id: str):
    """A run by its id or the first characters of it (as `fashion recs runs` shows them)."""
    experiment_id = store.experiment_id(create=False)
    if experiment_id is not None:
        matches = [run for run in _all_runs(store, experiment_id) if run.info.run_id.startswith(run_id.lower())]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise TrackingError(f"run id {run_id!r} matches {len(matches)} runs: give more of it")
    raise TrackingError(f"no run {run_id!r} in experiment {store.experiment_name!r} at {redact(store.uri)}: "
                        f"`fashion recs runs` lists them")


def _all_runs(store: TrackingStore, experiment_id: str):
    page_token = None
    while True:
        page = store.client.search_runs([experiment_id], max_results=1000, page_token=page_token)
        yield from page
        page_token = page.token
        if not page_token:
            return


def format_comparison(comparison: RunComparison) -> str:
    def title(run: RunSummary) -> str:
        return f"{run.run_id[:8]} ({run.kind} {run.run_date} {run.model_version or '-'})".replace(" -)", ")")

    def text(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    width = max([len(name) for name, _, _ in [*comparison.params, *comparison.metrics]] + [10])
    lines = [f"A: {title(comparison.first)}", f"B: {title(comparison.second)}", "",
             f"{'parameters that differ':<{width}}  {'A':>14}  {'B':>14}"]
    if not comparison.params:
        lines.append("(none)")
    for name, a, b in comparison.params:
        lines.append(f"{name:<{width}}  {text(a):>14}  {text(b):>14}")
    lines += ["", f"{'metrics':<{width}}  {'A':>14}  {'B':>14}  {'B - A':>12}"]
    for name, a, b in comparison.metrics:
        difference = f"{b - a:+.6g}" if a is not None and b is not None else "-"
        lines.append(f"{name:<{width}}  {text(a):>14}  {text(b):>14}  {difference:>12}")
    return "\n".join(lines)


# ---- helpers -------------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _one_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""
