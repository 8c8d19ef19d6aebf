"""Blocked scoring on a hand-made model whose every score can be worked out on paper."""
import numpy as np
import pandas as pd
import pytest

from fashion_pipeline.recs.scoring import (
    BlendWeights,
    ScoringContext,
    neighbor_batches,
    score_block,
    score_user_batches,
    top_k_columns,
)

# Five articles, rank 2. a3 is not a candidate (not sold lately); a4 trends but has no ALS signal.
CONTEXT = ScoringContext(
    item_factors=np.array([[1, 0], [0, 1], [0.8, 1], [0.5, 0], [0, 0]], dtype=np.float32),
    article_ids=np.array(["a0", "a1", "a2", "a3", "a4"]),
    log_trend=np.array([0.0, 0.0, 0.0, 0.0, 5.0]),
    candidates=np.array([4, 0, 1, 2]),
    k=2,
    weights=BlendWeights(als=1.0, popularity=1.0, repurchase=10.0),
    block_users=2,
)
LIKES_FIRST_AXIS = [1.0, 0.0]
LIKES_SECOND_AXIS = [0.0, 1.0]


def _score(factors, repurchases):
    items = [np.array([i for i, _ in r], dtype=np.int64) for r in repurchases]
    signals = [np.array([s for _, s in r], dtype=np.float64) for r in repurchases]
    return score_block(np.array(factors, dtype=np.float32), items, signals, CONTEXT)


def test_top_k_columns_are_best_first_and_capped_at_the_width():
    scores = np.array([[0.1, 0.9, 0.5], [3.0, 1.0, 2.0]])
    assert top_k_columns(scores, 2).tolist() == [[1, 2], [0, 2]]
    assert top_k_columns(scores, 5).shape == (2, 3)


def test_blend_mixes_trend_and_als_and_tags_each_reason():
    scored = _score([LIKES_FIRST_AXIS], [[]])
    # blend: a4 = 0 + 5 (trend), a0 = 1 (ALS), a2 = 0.8, a1 = 0
    assert scored["item_ids"] == [["a4", "a0"]]
    assert scored["item_scores"][0] == pytest.approx([5.0, 1.0])
    assert scored["item_reasons"] == [["popular", "als"]]
    assert scored["als_ids"] == [["a0", "a2"]]
    assert scored["repurchase_trending_ids"] == [["a4", "a0"]]


def test_a_recent_purchase_outside_the_candidates_can_be_recommended_again():
    scored = _score([LIKES_FIRST_AXIS], [[(3, 1.0)]])
    # a3: ALS 0.5 + trend 0 + 10 * log(2) = 7.43 beats a4's 5
    assert scored["item_ids"] == [["a3", "a4"]]
    assert scored["item_scores"][0][0] == pytest.approx(0.5 + 10 * np.log(2), rel=1e-5)
    assert scored["item_reasons"] == [["repurchase", "popular"]]
    assert scored["repurchase_trending_ids"] == [["a3", "a4"]]


def test_a_repurchased_candidate_appears_once_with_the_repurchase_reason():
    scored = _score([LIKES_SECOND_AXIS, LIKES_FIRST_AXIS], [[(1, 1.0)], [(4, 2.0)]])
    assert scored["item_ids"][0] == ["a1", "a4"]
    assert scored["item_reasons"][0] == ["repurchase", "popular"]
    # the second user bought the trending a4: it is not repeated in repurchase + trending
    assert scored["repurchase_trending_ids"][1] == ["a4", "a0"]
    assert scored["item_ids"][1] == ["a4", "a0"] and scored["item_reasons"][1][0] == "repurchase"


def test_batches_are_scored_in_blocks_and_keep_every_user():
    batch = pd.DataFrame({
        "customer_id": ["u0", "u1", "u2"],
        "features": [np.array(LIKES_FIRST_AXIS), np.array(LIKES_SECOND_AXIS), np.array(LIKES_FIRST_AXIS)],
        "rep_items": [None, [1], None],
        "rep_scores": [None, [1.0], None],
    })
    out = pd.concat(list(score_user_batches(iter([batch]), CONTEXT)))  # block_users=2: two blocks
    assert out["customer_id"].tolist() == ["u0", "u1", "u2"]
    assert out["item_ids"].tolist() == [["a4", "a0"], ["a1", "a4"], ["a4", "a0"]]


def test_neighbours_are_the_closest_candidates_by_cosine_never_the_article_itself():
    batch = pd.DataFrame({"item_index": [0, 2], "features": [np.array([1.0, 0.0]), np.array([0.8, 1.0])]})
    out = pd.concat(list(neighbor_batches(iter([batch]), CONTEXT, k=2)))
    first = out.set_index("article_id")
    assert first.loc["a0", "neighbor_ids"][0] == "a2"
    assert first.loc["a0", "neighbor_scores"][0] == pytest.approx(0.8 / np.hypot(0.8, 1.0), rel=1e-5)
    assert "a0" not in first.loc["a0", "neighbor_ids"] and "a2" not in first.loc["a2", "neighbor_ids"]
