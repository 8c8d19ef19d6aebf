"""Scoring users and items in blocks against a bounded set of candidate articles.

The naive way, every user against every article (recommendForAllUsers, or a cross join), costs
users x articles dot products and a shuffle of the products. Here only articles sold in the last
`candidate_days` are candidates (at most `max_candidates`, by trend), their factors travel to the
executors once (a broadcast of a few MB), and each executor multiplies a block of users by the
candidate matrix and keeps the top k with `argpartition`: no shuffle, memory bounded by the block.

One pass yields three lists per user, so evaluation compares them on equal terms:
- blend: ALS score, the article's trend and the user's own repurchase signal, combined as
  als_weight * als + popularity_weight * log(1 + trend) + repurchase_weight * log(1 + repurchase);
  every item carries a reason: repurchase (the user bought it lately), als (it is among the user's
  own ALS top k) or popular (trend carried it);
- als: the top k candidates by ALS score alone;
- repurchase_trending: the user's recent purchases, most recent signal first, then the trend.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

REASON_ALS, REASON_REPURCHASE, REASON_POPULAR = "als", "repurchase", "popular"
SCORED_USERS_SCHEMA = (
    "customer_id string, item_ids array<string>, item_scores array<double>, item_reasons array<string>, "
    "als_ids array<string>, repurchase_trending_ids array<string>"
)
NEIGHBORS_SCHEMA = "article_id string, neighbor_ids array<string>, neighbor_scores array<double>"


@dataclass(frozen=True)
class BlendWeights:
    als: float
    popularity: float
    repurchase: float


@dataclass(frozen=True)
class ScoringContext:
    """What every scoring task needs, small enough to broadcast (bounded by the catalogue).

    Arrays are indexed by the dense article index of the model."""

    item_factors: np.ndarray  # (n_items, rank) float32
    article_ids: np.ndarray  # (n_items,) str
    log_trend: np.ndarray  # (n_items,) log(1 + decayed recent units)
    candidates: np.ndarray  # article indexes allowed as recommendations, best trend first
    k: int
    weights: BlendWeights
    block_users: int

    @property
    def trending(self) -> np.ndarray:
        """The k best candidates by trend: the fill of repurchase + trending."""
        return self.candidates[: self.k]


def top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the column indexes of the k largest scores, best first (k capped at the width)."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.empty((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _padded(lists: list[np.ndarray], fill, dtype) -> np.ndarray:
    # At least one column, so that blocks where nobody has a repurchase keep the same shapes.
    width = max(max((len(x) for x in lists), default=0), 1)
    out = np.full((len(lists), width), fill, dtype=dtype)
    for row, values in enumerate(lists):
        out[row, : len(values)] = values
    return out


def score_block(
    user_factors: np.ndarray,
    repurchase_items: list[np.ndarray],
    repurchase_scores: list[np.ndarray],
    context: ScoringContext,
) -> dict[str, list]:
    """Blend, ALS-only and repurchase + trending top k for a block of users (see module doc)."""
    n_users, k, w = user_factors.shape[0], context.k, context.weights
    candidates = context.candidates
    candidate_factors = context.item_factors[candidates]
    als = user_factors @ candidate_factors.T  # (users, candidates)

    als_top = top_k_columns(als, k)
    in_als_top = np.zeros(als.shape, dtype=bool)
    np.put_along_axis(in_als_top, als_top, True, axis=1)

    blend = w.als * als + w.popularity * context.log_trend[candidates][None, :]

    # The user's own recent purchases: scored like any article, plus the repurchase term. They are
    # appended as extra columns (one per purchase), and hidden among the candidates to avoid twins.
    rep_items = _padded(repurchase_items, -1, np.int64)  # (users, max purchases)
    rep_signal = _padded(repurchase_scores, 0.0, np.float64)
    has_rep = rep_items >= 0
    safe_items = np.where(has_rep, rep_items, 0)
    rep_als = np.einsum("ur,upr->up", user_factors, context.item_factors[safe_items])
    rep_blend = w.als * rep_als + w.popularity * context.log_trend[safe_items] + w.repurchase * np.log1p(rep_signal)
    rep_blend = np.where(has_rep, rep_blend, -np.inf)
    position = np.full(len(context.article_ids), -1, dtype=np.int64)
    position[candidates] = np.arange(len(candidates))
    rep_position = np.where(has_rep, position[safe_items], -1)
    rows, cols = np.nonzero(rep_position >= 0)
    blend[rows, rep_position[rows, cols]] = -np.inf

    combined = np.concatenate([blend, rep_blend], axis=1)
    best = top_k_columns(combined, k)
    best_scores = np.take_along_axis(combined, best, axis=1)
    from_rep = best >= len(candidates)
    cand_col = np.where(from_rep, 0, best)
    rep_col = np.where(from_rep, best - len(candidates), 0)
    best_items = np.where(from_rep, np.take_along_axis(safe_items, rep_col, axis=1), candidates[cand_col])
    reasons = np.where(
        from_rep, REASON_REPURCHASE,
        np.where(np.take_along_axis(in_als_top, cand_col, axis=1), REASON_ALS, REASON_POPULAR),
    )
    valid = np.isfinite(best_scores)

    # Repurchase + trending: own purchases by signal, then the trend, without repeating one.
    trending = context.trending
    rep_rank_score = np.where(has_rep, 1e9 + rep_signal, -np.inf)
    trend_rank_score = np.broadcast_to(np.arange(len(trending), 0, -1, dtype=np.float64), (n_users, len(trending))).copy()
    duplicate = (rep_items[:, :, None] == trending[None, None, :]).any(axis=1)
    trend_rank_score[duplicate] = -np.inf
    rt_scores = np.concatenate([rep_rank_score, trend_rank_score], axis=1)
    rt_items = np.concatenate([safe_items, np.broadcast_to(trending, (n_users, len(trending)))], axis=1)
    rt_best = top_k_columns(rt_scores, k)
    rt_valid = np.isfinite(np.take_along_axis(rt_scores, rt_best, axis=1))
    rt_ids = np.take_along_axis(rt_items, rt_best, axis=1)

    ids = context.article_ids
    return {
        "item_ids": [ids[best_items[u][valid[u]]].tolist() for u in range(n_users)],
        "item_scores": [best_scores[u][valid[u]].round(6).tolist() for u in range(n_users)],
        "item_reasons": [reasons[u][valid[u]].tolist() for u in range(n_users)],
        "als_ids": [ids[candidates[als_top[u]]].tolist() for u in range(n_users)],
        "repurchase_trending_ids": [ids[rt_ids[u][rt_valid[u]]].tolist() for u in range(n_users)],
    }


def score_user_batches(batches: Iterator[pd.DataFrame], context: ScoringContext) -> Iterator[pd.DataFrame]:
    """mapInPandas body: customer_id, features, rep_items, rep_scores -> SCORED_USERS_SCHEMA."""
    for batch in batches:
        for start in range(0, len(batch), context.block_users):
            block = batch.iloc[start : start + context.block_users]
            factors = np.stack(block["features"].to_numpy()).astype(np.float32)
            rep_items = [np.asarray(x if x is not None else [], dtype=np.int64) for x in block["rep_items"]]
            rep_scores = [np.asarray(x if x is not None else [], dtype=np.float64) for x in block["rep_scores"]]
            scored = score_block(factors, rep_items, rep_scores, context)
            yield pd.DataFrame({"customer_id": block["customer_id"].to_numpy(), **scored})


def neighbor_batches(
    batches: Iterator[pd.DataFrame], context: ScoringContext, k: int
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: item_index, features -> the k most cosine-similar candidates of each."""
    candidate_factors = _unit_rows(context.item_factors[context.candidates])
    for batch in batches:
        for start in range(0, len(batch), context.block_users):
            block = batch.iloc[start : start + context.block_users]
            items = block["item_index"].to_numpy().astype(np.int64)
            factors = _unit_rows(np.stack(block["features"].to_numpy()).astype(np.float32))
            cosine = factors @ candidate_factors.T
            cosine[context.candidates[None, :] == items[:, None]] = -np.inf  # not its own neighbour
            best = top_k_columns(cosine, k)
            best_scores = np.take_along_axis(cosine, best, axis=1)
            valid = np.isfinite(best_scores)
            neighbor_ids = context.article_ids[context.candidates[best]]
            yield pd.DataFrame({
                "article_id": context.article_ids[items],
                "neighbor_ids": [neighbor_ids[r][valid[r]].tolist() for r in range(len(items))],
                "neighbor_scores": [best_scores[r][valid[r]].round(6).tolist() for r in range(len(items))],
            })


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)
