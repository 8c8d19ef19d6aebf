"""The real-time rule on hand-made inputs: what the session does to the list, and that the list
depends on the events only (not their order, duplicates or the engine running the rule)."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_pipeline.config import ConfigError, load_config
from fashion_pipeline.realtime.frames import SCORE_INPUT_SCHEMA, SCORED_SCHEMA, score_frames
from fashion_pipeline.realtime.rule import (
    REASON_SESSION,
    REASON_TRENDING,
    RuleSettings,
    SessionEvent,
    epoch_ms,
    events_digest,
    merge_events,
    score_realtime,
    session_interest,
)
from fashion_pipeline.realtime.settings import RealtimeSettings

T0 = 1_600_776_000_000  # 2020-09-22T12:00:00Z in ms
SETTINGS = RuleSettings(
    event_weights=(("add_to_cart", 3.0), ("purchase", 0.5), ("remove_from_cart", -1.0), ("view", 1.0)),
    recency_half_life_s=1800.0, viewed_weight=1.0, neighbor_weight=0.2, neighbors_per_article=20,
    session_weight=1.0, batch_weight=0.6, trending_weight=0.2, k=12,
)
BATCH = [{"article_id": f"01000000{i:02d}", "score": 10.0 - i, "reason": "als" if i % 3 else "repurchase"} for i in range(12)]
NEIGHBORS = {
    "0200000001": [("0300000001", 0.9), ("0300000002", 0.5)],
    "0200000002": [("0300000002", 0.8), ("0100000005", 0.4)],
    "0200000003": [("0300000003", 0.7)],
}
TRENDING = [("0900000001", 40.0), ("0900000002", 30.0)]


def view(n: int, article: str, seconds: float = 0.0, kind: str = "view") -> SessionEvent:
    return SessionEvent(T0 + int(seconds * 1000), f"e{n:03d}", kind, article)


SESSION = [view(1, "0200000001", 0), view(2, "0200000002", 30), view(3, "0200000001", 60), view(4, "0200000003", 90)]


def ids(items) -> list[str]:
    return [i.article_id for i in items]


def test_the_session_puts_viewed_articles_and_their_neighbours_on_top_of_the_batch():
    items = score_realtime(SESSION, NEIGHBORS, BATCH, [], SETTINGS)
    assert len(items) == 12
    # Viewed twice scores the session's best (1.0) and beats the batch's best (batch_weight 0.6);
    # the others, viewed once, half as much: they fall among the batch items, the newest first.
    assert (items[0].article_id, items[0].score, items[0].reason) == ("0200000001", 1.0, REASON_SESSION)
    viewed = [i for i in items if i.article_id.startswith("02")]
    assert ids(viewed) == ["0200000001", "0200000003", "0200000002"]
    assert {i.reason for i in viewed} == {REASON_SESSION}
    assert ids(items).index("0200000003") == 3
    batch_shown = [i for i in items if i.article_id.startswith("01")]
    assert ids(batch_shown) == [b["article_id"] for b in BATCH][: len(batch_shown)]  # batch order kept
    assert [i.reason for i in batch_shown] == [b["reason"] for b in BATCH][: len(batch_shown)]  # and its reasons
    # A batch item that neighbours a viewed article gains a little: 0100000005 (0.35 by rank alone).
    assert next(i.score for i in items if i.article_id == "0100000005") > 0.35


def test_without_a_session_the_batch_list_comes_back_unchanged():
    items = score_realtime([], NEIGHBORS, BATCH, [], SETTINGS)
    assert ids(items) == [b["article_id"] for b in BATCH]
    assert [i.reason for i in items] == [b["reason"] for b in BATCH]


def test_the_list_depends_on_the_events_not_their_order_or_redelivery():
    expected = score_realtime(SESSION, NEIGHBORS, BATCH, TRENDING, SETTINGS)
    shuffled = [*SESSION, SESSION[1], SESSION[3]]  # two events delivered twice
    random.Random(3).shuffle(shuffled)
    assert score_realtime(shuffled, NEIGHBORS, BATCH, TRENDING, SETTINGS) == expected
    assert events_digest(shuffled) == events_digest(SESSION)


def test_recency_and_event_types_weigh_interest():
    interest = session_interest([view(1, "a", 0), view(2, "b", 1800), view(3, "c", 1800, "add_to_cart")], SETTINGS)
    assert interest == pytest.approx({"a": 0.5, "b": 1.0, "c": 3.0})  # one half-life older counts half
    removed = session_interest([view(1, "a", 0, "add_to_cart"), view(2, "a", 10, "remove_from_cart"),
                                view(3, "b", 20)], SETTINGS)
    assert set(removed) == {"a", "b"} and removed["a"] < 3.0
    cancelled = session_interest([view(1, "a", 0), view(2, "a", 0, "remove_from_cart"), view(3, "b", 5)], SETTINGS)
    assert "a" not in cancelled  # a removal cancels a view: nothing left to recommend it for


def test_a_guest_gets_session_and_trending_items_only():
    items = score_realtime(SESSION, NEIGHBORS, [], TRENDING, SETTINGS)
    assert {i.reason for i in items} == {REASON_SESSION, REASON_TRENDING}
    assert set(ids(items)) == {*NEIGHBORS, "0300000001", "0300000002", "0300000003", "0100000005", *dict(TRENDING)}


def test_unknown_articles_are_neither_shown_nor_used_to_find_others():
    with_unknown = [*SESSION, view(9, "0999999999", 100), view(10, "0999999999", 110)]
    assert "0999999999" not in ids(score_realtime(with_unknown, NEIGHBORS, BATCH, [], SETTINGS))
    only_unknown = [view(9, "0999999999", 0)]
    assert ids(score_realtime(only_unknown, NEIGHBORS, BATCH, TRENDING, SETTINGS)) == ids(
        score_realtime([], NEIGHBORS, BATCH, TRENDING, SETTINGS))


def test_what_was_just_bought_is_not_offered_again_but_its_neighbours_are():
    bought = [view(1, "0200000001", 0), view(2, "0200000001", 60, "purchase")]
    items = ids(score_realtime(bought, NEIGHBORS, [], [], SETTINGS))
    assert "0200000001" not in items and items[0] == "0300000001"


def test_neighbours_count_by_cosine_and_only_the_first_neighbors_per_article():
    items = score_realtime([view(1, "0200000001", 0)], NEIGHBORS, [], [], SETTINGS.with_weights(viewed_weight=0.0))
    assert ids(items) == ["0300000001", "0300000002"] and items[1].score == pytest.approx(0.5 / 0.9)
    one_each = score_realtime([view(1, "0200000001", 0)], NEIGHBORS, [], [],
                              SETTINGS.with_weights(viewed_weight=0.0, neighbors_per_article=1))
    assert ids(one_each) == ["0300000001"]


def test_the_ring_is_bounded_ordered_and_free_of_duplicates():
    ring = merge_events([], [view(i, "a", i) for i in range(8)], ring_length=5, max_age_ms=3_600_000)
    assert [e.event_id for e in ring] == ["e003", "e004", "e005", "e006", "e007"]
    again = merge_events(ring, [view(7, "a", 7), view(2, "a", 2)], ring_length=5, max_age_ms=3_600_000)
    assert again == ring  # a redelivered event, even one evicted already, changes nothing
    late = merge_events(ring, [view(50, "b", 5.5)], ring_length=5, max_age_ms=3_600_000)
    assert [e.event_id for e in late] == ["e004", "e005", "e050", "e006", "e007"]  # in time order
    stale = merge_events(ring, [view(60, "b", 7200 + 7)], ring_length=5, max_age_ms=3_600_000)
    assert [e.event_id for e in stale] == ["e060"]  # events an hour older than the newest are dropped


def test_event_times_convert_to_exact_milliseconds():
    event = SessionEvent.from_click({"event_id": "x", "event_type": "view", "article_id": "0100000001",
                                     "event_time": "2020-09-22T12:00:00.123Z"})
    assert event.event_time_ms == T0 + 123
    from datetime import datetime, timezone
    assert epoch_ms(datetime(2020, 9, 22, 12, 0, 0, 999000, tzinfo=timezone.utc)) == T0 + 999


def test_spark_runs_the_same_rule_and_gets_the_same_lists(spark):
    """The streaming job's way in (mapInPandas over rows of shoppers) and a direct call agree."""
    shoppers = {
        "a" * 64: (SESSION, BATCH, TRENDING),
        "guest-session-1": ([view(20, "0200000002", 5), view(21, "0200000003", 9, "add_to_cart")], [], TRENDING),
        "b" * 64: ([view(30, "0999999999", 0), view(31, "0200000001", 3)], BATCH[:4], []),
    }
    rows = [(
        key, [e.as_dict() for e in events],
        [{"article_id": a, "neighbors": [{"article_id": n, "score": s} for n, s in NEIGHBORS[a]]}
         for a in sorted({e.article_id for e in events}) if a in NEIGHBORS],
        list(batch), [{"article_id": a, "score": s} for a, s in trending],
    ) for key, (events, batch, trending) in shoppers.items()]
    inputs_df = spark.createDataFrame(rows, SCORE_INPUT_SCHEMA).repartition(2)
    scored = {row.shopper_key: row for row in inputs_df.mapInPandas(
        lambda frames: score_frames(frames, SETTINGS), SCORED_SCHEMA).collect()}

    assert set(scored) == set(shoppers)
    for key, (events, batch, trending) in shoppers.items():
        direct = score_realtime(events, NEIGHBORS, batch, trending, SETTINGS)
        assert [(i.article_id, i.score, i.reason) for i in scored[key]["items"]] == [
            (i.article_id, i.score, i.reason) for i in direct]
        assert scored[key]["events_digest"] == events_digest(events)
        assert scored[key]["event_time_ms"] == max(e.event_time_ms for e in events)


def test_the_rule_and_the_handler_import_no_spark_pandas_or_pydantic():
    code = ("import sys, fashion_pipeline.realtime.rule, fashion_pipeline.realtime.lambda_handler; "
            "print([m for m in sys.modules if m.split('.')[0] in "
            "('pyspark', 'pandas', 'numpy', 'pydantic', 'yaml', 'pyarrow', 'fashion_pipeline.config')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == "[]"


def test_settings_from_config_survive_the_trip_through_json():
    config = load_config("local", environ={})
    settings = RealtimeSettings.from_config(config)
    assert RealtimeSettings.from_json(settings.to_json()) == settings
    assert settings.rule == RuleSettings.from_config(config)
    assert dict(settings.rule.event_weights) == config.realtime.event_weights
    assert json.loads(settings.to_json())["tables"]["events"] == config.names.realtime_events_table


def test_event_weights_must_name_click_event_types():
    with pytest.raises(ConfigError, match="unknown event types \\['click'\\]"):
        load_config("local", environ={}, overrides={"realtime.event_weights": {"click": 1.0}})
    with pytest.raises(ConfigError, match="realtime.starting_position"):
        load_config("local", environ={}, overrides={"realtime.starting_position": "AT_TIMESTAMP"})
