"""One typed, frozen configuration, loaded from conf/<env>.yaml with environment and CLI overrides.

Precedence, lowest first: the YAML file, `${VAR:-default}` placeholders inside it, environment
variables (`FASHION_RAW_ROOT`, `FASHION_LAKE_ROOT`, `FASHION_STATE_DIR`, or the general
`FASHION__<SECTION>__<KEY>`), then explicit overrides (CLI options). Unknown keys are an error:
a typo in a config file must not silently fall back to a default.
"""
from __future__ import annotations

import os
import re
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fashion_pipeline.clickstream.contract import CLICK_EVENT_TYPES
from fashion_pipeline.errors import PipelineError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "FASHION__"
PATH_SHORTCUTS = {
    "FASHION_RAW_ROOT": ("paths", "raw_root"),
    "FASHION_LAKE_ROOT": ("paths", "lake_root"),
    "FASHION_STATE_DIR": ("paths", "state_dir"),
}
# Stands in for an unset required variable until the overrides have had their say.
# (printable: YAML refuses control characters).
_UNSET_MARK = "@@unset@@"
_PATHS_ONLY_SOME_COMMANDS_NEED = {"paths.deploy_root", "paths.logs_root", "paths.athena_results_root",
                                  "paths.airflow_root"}
_PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


class ConfigError(PipelineError, ValueError):
    """The configuration cannot be loaded: missing file, unknown key, bad value."""

    exit_code = 2


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(_Section):
    raw_root: str
    lake_root: str
    state_dir: str
    # Deployed code and its release manifest (`fashion deploy`), EMR's logs, Athena's results.
    deploy_root: str | None = None
    logs_root: str | None = None
    athena_results_root: str | None = None
    # What MWAA reads (dags/, plugins.zip, requirements.txt, startup.sh), published by `fashion deploy`.
    airflow_root: str | None = None

    def lake(self, *parts: str) -> str:
        return join_uri(self.lake_root, *parts)

    def raw(self, *parts: str) -> str:
        return join_uri(self.raw_root, *parts)


class AwsConfig(_Section):
    region: str
    endpoint_url: str | None = None
    max_attempts: int = 5


class NamesConfig(_Section):
    glue_database: str
    recommendations_table: str
    realtime_recommendations_table: str
    item_neighbors_table: str
    trending_table: str
    # The real-time fast path: each shopper's ring of recent events (DynamoDB), the SQS queue its
    # event source mapping sends discarded batches to, and the Lambda function's name.
    realtime_events_table: str
    realtime_failure_queue: str
    realtime_function: str
    clickstream_stream: str
    rds_secret_id: str
    slack_webhook_secret_id: str


class ServicesConfig(_Section):
    moto_port: int
    postgres_port: int


class SparkConfig(_Section):
    master: str | None = None
    shuffle_partitions: int = 200
    driver_memory: str | None = None
    jdbc_jar: str | None = None
    ui_enabled: bool = True
    extra: dict[str, str] = {}


class ValidationConfig(_Section):
    min_date: date
    max_date: date
    max_price: float


