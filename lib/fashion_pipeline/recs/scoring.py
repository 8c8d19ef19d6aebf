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

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from fashion_pipeline.recs.ranker import (
    FEATURES,
    RankingArrays,
    TreeEnsemble,
    UserBlock,
    candidate_features,
    candidate_items,
    closest_candidates,
    unit_rows,
)

REASON_ALS, REASON_REPURCHASE, REASON_POPULAR = "als", "repurchase", "popular"
FEATURE_ALREADY_BOUGHT = FEATURES.index("already_bought")
SCORED_USERS_SCHEMA = (
    "customer_id string, item_ids array<string>, item_scores array<double>, item_reasons array<string>, "
    "blend_ids array<string>, als_ids array<string>, repurchase_trending_ids array<string>, ranker_ids array<string>, "
    "als_unseen_ids array<string>, popular_unseen_ids array<string>"
)
# What a customer with history can be served; the nightly job picks one on the validation week.
# The *_unseen variants leave out what the customer already bought (in the history window).
SERVABLE_STRATEGIES = (
    "ranker", "blend", "als", "als_unseen", "repurchase_trending", "trending", "popular_last_week", "popular_unseen",
)
# Served lists that need nothing from score_block (blend, ALS, repurchase + trending).
RANKER_AND_UNSEEN = ("ranker", "als_unseen", "popular_unseen")
CANDIDATE_ROWS_SCHEMA = "customer_id string, label double, features array<double>"
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
    # The learned ranker's item features and model (recs/ranker.py); without them only the
    # blend, ALS and repurchase + trending lists are produced.
    ranking: RankingArrays | None = None
    ranker: TreeEnsemble | None = None
    served: str = "blend"
    history_days: int = 365

    @cached_property
    def item_units(self) -> np.ndarray:
        """Item factors scaled to unit length (cosine similarity), once per task, not per block."""
        return unit_rows(self.item_factors)

    @cached_property
    def candidate_column(self) -> np.ndarray:
        """Each article's column among the candidates (its place in the trend), -1 when not one."""
        column = np.full(len(self.article_ids), -1, dtype=np.int64)
        column[self.candidates] = np.arange(len(self.candidates))
        return column

    @cached_property
    def trend_position(self) -> np.ndarray:
        """Each article's 1-based place in the trend; past the last candidate when not one."""
        return np.where(self.candidate_column >= 0, self.candidate_column + 1.0, len(self.candidates) + 1.0)

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
    als: np.ndarray | None = None,
) -> dict[str, list]:
    """Blend, ALS-only and repurchase + trending top k for a block of users (see module doc).

    `als`: the users' scores of the candidates (candidate_scores), when already worked out."""
    n_users, k, w = user_factors.shape[0], context.k, context.weights
    candidates = context.candidates
    if als is None:
        als = candidate_scores(user_factors, context)

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
    rep_position = np.where(has_rep, context.candidate_column[safe_items], -1)
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


def candidate_scores(user_factors: np.ndarray, context: ScoringContext) -> np.ndarray:
    """(users, candidates) ALS scores: the one matrix product every list of a block starts from."""
    return user_factors @ context.item_factors[context.candidates].T


def user_block(frame: pd.DataFrame) -> UserBlock:
    """The columns of score_users' input as padded arrays (history columns optional)."""
    def lists(column: str, dtype) -> list[np.ndarray]:
        if column not in frame:
            return [np.empty(0, dtype=dtype)] * len(frame)
        return [np.asarray(x if x is not None else [], dtype=dtype) for x in frame[column]]

    mean_price = frame["log_mean_price"].to_numpy(dtype=np.float64) if "log_mean_price" in frame else np.full(len(frame), np.nan)
    segment = frame["segment_index"].fillna(-1).to_numpy(dtype=np.int64) if "segment_index" in frame else np.full(len(frame), -1)
    return UserBlock(
        factors=np.stack(frame["features"].to_numpy()).astype(np.float32),
        repurchase_items=_padded(lists("rep_items", np.int64), -1, np.int64),
        repurchase_scores=_padded(lists("rep_scores", np.float64), 0.0, np.float64),
        history_items=_padded(lists("hist_items", np.int64), -1, np.int64),
        history_units=_padded(lists("hist_units", np.float64), 0.0, np.float64),
        history_days=_padded(lists("hist_days", np.float64), 0.0, np.float64),
        segment=segment,
        log_mean_price=mean_price,
    )


def ranked_candidates(block: UserBlock, context: ScoringContext,
                      als: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items (users, C), features (users, C, F), ALS top items) for the block's customers."""
    arrays = context.ranking
    if als is None:
        als = candidate_scores(block.factors, context)
    als_top = context.candidates[top_k_columns(als, arrays.als_candidates)]
    items = candidate_items(block, als_top, context.candidates, context.trending, context.item_units, arrays, top_k_columns)
    features = candidate_features(
        block, items, als_top, context.trend_position, context.log_trend, context.item_factors, context.item_units,
        arrays,
        context.history_days, context.weights,
    )
    return items, features, als_top


