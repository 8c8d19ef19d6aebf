"""The learned ranker's numpy side: candidates and features per (customer, article), and the tree
ensemble that ranks them, evaluated in blocks on the executors without Spark ML at serving time.

Every customer with history gets candidates from five sources (their own ALS top, their own
recent purchases, the trend, their segment's best sellers and the closest neighbours of their
latest purchases), de-duplicated, and one feature row per candidate. The features describe the
pair whatever the source, so the same row serves training (labelled by next week's purchases)
and serving; whether the customer already bought the article is a feature, so the model learns
from each store's data whether people buy the same thing again.

The model is a gradient-boosted tree ensemble trained by Spark ML on a week's candidates
(recs/ranker_training.py) and exported to arrays; `TreeEnsemble.margin` is Spark's raw margin.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

FEATURES = (
    "als_score", "als_rank", "own_units", "days_since_own_purchase", "already_bought", "repurchase_signal",
    "log_trend", "log_popularity", "log_days_since_release", "segment_lift", "price_ratio",
    "neighbour_similarity", "trend_rank", "segment_rank", "user_distinct_items", "user_days_since_last",
    "blend_score",
)
LEAF = -1


@dataclass(frozen=True)
class CompleteTrees:
    feature: np.ndarray  # (trees, 2**depth - 1) split feature per heap position
    threshold: np.ndarray  # (trees, 2**depth - 1); +inf where a leaf was pushed down (always left)
    leaf_value: np.ndarray  # (trees, 2**depth)
    depth: int

    @property
    def first_leaf(self) -> int:
        """The heap position of the first leaf: the count of split positions above it."""
        return 2**self.depth - 1


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees flattened into node arrays; children indexes are global (offset per tree).

    A row goes left when feature <= threshold, as in Spark ML's continuous splits."""

    feature: np.ndarray  # (nodes,) int32, LEAF for leaves
    threshold: np.ndarray  # (nodes,) float64
    left: np.ndarray  # (nodes,) int32
    right: np.ndarray  # (nodes,) int32
    value: np.ndarray  # (nodes,) float64: the leaf prediction
    roots: np.ndarray  # (trees,) int32
    weights: np.ndarray  # (trees,) float64
    depth: int

    def margin(self, rows: np.ndarray) -> np.ndarray:
        """sum over trees of weight * leaf value, for rows (n, len(FEATURES))."""
        n = rows.shape[0]
        if n == 0:
            return np.zeros(0)
        complete = self.complete
        values = np.ascontiguousarray(rows, dtype=np.float64).ravel()
        row_start = np.arange(n, dtype=np.intp) * rows.shape[1]
        total = np.zeros(n)
        for tree in range(len(self.roots)):
            feature, threshold = complete.feature[tree], complete.threshold[tree]
            position = np.zeros(n, dtype=np.intp)
            for _ in range(complete.depth):
                goes_right = values.take(row_start + feature.take(position)) > threshold.take(position)
                position = 2 * position + 1 + goes_right
            total += self.weights[tree] * complete.leaf_value[tree].take(position - complete.first_leaf)
        return total

    @cached_property
    def complete(self) -> CompleteTrees:
        """The trees as complete binary trees of the ensemble's depth, in heap order, so that a
        row walks each with arithmetic on its position instead of child lookups (several times
        faster over the hundreds of thousands of rows of a scoring block). A leaf above the
        bottom becomes a chain of always-left splits ending in copies of itself."""
        depth = max(self.depth, 1)
        inner = 2**depth - 1
        feature = np.zeros((len(self.roots), inner), dtype=np.intp)
        threshold = np.full((len(self.roots), inner), np.inf)
        leaf_value = np.zeros((len(self.roots), 2**depth))
        for tree, root in enumerate(self.roots):
            stack = [(int(root), 0, 0)]
            while stack:
                node, position, level = stack.pop()
                if level == depth:
                    leaf_value[tree, position - inner] = self.value[node]
                    continue
                is_leaf = self.feature[node] == LEAF
                if not is_leaf:
                    feature[tree, position] = self.feature[node]
                    threshold[tree, position] = self.threshold[node]
                left = node if is_leaf else int(self.left[node])
                right = node if is_leaf else int(self.right[node])
                stack.extend([(left, 2 * position + 1, level + 1), (right, 2 * position + 2, level + 1)])
        return CompleteTrees(feature=feature, threshold=threshold, leaf_value=leaf_value, depth=depth)

    def to_dict(self) -> dict:
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return {name: (value.tolist() if isinstance(value, np.ndarray) else value) for name, value in values.items()}

    @classmethod
    def from_trees(cls, trees: list[list[dict]], weights: list[float]) -> TreeEnsemble:
        """From per-tree node lists: {"feature", "threshold", "left", "right", "value"}, children
        indexed within their tree, the root first."""
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        depth = 0
        for nodes in trees:
            offset = len(feature)
            roots.append(offset)
            for node in nodes:
                feature.append(node["feature"])
                threshold.append(node["threshold"])
                left.append(node["left"] + offset if node["feature"] != LEAF else -1)
                right.append(node["right"] + offset if node["feature"] != LEAF else -1)
                value.append(node["value"])
            depth = max(depth, _tree_depth(nodes))
        return cls(
            feature=np.asarray(feature, dtype=np.int32), threshold=np.asarray(threshold, dtype=np.float64),
            left=np.asarray(left, dtype=np.int32), right=np.asarray(right, dtype=np.int32),
            value=np.asarray(value, dtype=np.float64), roots=np.asarray(roots, dtype=np.int32),
            weights=np.asarray(weights, dtype=np.float64), depth=depth,
        )