class RecsConfig(_Section):
    """The nightly recommender: interactions, ALS, candidate scoring, blend and serving load."""

    # Interactions: each unit sold counts 0.5 ** (age_days / half_life) towards its pair's weight.
    history_days: int = 365
    decay_half_life_days: float = 60.0
    # Spark MLlib ALS (implicit feedback: confidence = 1 + alpha * weight).
    rank: int = 32
    reg_param: float = 0.05
    alpha: float = 20.0
    max_iter: int = 10
    block_size: int = 4096
    checkpoint_interval: int = 10
    num_blocks: int | None = None
    cold_start_strategy: str = "drop"
    seed: int = 42
    # Scoring: only articles sold recently are candidates; users are scored in blocks.
    top_k: int = 12
    candidate_days: int = 28
    max_candidates: int = 3000
    scoring_block_users: int = 2048
    max_broadcast_items: int = 500_000
    # Signals blended with ALS, and their weights in the blend score. Trending is the decayed
    # units of each candidate over candidate_days; "popular" (a baseline) is plain units.
    trending_half_life_days: float = 7.0
    popular_days: int = 7
    repurchase_days: int = 56
    repurchase_half_life_days: float = 14.0
    als_weight: float = 8.0
    popularity_weight: float = 1.0
    repurchase_weight: float = 3.0
    # Cold start: customers without history get what their segment (age band, club status) buys.
    age_band_edges: tuple[int, ...] = (25, 35, 45, 55, 65)
    neighbors_k: int = 20
    # The learned ranker (recs/ranker.py): candidates per customer from their ALS top, own recent
    # purchases, the trend, their segment's best sellers and the neighbours of their latest
    # purchases; gradient-boosted trees trained on the week before the run date (features up to
    # T-7, labels the purchases of T-6..T). A validation share of that week's buyers picks what
    # is served: the ranker, or the best single strategy when the ranker does not beat it.
    ranker_enabled: bool = True
    ranker_label_days: int = Field(default=7, gt=0)
    # A store whose week holds fewer buyers than this trains on a longer label window (doubled
    # up to ranker_max_label_days): a few dozen buyers teach a ranker nothing.
    ranker_min_label_buyers: int = Field(default=1000, gt=0)
    ranker_max_label_days: int = Field(default=56, gt=0)
    ranker_als_candidates: int = Field(default=24, gt=0)
    ranker_neighbour_seeds: int = Field(default=3, ge=0)
    ranker_neighbours_per_seed: int = Field(default=4, ge=0)
    ranker_history_items: int = Field(default=48, gt=0)
    ranker_trees: int = Field(default=40, gt=0)
    ranker_depth: int = Field(default=5, gt=0)
    ranker_step_size: float = Field(default=0.1, gt=0)
    ranker_negatives_per_customer: int = Field(default=24, gt=0)
    # A sample of the label week's buyers is plenty for 40 trees of depth 5; at H&M scale (55k
    # training buyers a week) the GBT's passes over the candidate rows are the ranker's main cost.
    ranker_max_train_customers: int = Field(default=30_000, gt=0)
    ranker_validation_fraction: float = Field(default=0.3, gt=0, lt=1)
    # Evaluation: the last holdout_days up to the run date are held out.
    holdout_days: int = 7
    # Serving load (DynamoDB BatchWriteItem from the executors).
    load_partitions: int = 8
    write_max_attempts: int = 12
    write_base_delay_s: float = 0.05
    write_max_delay_s: float = 5.0


class TrackingConfig(_Section):
    """Where the recommender's runs (train, evaluate, each sweep point) are recorded: MLflow,
    through recs/tracking.py. A store that cannot be reached costs a warning, never the run."""

    # null: a SQLite store under <paths.state_dir>/mlflow (no server needed); otherwise an MLflow
    # tracking URI: http(s)://server (EMR), or sqlite:////absolute/path.db. An empty string means
    # "not configured" (conf/emr.yaml without FASHION_TRACKING_URI): runs warn and go unrecorded.
    uri: str | None = None
    experiment: str = "fashion-recs"
    enabled: bool = True


class RdsConfig(_Section):
    """The store's PostgreSQL (RDS). Credentials never live here: see store/credentials.py."""

    host: str | None = None  # null: taken from the secret (RDS-managed secrets carry the host)
    port: int = 5432
    database: str = "fashion_store"
    jdbc_driver: str = "org.postgresql.Driver"
    fetch_size: int = 10_000
    num_partitions: int = 4
    connect_timeout_s: int = 10
    # extract_rds holds a lease in the lake (`_locks/extract_rds.json`) while it merges; a lease
    # older than this is taken to belong to a dead run and is taken over. Well above a normal
    # run (minutes at H&M scale), so a slow run is never overtaken while it writes.
    extract_lease_s: int = Field(default=7200, gt=0)
    # extract_rds joins a day's lines to their orders' verdicts (validity, day, newest image). Up
    # to this many changed orders, the verdicts (about 80 bytes each) are broadcast and the lines
    # stream past them; above it, both sides are shuffled.
    extract_broadcast_max_orders: int = Field(default=1_000_000, ge=0)


class StoreConfig(_Section):
    """`fashion store simulate`: how a simulated day of the web shop looks."""

    scale: str = "small"
    seed: int = 42
    orders_per_day: int = 300
    late_change_days: int = 14
    late_change_share: float = 0.08
    guest_order_share: float = 0.004
    bad_quantity_share: float = 0.002


