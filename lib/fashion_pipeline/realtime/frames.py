"""The rule on pandas frames, for Spark's `mapInPandas` / `applyInPandas` (the streaming job and
the offline evaluation): Spark rows in, the same `rule.score_realtime` per shopper, rows out.

No Spark import here either (Spark passes pandas frames in); the schemas are DDL strings.

    scored_df = inputs_df.mapInPandas(lambda frames: score_frames(frames, rule_settings), SCORED_SCHEMA)
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from fashion_pipeline.realtime.rule import RuleSettings, SessionEvent, events_digest, score_realtime

EVENT_STRUCT = "struct<event_id:string,event_type:string,article_id:string,event_time_ms:bigint>"
SCORED_ITEM_STRUCT = "struct<article_id:string,score:double,reason:string>"
# What `score_frames` reads (other columns are ignored): one row per shopper.
SCORE_INPUT_SCHEMA = (
    f"shopper_key string, events array<{EVENT_STRUCT}>, "
    "neighbors array<struct<article_id:string,neighbors:array<struct<article_id:string,score:double>>>>, "
    f"batch_items array<{SCORED_ITEM_STRUCT}>, trending array<struct<article_id:string,score:double>>"
)
SCORED_SCHEMA = f"shopper_key string, items array<{SCORED_ITEM_STRUCT}>, event_time_ms bigint, events_digest string"


def plain(value: Any) -> Any:
    """A Spark value as pandas hands it over (Row, dict, numpy array, None) as plain Python."""
    if value is None:
        return None
    if hasattr(value, "asDict"):
        return {k: plain(v) for k, v in value.asDict().items()}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return [plain(v) for v in value.tolist()] if getattr(value, "ndim", 1) else value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def rule_inputs(row: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of `score_realtime` (but settings) from one row of SCORE_INPUT_SCHEMA."""
    events = [SessionEvent.from_dict(e) for e in plain(row.get("events")) or []]
    neighbors = {
        entry["article_id"]: [(n["article_id"], float(n["score"])) for n in entry.get("neighbors") or []]
        for entry in plain(row.get("neighbors")) or []
    }
    batch_items = plain(row.get("batch_items")) or []
    trending = [(t["article_id"], float(t["score"])) for t in plain(row.get("trending")) or []]
    return {"events": events, "neighbors": neighbors, "batch_items": batch_items, "trending": trending}


def score_rows(frame: pd.DataFrame, settings: RuleSettings) -> pd.DataFrame:
    """SCORED_SCHEMA for every row of `frame` (SCORE_INPUT_SCHEMA) with at least one event."""
    out = []
    for row in frame.to_dict("records"):
        inputs = rule_inputs(row)
        if not inputs["events"]:
            continue
        items = score_realtime(settings=settings, **inputs)
        out.append({
            "shopper_key": row["shopper_key"], "items": [i.as_dict() for i in items],
            "event_time_ms": max(e.event_time_ms for e in inputs["events"]),
            "events_digest": events_digest(inputs["events"]),
        })
    return pd.DataFrame(out, columns=["shopper_key", "items", "event_time_ms", "events_digest"])


def score_frames(frames: Iterator[pd.DataFrame], settings: RuleSettings) -> Iterator[pd.DataFrame]:
    """`mapInPandas` body."""
    for frame in frames:
        scored = score_rows(frame, settings)
        if len(scored):  # pyspark 4.0 with pyarrow 26 fails on an empty frame of object columns
            yield scored
