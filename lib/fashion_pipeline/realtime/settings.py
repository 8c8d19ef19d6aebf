"""What the real-time paths need from the configuration, as plain values.

The Lambda runs without pydantic or the YAML files: `fashion lambda package` resolves the
configuration once (`RealtimeSettings.from_config`) and writes it into the zip as JSON, which the
handler reads at cold start (`load_packaged_settings`). Spark executors get the same object
pickled. Nothing here is a secret: table names, the region, weights and limits.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion_pipeline.errors import PipelineError
from fashion_pipeline.realtime.rule import RuleSettings

if TYPE_CHECKING:
    from fashion_pipeline.config import Config

PACKAGED_SETTINGS_FILE = "fashion_realtime_settings.json"  # at the root of the Lambda zip
SETTINGS_FILE_VARIABLE = "FASHION_REALTIME_SETTINGS_FILE"  # overrides where the handler looks


class RealtimeSettingsError(PipelineError):
    """The fast path's settings cannot be read."""


@dataclass(frozen=True)
class TableNames:
    batch: str  # names.recommendations_table: the nightly lists (read)
    realtime: str  # names.realtime_recommendations_table: the real-time lists (written)
    neighbors: str  # names.item_neighbors_table (read)
    events: str  # names.realtime_events_table: each shopper's ring of recent events (read, written)
    trending: str  # names.trending_table: live trending items (read; the streaming job writes it)


@dataclass(frozen=True)
class RealtimeSettings:
    region: str
    endpoint_url: str | None
    client_max_attempts: int
    tables: TableNames
    rule: RuleSettings
    ring_length: int
    ttl_s: int
    max_event_bytes: int
    write_max_attempts: int
    write_base_delay_s: float
    write_max_delay_s: float
    write_concurrency: int
    source_config: dict[str, Any] = field(default_factory=dict)  # env it was resolved from, for the record

    @classmethod
    def from_config(cls, config: "Config") -> "RealtimeSettings":
        names, realtime = config.names, config.realtime
        return cls(
            region=config.aws.region, endpoint_url=config.aws.endpoint_url,
            client_max_attempts=config.aws.max_attempts,
            tables=TableNames(
                batch=names.recommendations_table, realtime=names.realtime_recommendations_table,
                neighbors=names.item_neighbors_table, events=names.realtime_events_table,
                trending=names.trending_table,
            ),
            rule=RuleSettings.from_config(config), ring_length=realtime.ring_length, ttl_s=realtime.ttl_s,
            max_event_bytes=config.clickstream.max_event_bytes, write_max_attempts=realtime.write_max_attempts,
            write_base_delay_s=realtime.write_base_delay_s, write_max_delay_s=realtime.write_max_delay_s,
            write_concurrency=realtime.write_concurrency, source_config={"env": config.env},
        )

    def client(self, service: str = "dynamodb"):
        from fashion_pipeline.aws import aws_client_from_settings

        return aws_client_from_settings(service, self.region, self.endpoint_url, self.client_max_attempts)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RealtimeSettings":
        value = json.loads(text)
        return cls(**{**value, "tables": TableNames(**value["tables"]), "rule": RuleSettings.from_dict(value["rule"])})


def load_packaged_settings(environ: dict[str, str] | None = None) -> RealtimeSettings:
    """The settings the Lambda package carries (or the file named by FASHION_REALTIME_SETTINGS_FILE)."""
    environ = os.environ if environ is None else environ
    path = Path(environ.get(SETTINGS_FILE_VARIABLE) or Path(__file__).resolve().parents[2] / PACKAGED_SETTINGS_FILE)
    try:
        return RealtimeSettings.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RealtimeSettingsError(
            f"no real-time settings at {path}: build the function with `fashion lambda package` "
            f"(or set {SETTINGS_FILE_VARIABLE})"
        ) from None