def _tree_depth(nodes: list[dict]) -> int:
    deepest, stack = 0, [(0, 0)]
    while stack:
        index, level = stack.pop()
        deepest = max(deepest, level)
        if nodes[index]["feature"] != LEAF:
            stack.extend([(nodes[index]["left"], level + 1), (nodes[index]["right"], level + 1)])
    return deepest


@dataclass(frozen=True)
class RankingArrays:
    """The item side of the features, indexed by the model's dense article index."""

    log_popularity: np.ndarray  # (n_items,) log(1 + units in the last popular_days)
    log_days_since_release: np.ndarray  # (n_items,) log(1 + days since the first sale in history)
    log_price: np.ndarray  # (n_items,) log of the mean price paid
    segment_lift: np.ndarray  # (n_segments, n_items) float32: log lift of the segment's share
    segment_top: np.ndarray  # (n_segments, k) int64 best sellers of each segment, -1 padded
    popular: np.ndarray  # the most sold articles of the last popular_days, best first (k + history items)
    als_candidates: int
    neighbour_seeds: int
    neighbours_per_seed: int
    # (n_items, neighbours_per_seed) each article's nearest candidates, worked out once per night
    # for the whole catalogue rather than per block of customers; None: per block.
    neighbours: np.ndarray | None = None


@dataclass
class UserBlock:
    """A block of customers with history, as arrays (lists padded with -1 / 0)."""

    factors: np.ndarray  # (users, rank) float32
    repurchase_items: np.ndarray  # (users, R) int64, -1 padded
    repurchase_scores: np.ndarray  # (users, R) float64
    history_items: np.ndarray  # (users, H) int64 distinct articles bought, most recent first, -1 padded
    history_units: np.ndarray  # (users, H) float64
    history_days: np.ndarray  # (users, H) float64 days since the last purchase of each
    segment: np.ndarray  # (users,) int64, -1 when the segment sold nothing lately
    log_mean_price: np.ndarray  # (users,) float64, nan when unknown


def candidate_items(block: UserBlock, als_top: np.ndarray, candidates: np.ndarray, trending: np.ndarray,
                    item_units: np.ndarray, arrays: RankingArrays, top_k_columns) -> np.ndarray:
    """(users, C) article indexes, -1 padded, each at most once per row, from the five sources;
    `als_top`: each customer's ALS top (arrays.als_candidates article indexes)."""
    n_users = als_top.shape[0]
    seeds = block.history_items[:, : arrays.neighbour_seeds]
    neighbours = np.full((n_users, seeds.shape[1] * arrays.neighbours_per_seed), -1, dtype=np.int64)
    if seeds.size and arrays.neighbours_per_seed:
        table = arrays.neighbours
        if table is None:
            table = np.full((len(item_units), arrays.neighbours_per_seed), -1, dtype=np.int64)
            wanted = np.unique(seeds[seeds >= 0])
            table[wanted] = nearest_candidates(item_units, candidates, wanted, arrays.neighbours_per_seed, top_k_columns)
        closest = np.where((seeds >= 0)[:, :, None], table[np.maximum(seeds, 0)], -1)
        neighbours[:, : closest.shape[1] * closest.shape[2]] = closest.reshape(n_users, -1)
    segment_top = np.where(
        (block.segment >= 0)[:, None], arrays.segment_top[np.maximum(block.segment, 0)], -1
    )
    stacked = np.concatenate([
        als_top, block.repurchase_items, np.broadcast_to(trending, (n_users, len(trending))), segment_top, neighbours,
    ], axis=1)
    return _distinct_per_row(stacked)


def nearest_candidates(item_units: np.ndarray, candidates: np.ndarray, items: np.ndarray, k: int, top_k_columns,
                       chunk: int = 4096) -> np.ndarray:
    """(len(items), k) the candidates closest by cosine to each item (never itself), best first,
    -1 padded when there are fewer than k other candidates."""
    out = np.full((len(items), k), -1, dtype=np.int64)
    candidate_units = item_units[candidates]
    for start in range(0, len(items), chunk):
        part = items[start: start + chunk]
        closest, _ = closest_candidates(item_units[part], part, candidate_units, candidates, k, top_k_columns)
        out[start: start + len(part), : closest.shape[1]] = closest
    return out