def rank_block(block: UserBlock, context: ScoringContext, als: np.ndarray | None = None) -> dict[str, list]:
    """The ranker's top k per customer: ids, margins and reasons."""
    items, features, als_top = ranked_candidates(block, context, als)
    n_users, width = items.shape
    # Only real candidates walk the trees: the -1 padding is a sixth of the slots.
    filled = items.reshape(-1) >= 0
    margin = np.full(n_users * width, -np.inf)
    margin[filled] = context.ranker.margin(features.reshape(n_users * width, -1)[filled])
    margin = margin.reshape(n_users, width)
    best = top_k_columns(margin, context.k)
    best_items = np.take_along_axis(items, best, axis=1)
    best_scores = np.take_along_axis(margin, best, axis=1)
    already = np.take_along_axis(features[:, :, FEATURE_ALREADY_BOUGHT], best, axis=1) > 0
    in_als = (best_items[:, :, None] == als_top[:, None, :]).any(axis=2)
    reasons = np.where(already, REASON_REPURCHASE, np.where(in_als, REASON_ALS, REASON_POPULAR))
    valid = np.isfinite(best_scores)
    ids = context.article_ids
    return {
        "ids": [ids[best_items[u][valid[u]]].tolist() for u in range(n_users)],
        "scores": [best_scores[u][valid[u]].round(6).tolist() for u in range(n_users)],
        "reasons": [reasons[u][valid[u]].tolist() for u in range(n_users)],
    }


def unseen_lists(block: UserBlock, context: ScoringContext, als: np.ndarray | None = None) -> dict[str, list]:
    """ALS over the candidates and last week's best sellers, without the customer's own purchases."""
    n_users = len(block.factors)
    if context.ranking is None:
        return {"als_unseen": [[] for _ in range(n_users)], "popular_unseen": [[] for _ in range(n_users)]}
    candidates = context.candidates
    als = candidate_scores(block.factors, context) if als is None else als.copy()
    owned = block.history_items
    # Each purchase crossed out at its candidate column: users x history, not users x candidates x history.
    owned_column = np.where(owned >= 0, context.candidate_column[np.maximum(owned, 0)], -1)
    users, slots = np.nonzero(owned_column >= 0)
    als[users, owned_column[users, slots]] = -np.inf
    best = top_k_columns(als, context.k)
    valid = np.isfinite(np.take_along_axis(als, best, axis=1))
    popular = context.ranking.popular
    popular_bought = (popular[None, :, None] == owned[:, None, :]).any(axis=2)
    ids = context.article_ids
    return {
        "als_unseen": [ids[candidates[best[u][valid[u]]]].tolist() for u in range(n_users)],
        "popular_unseen": [ids[popular[~popular_bought[u]][: context.k]].tolist() for u in range(n_users)],
    }


def _served(scored: dict[str, list], ranked: dict[str, list] | None, unseen: dict[str, list], block: UserBlock,
            context: ScoringContext) -> tuple[list, list, list]:
    """item_ids, item_scores, item_reasons of the strategy the context serves."""
    if context.served == "blend":
        return scored["item_ids"], scored["item_scores"], scored["item_reasons"]
    if context.served == "ranker":
        return ranked["ids"], ranked["scores"], ranked["reasons"]
    ids = context.article_ids
    if context.served == "als":
        lists, reason_of = scored["als_ids"], lambda u, a: REASON_ALS
    elif context.served == "repurchase_trending":
        own = [set(ids[r[r >= 0]].tolist()) for r in block.repurchase_items]
        lists = scored["repurchase_trending_ids"]
        reason_of = lambda u, a: REASON_REPURCHASE if a in own[u] else REASON_POPULAR  # noqa: E731
    elif context.served == "trending":
        lists, reason_of = [ids[context.trending].tolist()] * len(block.factors), lambda u, a: REASON_POPULAR
    elif context.served == "popular_last_week":
        lists = [ids[context.ranking.popular[: context.k]].tolist()] * len(block.factors)
        reason_of = lambda u, a: REASON_POPULAR  # noqa: E731
    elif context.served in ("als_unseen", "popular_unseen"):
        lists = unseen[context.served]
        reason_of = (lambda u, a: REASON_ALS) if context.served == "als_unseen" else (lambda u, a: REASON_POPULAR)
    else:
        raise ValueError(f"unknown served strategy {context.served!r}; one of {SERVABLE_STRATEGIES}")
    return (
        [list(items) for items in lists],
        [[round(1.0 - position / context.k, 6) for position in range(len(items))] for items in lists],
        [[reason_of(u, a) for a in items] for u, items in enumerate(lists)],
    )


