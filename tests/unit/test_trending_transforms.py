"""Real-time trending as plain DataFrames: event weights, the usual weight per window, the ranking of
a window's movers by lift; and the per-shopper ring Spark keeps (realtime/state.py) with a stand-in
for Spark's GroupState."""
from datetime import date, datetime

import pandas as pd
import pytest
from chispa import assert_df_equality

from fashion_pipeline.realtime.state import RingSettings, ring_from_json, ring_json, update_ring
from fashion_pipeline.schemas import TRENDING_ARTICLES_SCHEMA
from fashion_pipeline.transforms.trending import (
    rank_trending,
    usual_window_weights,
    windowed_article_weights,
    with_event_weight,
)

WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "remove_from_cart": -1.0}
WINDOW_START, WINDOW_END = datetime(2020, 9, 22, 10, 0), datetime(2020, 9, 22, 11, 0)


def test_each_event_counts_its_types_weight_and_unknown_types_nothing(spark):
    events_df = spark.createDataFrame(
        [("a", "view"), ("a", "add_to_cart"), ("b", "remove_from_cart"), ("b", "purchase")],
        "article_id string, event_type string")
    expected = spark.createDataFrame(
        [("a", "view", 1.0), ("a", "add_to_cart", 3.0), ("b", "remove_from_cart", -1.0), ("b", "purchase", 0.0)],
        "article_id string, event_type string, weight double")
    assert_df_equality(with_event_weight(events_df, WEIGHTS), expected, ignore_nullable=True)


def test_windows_slide_and_an_event_counts_in_each_window_it_falls_in(spark):
    weighted_df = spark.createDataFrame(
        [("a", datetime(2020, 9, 22, 10, 7), 1.0), ("a", datetime(2020, 9, 22, 10, 12), 3.0)],
        "article_id string, event_time timestamp, weight double")
    rows = sorted(windowed_article_weights(weighted_df, 600, 300, 60).collect())
    assert [(r.window_start.strftime("%H:%M"), r.weight, r.events) for r in rows] == [
        ("10:00", 1.0, 1), ("10:05", 4.0, 2), ("10:10", 3.0, 1)]


def test_usual_weight_is_the_average_per_window_over_the_baseline_days_only(spark):
    weighted_df = spark.createDataFrame(
        [("a", datetime(2020, 9, 20, 12), 6.0), ("a", datetime(2020, 9, 21, 12), 6.0),
         ("a", datetime(2020, 9, 22, 12), 100.0)],  # the day being ranked is not its own baseline
        "article_id string, event_time timestamp, weight double")
    usual_df = usual_window_weights(weighted_df, datetime(2020, 9, 20), datetime(2020, 9, 22), 3600)
    expected = spark.createDataFrame([("a", 12.0 / 48)], "article_id string, usual_weight double")
    assert_df_equality(usual_df, expected, ignore_nullable=True)


def test_movers_rank_by_lift_with_the_prior_and_need_enough_events(spark):
    windows_df = spark.createDataFrame(
        [(WINDOW_START, WINDOW_END, "usual", 20.0, 20),     # busy, but always this busy
         (WINDOW_START, WINDOW_END, "rising", 10.0, 8),     # never clicked before
         (WINDOW_START, WINDOW_END, "blip", 9.0, 1)],       # too few clicks to say
        "window_start timestamp, window_end timestamp, article_id string, weight double, events long")
    usual_df = spark.createDataFrame([("usual", 19.0)], "article_id string, usual_weight double")

    ranked_df = rank_trending(windows_df, usual_df, prior=5.0, min_events=3, top_n=10)

    expected = spark.createDataFrame(
        [(WINDOW_START, WINDOW_END, 1, "rising", 10.0, 8, 0.0, 15.0 / 5.0, date(2020, 9, 22)),
         (WINDOW_START, WINDOW_END, 2, "usual", 20.0, 20, 19.0, 25.0 / 24.0, date(2020, 9, 22))],
        TRENDING_ARTICLES_SCHEMA)
    assert_df_equality(ranked_df, expected, ignore_row_order=True, ignore_nullable=True)


def test_only_the_top_n_of_each_window_are_kept(spark):
    windows_df = spark.createDataFrame(
        [(WINDOW_START, WINDOW_END, f"a{n}", float(n), 5) for n in range(1, 6)],
        "window_start timestamp, window_end timestamp, article_id string, weight double, events long")
    usual_df = spark.createDataFrame([], "article_id string, usual_weight double")
    ranked = rank_trending(windows_df, usual_df, prior=1.0, min_events=1, top_n=2).collect()
    assert sorted((r["rank"], r.article_id) for r in ranked) == [(1, "a5"), (2, "a4")]


class FakeGroupState:
    """What update_ring uses of Spark's GroupState."""

    def __init__(self, ring_json_text=None, timed_out=False, watermark_ms=0):
        self.value = (ring_json_text,) if ring_json_text is not None else None
        self.hasTimedOut = timed_out
        self.watermark_ms = watermark_ms
        self.timeout_ms = None
        self.removed = False

    @property
    def exists(self):
        return self.value is not None

    @property
    def get(self):
        return self.value

    def update(self, value):
        self.value = value

    def remove(self):
        self.value, self.removed = None, True

    def setTimeoutTimestamp(self, timestamp_ms):
        self.timeout_ms = timestamp_ms

    def getCurrentWatermarkMs(self):
        return self.watermark_ms


def _frame(*events):
    return pd.DataFrame([{"event_id": e, "event_type": "view", "article_id": a, "event_time_ms": t}
                         for e, a, t in events])


RING = RingSettings(ring_length=3, ttl_s=60)


def test_a_ring_grows_bounded_and_expires_ttl_after_its_newest_click():
    state = FakeGroupState()
    out = list(update_ring(("shopper",), iter([_frame(("e1", "a", 1_000), ("e2", "b", 2_000))]), state, RING))
    assert [row["shopper_key"] for row in out[0].to_dict("records")] == ["shopper"]
    assert state.timeout_ms == 2_000 + 60_000

    out = list(update_ring(("shopper",), iter([_frame(("e3", "c", 3_000), ("e4", "d", 4_000))]), state, RING))
    assert [e.event_id for e in ring_from_json(state.get[0])] == ["e2", "e3", "e4"]
    assert ring_from_json(out[0]["events_json"][0]) == ring_from_json(state.get[0])


def test_events_seen_before_emit_nothing_and_a_late_shopper_never_expires_behind_the_watermark():
    state = FakeGroupState(watermark_ms=500_000)
    list(update_ring(("shopper",), iter([_frame(("e1", "a", 1_000))]), state, RING))
    assert state.timeout_ms == 500_001  # Spark refuses a timeout before the watermark
    before = state.get[0]
    assert list(update_ring(("shopper",), iter([_frame(("e1", "a", 1_000))]), state, RING)) == []
    assert state.get[0] == before


def test_a_timed_out_ring_is_removed():
    state = FakeGroupState(ring_json(ring_from_json(None)), timed_out=True)
    assert list(update_ring(("shopper",), iter([]), state, RING)) == []
    assert state.removed


@pytest.mark.parametrize("text", [None, "", "[]"])
def test_an_empty_ring_reads_as_no_events(text):
    assert ring_from_json(text) == []