def closest_candidates(units: np.ndarray, items: np.ndarray, candidate_units: np.ndarray, candidates: np.ndarray,
                       k: int, top_k_columns) -> tuple[np.ndarray, np.ndarray]:
    """For the articles `items` (their unit factor rows `units`): the article indexes and cosines
    of their k closest candidates, never the article itself, best first; -1 and -inf where there
    are fewer than k others."""
    cosine = units @ candidate_units.T
    cosine[candidates[None, :] == items[:, None]] = -np.inf
    best = top_k_columns(cosine, k)
    scores = np.take_along_axis(cosine, best, axis=1)
    return np.where(np.isfinite(scores), candidates[best], -1), scores


def _distinct_per_row(items: np.ndarray) -> np.ndarray:
    ordered = np.sort(items, axis=1)
    repeat = np.zeros(ordered.shape, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    return np.where(repeat, -1, ordered)


def candidate_features(block: UserBlock, items: np.ndarray, als_rank_items: np.ndarray, trend_position: np.ndarray,
                       log_trend: np.ndarray, item_factors: np.ndarray, item_units: np.ndarray,
                       arrays: RankingArrays, history_days: int, blend_weights) -> np.ndarray:
    """(users, C, len(FEATURES)) float64 for the candidates `items` (-1 slots get zeros)."""
    valid = items >= 0
    safe = np.where(valid, items, 0)
    als_score = np.einsum("ur,ucr->uc", block.factors, item_factors[safe])

    def position_in(lists: np.ndarray, missing: float) -> np.ndarray:
        match = (items[:, :, None] == lists[:, None, :]) & (lists[:, None, :] >= 0)
        return np.where(match.any(axis=2), match.argmax(axis=2) + 1.0, missing)

    als_rank = position_in(als_rank_items, als_rank_items.shape[1] + 1.0)
    owned = (items[:, :, None] == block.history_items[:, None, :]) & (block.history_items[:, None, :] >= 0)
    already = owned.any(axis=2)
    own_units = (owned * block.history_units[:, None, :]).sum(axis=2)
    days_since_own = np.where(
        already, np.where(owned, block.history_days[:, None, :], np.inf).min(axis=2), float(history_days)
    )
    repurchase = (
        ((items[:, :, None] == block.repurchase_items[:, None, :]) & (block.repurchase_items[:, None, :] >= 0))
        * block.repurchase_scores[:, None, :]
    ).sum(axis=2)
    segment_rows = np.maximum(block.segment, 0)
    lift = np.where((block.segment >= 0)[:, None], arrays.segment_lift[segment_rows[:, None], safe], 0.0)
    segment_top = np.where((block.segment >= 0)[:, None], arrays.segment_top[segment_rows], -1)
    segment_rank = position_in(segment_top, segment_top.shape[1] + 1.0)
    user_price = np.nan_to_num(block.log_mean_price, nan=0.0)
    price_ratio = np.where(np.isnan(block.log_mean_price)[:, None], 0.0, arrays.log_price[safe] - user_price[:, None])

    seeds = block.history_items[:, : arrays.neighbour_seeds]
    if seeds.shape[1]:
        seed_units = item_units[np.where(seeds >= 0, seeds, 0)]  # (users, S, rank)
        cosine = np.einsum("ucr,usr->ucs", item_units[safe], seed_units)
        cosine = np.where((seeds >= 0)[:, None, :] & (items[:, :, None] != seeds[:, None, :]), cosine, -1.0)
        neighbour = cosine.max(axis=2)
    else:
        neighbour = np.full(items.shape, -1.0)

    has_history = block.history_items >= 0
    distinct = has_history.sum(axis=1).astype(np.float64)
    last = np.where(has_history, block.history_days, np.inf).min(axis=1)
    last = np.where(np.isfinite(last), last, float(history_days))
    columns = [
        als_score, np.log1p(als_rank), np.log1p(own_units), np.log1p(days_since_own), already.astype(np.float64),
        np.log1p(repurchase), log_trend[safe], arrays.log_popularity[safe], arrays.log_days_since_release[safe],
        lift, price_ratio, neighbour, np.log1p(trend_position[safe]), np.log1p(segment_rank),
        np.broadcast_to(np.log1p(distinct)[:, None], items.shape), np.broadcast_to(np.log1p(last)[:, None], items.shape),
        # The hand-set blend's own score: the trees start from what the blend knows.
        blend_weights.als * als_score + blend_weights.popularity * log_trend[safe]
        + blend_weights.repurchase * np.log1p(repurchase),
    ]
    features = np.stack(columns, axis=2).astype(np.float64)
    features[~valid] = 0.0
    return features


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)