class AnalyticsConfig(_Section):
    """Marketing aggregates and data quality."""

    restatement_days: int = 28
    top_n: int = 50
    trend_min_units: int = 10
    rfm_lookback_days: int = 365


# Kinesis' own limits (PutRecords): what the producer's settings may not exceed.
KINESIS_MAX_RECORDS_PER_CALL = 500
KINESIS_MAX_BYTES_PER_CALL = 5 * 1024 * 1024
KINESIS_MAX_RECORD_BYTES = 1024 * 1024


class ClickstreamConfig(_Section):
    """The website's clickstream: its Kinesis stream (`names.clickstream_stream`), the simulated
    shoppers and `fashion clicks produce`."""

    # The stream, created with this many shards when missing (`ensure_clickstream_stream`).
    shard_count: int = Field(4, ge=1)
    stream_ready_timeout_s: float = 120.0
    # Simulated shoppers: the TasteModel of the generated H&M data (same scale and seed, so every
    # customer and article exists in the lake), the seed of the clicks themselves, and the modelled
    # day whose tastes they follow (null: the model's last day).
    scale: str = "small"
    model_seed: int = 42
    seed: int = 1
    model_day: date | None = None
    # Producer: events per second (0: as fast as the stream takes them), PutRecords batches (flushed
    # when full or `linger_s` after their first record), retries of failed records.
    default_rate: float = Field(50.0, ge=0)
    batch_max_records: int = Field(KINESIS_MAX_RECORDS_PER_CALL, ge=1, le=KINESIS_MAX_RECORDS_PER_CALL)
    batch_max_bytes: int = Field(KINESIS_MAX_BYTES_PER_CALL, ge=1, le=KINESIS_MAX_BYTES_PER_CALL)
    record_max_bytes: int = Field(KINESIS_MAX_RECORD_BYTES, ge=1, le=KINESIS_MAX_RECORD_BYTES)
    linger_s: float = Field(0.5, ge=0)
    put_max_attempts: int = Field(8, ge=1)
    backoff_base_s: float = Field(0.1, ge=0)
    backoff_max_s: float = Field(5.0, ge=0)
    # The largest event the platform accepts; bigger ones are quarantined by the streaming job.
    max_event_bytes: int = Field(65536, ge=1024)
    # How far behind a late event's time is (`--late-share` faults).
    late_minutes: float = Field(15.0, gt=0)

    @model_validator(mode="after")
    def _oversized_events_still_fit_a_record(self) -> "ClickstreamConfig":
        # An oversized test event must still be accepted by Kinesis, or it could not reach the
        # quarantine it is meant to test.
        if self.max_event_bytes + 4096 > self.record_max_bytes:
            raise ValueError("max_event_bytes must stay at least 4 KiB under record_max_bytes")
        return self


class StreamingConfig(_Section):
    """The clickstream's raw Kinesis source for Spark Structured Streaming
    (`fashion_pipeline.streaming.read_kinesis`); the streaming jobs' own keys join this section."""

    # `kinesis`: our Python data source (local runs, tests); `aws-kinesis`: the connector EMR
    # bundles. Both give the same columns, so the choice is configuration alone.
    source_format: Literal["kinesis", "aws-kinesis"] = "kinesis"
    # Where a query with no checkpoint yet starts: TRIM_HORIZON (every record still in the
    # stream), LATEST (records arriving from the query's start), AT_TIMESTAMP (records arriving
    # from starting_timestamp on). A restarted query resumes from its checkpoint instead.
    starting_position: Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"] = "TRIM_HORIZON"
    starting_timestamp: datetime | None = None
    # At most this many records per shard in one micro-batch (Spark 4.0 has no admission
    # control for these sources: the cap is the source's own).
    max_records_per_shard: int = Field(default=100_000, gt=0)
    # GetRecords `Limit`: records per call (AWS allows up to 10,000).
    records_per_fetch: int = Field(default=10_000, gt=0, le=10_000)
    # At most one ListShards per interval (how soon the children of a split are seen).
    describe_shard_interval_ms: int = Field(default=1000, ge=0)
    # Our source only: with every shard read to its end, how often to ask Kinesis whether
    # records arrived (an idle query is polled every 10 ms under the default trigger).
    idle_probe_interval_ms: int = Field(default=1000, ge=0)
    # The streaming job (stream_clickstream): a micro-batch every trigger_seconds; events are
    # de-duplicated on event_id within watermark_delay_s of event time.
    trigger_seconds: float = Field(default=300.0, ge=0)
    watermark_delay_s: int = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _timestamp_for_at_timestamp(self) -> "StreamingConfig":
        if self.starting_position == "AT_TIMESTAMP" and self.starting_timestamp is None:
            raise ValueError("starting_position AT_TIMESTAMP needs starting_timestamp (ISO-8601, e.g. 2026-11-30T18:00:00Z)")
        return self