def score_user_batches(
    batches: Iterator[pd.DataFrame], context: ScoringContext, served_only: bool = False
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: customer_id, features, rep_items, rep_scores (and the ranker's history
    columns) -> SCORED_USERS_SCHEMA. `served_only`: the lists other than the served one are left
    empty, and the ranker and the *_unseen lists are only worked out when they are served."""
    for batch in batches:
        for start in range(0, len(batch), context.block_users):
            frame = batch.iloc[start : start + context.block_users]
            block = user_block(frame)
            als = candidate_scores(block.factors, context)
            empty = [[] for _ in range(len(frame))]
            no_scored = {"item_ids": empty, "als_ids": empty, "repurchase_trending_ids": empty}
            no_unseen = {"als_unseen": empty, "popular_unseen": empty}
            needs_scored = not served_only or context.served not in RANKER_AND_UNSEEN
            scored = score_block(
                block.factors, [r[r >= 0] for r in block.repurchase_items],
                [s[r >= 0] for r, s in zip(block.repurchase_items, block.repurchase_scores)], context, als,
            ) if needs_scored else no_scored
            needs_ranker = context.ranker is not None and (not served_only or context.served == "ranker")
            ranked = rank_block(block, context, als) if needs_ranker else None
            needs_unseen = not served_only or context.served in ("als_unseen", "popular_unseen")
            unseen = unseen_lists(block, context, als) if needs_unseen else no_unseen
            item_ids, item_scores, item_reasons = _served(scored, ranked, unseen, block, context)
            if served_only:
                scored, ranked, unseen = no_scored, None, no_unseen
            yield pd.DataFrame({
                "customer_id": frame["customer_id"].to_numpy(),
                "item_ids": item_ids, "item_scores": item_scores, "item_reasons": item_reasons,
                "blend_ids": scored["item_ids"], "als_ids": scored["als_ids"],
                "repurchase_trending_ids": scored["repurchase_trending_ids"],
                "ranker_ids": ranked["ids"] if ranked else empty,
                "als_unseen_ids": unseen["als_unseen"], "popular_unseen_ids": unseen["popular_unseen"],
            })


def candidate_row_batches(batches: Iterator[pd.DataFrame], context: ScoringContext, negatives_per_user: int,
                          seed: int) -> Iterator[pd.DataFrame]:
    """mapInPandas body for the ranker's training rows: customer_id, features, history columns,
    actual (articles bought in the label week) -> customer_id, label, features (one row per
    candidate; every positive, and at most `negatives_per_user` negatives drawn at random)."""
    for batch in batches:
        for start in range(0, len(batch), context.block_users):
            frame = batch.iloc[start : start + context.block_users]
            block = user_block(frame)
            items, features, _ = ranked_candidates(block, context)
            bought = [set(a) if a is not None else set() for a in frame["actual"]]
            ids = context.article_ids
            customers = frame["customer_id"].to_numpy()
            rng = np.random.default_rng([seed, zlib.crc32(str(customers[0]).encode())])
            rows_customer, rows_label, rows_features = [], [], []
            for u in range(len(customers)):
                slots = np.nonzero(items[u] >= 0)[0]
                labels = np.array([ids[items[u][s]] in bought[u] for s in slots], dtype=bool)
                negatives = slots[~labels]
                if len(negatives) > negatives_per_user:
                    negatives = rng.choice(negatives, negatives_per_user, replace=False)
                keep = np.concatenate([slots[labels], negatives])
                rows_customer.extend([customers[u]] * len(keep))
                rows_label.extend([1.0] * int(labels.sum()) + [0.0] * len(negatives))
                rows_features.extend(features[u][keep].tolist())
            yield pd.DataFrame({"customer_id": rows_customer, "label": rows_label, "features": rows_features})


def neighbor_batches(
    batches: Iterator[pd.DataFrame], context: ScoringContext, k: int
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: item_index, features -> the k most cosine-similar candidates of each."""
    candidate_units = unit_rows(context.item_factors[context.candidates])
    for batch in batches:
        for start in range(0, len(batch), context.block_users):
            block = batch.iloc[start : start + context.block_users]
            items = block["item_index"].to_numpy().astype(np.int64)
            factors = unit_rows(np.stack(block["features"].to_numpy()).astype(np.float32))
            closest, best_scores = closest_candidates(
                factors, items, candidate_units, context.candidates, k, top_k_columns)
            valid = closest >= 0
            neighbor_ids = context.article_ids[np.maximum(closest, 0)]
            yield pd.DataFrame({
                "article_id": context.article_ids[items],
                "neighbor_ids": [neighbor_ids[r][valid[r]].tolist() for r in range(len(items))],
                "neighbor_scores": [best_scores[r][valid[r]].round(6).tolist() for r in range(len(items))],
            })