class CompactionConfig(_Section):
    """compact_clickstream: the previous hours' small streaming files rewritten as a few large ones,
    swapped in through each hour's manifest (pipelines/compact_clickstream.py)."""

    # An hour is closed (compacted) this long after its end; null: streaming.watermark_delay_s +
    # clickstream.late_minutes, the time after which its batches stop being expected. A batch that
    # is later still is kept visible beside the compacted files and joins them at the next run.
    close_after_s: int | None = Field(None, ge=0)
    # How far back a run looks for closed hours to compact and replaced files to delete.
    lookback_hours: int = Field(48, ge=1)
    # Replaced files stay this long after the manifest that replaced them: longer than any query
    # (Athena's limit is 30 min by default) or any cached Spark plan that may still read them.
    grace_period_s: int = Field(7200, ge=0)
    # Size of a compacted file; an hour is written as ceil(bytes / target) files.
    target_file_mb: int = Field(128, ge=1)


LAMBDA_MAX_BATCHING_WINDOW_S = 300
KINESIS_ESM_MAX_BATCH_SIZE = 10_000


class RealtimeConfig(_Section):
    """Real-time recommendations (`realtime/`): the scoring rule both engines share (`rule.py`), the
    DynamoDB items of the fast path (`store.py`) and the Lambda's Kinesis event source mapping,
    which `fashion lambda run-local` reproduces (`event_source.py`)."""

    # The rule. A session event counts event_weights[type] * 0.5 ** (age / recency_half_life_s),
    # its age measured from the shopper's newest event (so the list depends on the events only).
    event_weights: dict[str, float] = {"view": 1.0, "add_to_cart": 3.0, "remove_from_cart": -1.0, "purchase": 0.5}
    recency_half_life_s: float = Field(1800.0, gt=0)
    # A candidate's session score: viewed_weight * its own interest (an article seen in the session)
    # + neighbor_weight * sum of (interest * cosine) over the session articles it neighbours.
    # Tuned on the generator's `small` data (week up to 2020-09-08, bench/RESULTS.md): what a
    # shopper viewed carries the lift; neighbours add nothing measurable up to 0.3 and cost MAP
    # at 1.0 (they crowd out the nightly list), so they are kept light.
    viewed_weight: float = Field(1.0, ge=0)
    neighbor_weight: float = Field(0.2, ge=0)
    neighbors_per_article: int = Field(20, ge=0)
    # The blend: each source's best candidate scores 1 (session score / best session score; batch
    # and trending by rank), then weighted; the largest weighted term names the item's reason.
    session_weight: float = Field(1.0, ge=0)
    batch_weight: float = Field(0.6, ge=0)
    trending_weight: float = Field(0.2, ge=0)
    # The ring of recent events kept per shopper, and how long a real-time item (and a ring) lives
    # after the shopper's newest event (`expires_at`, the tables' TTL attribute).
    ring_length: int = Field(50, ge=1, le=500)
    ttl_s: int = Field(86_400, ge=60)
    # DynamoDB calls of the fast path: conditional writes that lose a race and unprocessed keys are
    # tried again up to write_max_attempts times, with full-jitter backoff.
    write_max_attempts: int = Field(6, ge=1)
    write_base_delay_s: float = Field(0.02, ge=0)
    write_max_delay_s: float = Field(1.0, ge=0)
    # Shoppers of one batch whose ring and list are written at the same time (threads): about two
    # round trips per shopper, and a batch of 100 clicks holds up to 100 shoppers.
    write_concurrency: int = Field(16, ge=1, le=64)
    # The event source mapping (AWS names in brackets): BatchSize, MaximumBatchingWindowInSeconds,
    # MaximumRetryAttempts, BisectBatchOnFunctionError, StartingPosition; ReportBatchItemFailures
    # is always on. poll_interval_s: how often an idle shard is polled (AWS: once a second).
    batch_size: int = Field(100, ge=1, le=KINESIS_ESM_MAX_BATCH_SIZE)
    batching_window_s: float = Field(0.0, ge=0, le=LAMBDA_MAX_BATCHING_WINDOW_S)
    maximum_retry_attempts: int = Field(2, ge=0, le=10_000)
    bisect_on_error: bool = True
    starting_position: Literal["LATEST", "TRIM_HORIZON"] = "LATEST"
    poll_interval_s: float = Field(1.0, gt=0)
    function_timeout_s: float = Field(60.0, gt=0)
    # The streaming refresh (jobs/stream_recommendations.py): a shopper's state of recent events in
    # Spark expires after ttl_s without a click. Trending: weighted events per article over
    # sliding windows (trending_window_s long, every trending_slide_s), each window ranked once
    # closed (its end trending_watermark_s behind the newest event), against the article's usual
    # weight per window over the last trending_baseline_days of the lake's clicks:
    # lift = (weight + prior) / (usual + prior); the top_n with at least min_events events.
    trending_window_s: int = Field(3600, ge=1)
    trending_slide_s: int = Field(300, ge=1)
    trending_watermark_s: int = Field(120, ge=0)
    trending_baseline_days: int = Field(7, ge=1)
    trending_prior_weight: float = Field(5.0, gt=0)
    trending_min_events: int = Field(3, ge=1)
    trending_top_n: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _weights_name_click_event_types(self) -> "RealtimeConfig":
        unknown = sorted(set(self.event_weights) - set(CLICK_EVENT_TYPES))
        if unknown:
            raise ValueError(f"event_weights has unknown event types {unknown}; known: {list(CLICK_EVENT_TYPES)}")
        return self


class EmrConfig(_Section):
    """The nightly cluster (RunJobFlow), built by orchestration.steps for the DAG and `fashion emr`.

    Roles, subnets and bucket come from the infrastructure stack (infra/), never from code."""

    release_label: str = "emr-spark-8.0.0"
    cluster_name: str = "fashion-nightly"
    # The long-running cluster of the streaming jobs: clickstream_5min adds its compaction there.
    streaming_cluster_name: str = "fashion-streaming"
    service_role: str = "fashion-emr-service"
    instance_profile: str = "fashion-emr-instance"
    subnet_ids: list[str] = []
    # RunJobFlow's Instances.InstanceFleets and Configurations, as AWS spells them.
    instance_fleets: list[dict[str, Any]] = []
    configurations: list[dict[str, Any]] = []
    # A safety net, not the plan: the DAG terminates the cluster; this catches a DAG that cannot.
    idle_timeout_s: int = Field(3600, ge=60, le=7 * 24 * 3600)
    step_timeout_s: int = Field(3 * 3600, ge=60)
    tags: dict[str, str] = {"project": "fashion-pipeline"}

    @field_validator("subnet_ids", mode="before")
    @classmethod
    def _comma_separated_subnets(cls, value: Any) -> Any:
        # Environment variables and --set carry strings only: "subnet-a,subnet-b" is the list, and
        # an empty or unset placeholder (`${FASHION_EMR_SUBNET_IDS:-}`) is none at all.
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class OrchestrationConfig(_Section):
    """How the Airflow DAGs behave (dags/): retries, waiting, alerts, Athena."""

    retries: int = Field(2, ge=0)
    retry_delay_s: int = Field(300, ge=0)
    max_retry_delay_s: int = Field(1800, ge=0)
    # The whole night must be done within this long after its run was queued (an Airflow 3
    # deadline alert: it posts to Slack, it does not stop the run).
    deadline_minutes: int = Field(180, ge=1)
    step_poke_interval_s: float = Field(60.0, gt=0)
    slack_conn_id: str = "slack_alerts"
    aws_conn_id: str = "aws_default"
    athena_workgroup: str = "fashion-pipeline"
    # clickstream_5min: the streaming job is unhealthy when Kinesis' iterator age passes this, or
    # when its last batch is older than this.
    stream_max_lag_s: int = Field(900, ge=1)
    stream_max_batch_age_s: int = Field(900, ge=1)


class Config(_Section):
    env: str
    paths: PathsConfig
    aws: AwsConfig
    names: NamesConfig
    services: ServicesConfig
    spark: SparkConfig
    validation: ValidationConfig
    recs: RecsConfig = RecsConfig()
    tracking: TrackingConfig = TrackingConfig()
    rds: RdsConfig
    store: StoreConfig
    analytics: AnalyticsConfig
    clickstream: ClickstreamConfig
    streaming: StreamingConfig = StreamingConfig()
    compaction: CompactionConfig = CompactionConfig()
    realtime: RealtimeConfig = RealtimeConfig()
    emr: EmrConfig = EmrConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Config":
        """A copy with dotted-key overrides applied, validated like the file itself."""
        data = self.model_dump(mode="json")
        for dotted_key, value in overrides.items():
            _set_dotted(data, dotted_key, value)
        return _validate(data, source="overrides")


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts if p)])


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def find_conf_dir() -> Path:
    """conf/ of a source checkout, else the copy packed into the wheel (EMR)."""
    explicit = os.environ.get("FASHION_CONF_DIR")
    if explicit:
        return Path(explicit)
    checkout_conf = PROJECT_ROOT / "conf"
    if checkout_conf.is_dir():
        return checkout_conf
    return Path(str(resources.files("fashion_pipeline") / "conf"))


def load_config(
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    conf_dir: Path | None = None,
) -> Config:
    environ = os.environ if environ is None else environ
    env = env or environ.get("FASHION_ENV", "local")
    conf_dir = conf_dir or find_conf_dir()
    conf_file = conf_dir / f"{env}.yaml"
    if not conf_file.is_file():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml"))
        raise ConfigError(f"no configuration for env {env!r}: {conf_file} missing (known: {known})")
    raw_text = _expand_placeholders(conf_file.read_text(encoding="utf-8"), environ)
    data = yaml.safe_load(raw_text) or {}
    for variable, dotted_key in _environment_overrides(environ):
        _set_dotted(data, dotted_key, environ[variable])
    for dotted_key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted_key, value)
    # A required variable is missing only if a value that needs it survived the overrides:
    # `--lake-root s3://b/lake --raw-root s3://b/raw` runs conf/emr.yaml without FASHION_BUCKET.
    _refuse_unset_variables(data, conf_file)
    _resolve_local_paths(data, base=conf_dir.parent)
    return _validate(data, source=str(conf_file))


def _validate(data: dict, source: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"invalid configuration from {source}: {problems}") from None


def _expand_placeholders(text: str, environ: Mapping[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        return f"{_UNSET_MARK}{name}{_UNSET_MARK}"

    return _PLACEHOLDER.sub(replace, text)


def _refuse_unset_variables(data: Any, source: Path, key: str = "") -> None:
    if isinstance(data, dict):
        for child_key, value in list(data.items()):
            child = f"{key}.{child_key}" if key else str(child_key)
            if child in _PATHS_ONLY_SOME_COMMANDS_NEED and isinstance(value, str) and _UNSET_MARK in value:
                data[child_key] = None  # deploy and the DAGs say what is missing when they need it
                continue
            _refuse_unset_variables(value, source, child)
    elif isinstance(data, list):
        for value in data:
            _refuse_unset_variables(value, source, key)
    elif isinstance(data, str) and _UNSET_MARK in data:
        variable = data.split(_UNSET_MARK)[1]
        raise ConfigError(f"{source}: environment variable {variable} is required and not set "
                          f"(it fills {key}; set {variable}, or override {key})")


def _environment_overrides(environ: Mapping[str, str]):
    for variable, dotted in PATH_SHORTCUTS.items():
        if environ.get(variable):
            yield variable, ".".join(dotted)
    for variable in sorted(environ):
        if variable.startswith(ENV_PREFIX):
            yield variable, variable[len(ENV_PREFIX):].lower().replace("__", ".")


def _set_dotted(data: dict, dotted_key: str, value: Any) -> None:
    *parents, leaf = dotted_key.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted_key}: {part} is not a section")
        node = child
    node[leaf] = value


def _resolve_local_paths(data: dict, base: Path) -> None:
    paths = data.get("paths") or {}
    for key, value in list(paths.items()):
        if isinstance(value, str) and not is_remote(value):
            local = Path(value.removeprefix("file://")).expanduser()
            paths[key] = str(local if local.is_absolute() else (base / local).resolve())
