"""The ranker's candidates, features, exported trees and the choice of what is served."""
import numpy as np
import pytest

from fashion_pipeline.recs.ranker import (
    FEATURES,
    LEAF,
    RankingArrays,
    TreeEnsemble,
    UserBlock,
    nearest_candidates,
    unit_rows,
)
from fashion_pipeline.recs.ranker_training import choose_served, export_trees
from fashion_pipeline.recs.scoring import (
    BlendWeights,
    ScoringContext,
    candidate_row_batches,
    ranked_candidates,
    score_user_batches,
    top_k_columns,
    unseen_lists,
)

ITEM_FACTORS = np.array([[1, 0], [0, 1], [0.8, 1], [0.5, 0], [0, 0.2], [0.9, 0.1]], dtype=np.float32)
ARTICLES = np.array(["a0", "a1", "a2", "a3", "a4", "a5"])


def context(**changes) -> ScoringContext:
    arrays = RankingArrays(
        log_popularity=np.log1p(np.array([5.0, 3, 2, 1, 0, 4])),
        log_days_since_release=np.log1p(np.array([100.0, 10, 5, 300, 20, 2])),
        log_price=np.log(np.array([10.0, 20, 30, 5, 8, 12])),
        segment_lift=np.array([[0.5, 0, 0, -0.2, 0, 0.1]], dtype=np.float32),
        segment_top=np.array([[3, 0, -1]]),
        popular=np.array([0, 5, 1]),
        als_candidates=2, neighbour_seeds=1, neighbours_per_seed=1,
    )
    base = ScoringContext(
        item_factors=ITEM_FACTORS, article_ids=ARTICLES, log_trend=np.log1p(np.array([4.0, 3, 2, 1, 0, 5])),
        candidates=np.array([5, 0, 1, 2, 3]), k=3, weights=BlendWeights(als=1.0, popularity=0.1, repurchase=1.0),
        block_users=2, ranking=arrays, history_days=365,
    )
    return ScoringContext(**{**base.__dict__, **changes})


def block(**changes) -> UserBlock:
    base = dict(
        factors=np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32),
        repurchase_items=np.array([[4], [-1]]), repurchase_scores=np.array([[0.7], [0.0]]),
        history_items=np.array([[4, 3], [1, -1]]), history_units=np.array([[2.0, 1.0], [1.0, 0.0]]),
        history_days=np.array([[3.0, 40.0], [10.0, 0.0]]), segment=np.array([0, -1]),
        log_mean_price=np.array([np.log(10.0), np.nan]),
    )
    return UserBlock(**{**base, **changes})


def test_candidates_come_from_every_source_once_each():
    items, features, als_top = ranked_candidates(block(), context())
    first = set(items[0][items[0] >= 0].tolist())
    # ALS top 2 of user 0 among candidates: a0 (1.0), a5 (0.9); own purchase a4; trend top 3:
    # a5, a0, a1; segment top a3, a0; neighbour of the latest purchase a4 (closest: a1).
    assert first == {0, 5, 4, 1, 3}
    assert len(items[0][items[0] >= 0]) == len(first)  # no article twice
    assert als_top[0].tolist() == [0, 5]
    assert features.shape == (2, items.shape[1], len(FEATURES))


def test_features_describe_the_pair_whatever_the_source():
    items, features, _ = ranked_candidates(block(), context())
    column = {name: i for i, name in enumerate(FEATURES)}
    row = {int(item): features[0, slot] for slot, item in enumerate(items[0]) if item >= 0}
    assert row[4][column["already_bought"]] == 1.0 and row[0][column["already_bought"]] == 0.0
    assert row[4][column["own_units"]] == pytest.approx(np.log1p(2.0))
    assert row[4][column["days_since_own_purchase"]] == pytest.approx(np.log1p(3.0))
    assert row[0][column["days_since_own_purchase"]] == pytest.approx(np.log1p(365.0))
    assert row[4][column["repurchase_signal"]] == pytest.approx(np.log1p(0.7))
    assert row[0][column["als_score"]] == pytest.approx(1.0)
    assert row[0][column["als_rank"]] == pytest.approx(np.log1p(1.0))
    assert row[4][column["als_rank"]] == pytest.approx(np.log1p(3.0))  # outside the ALS top 2
    assert row[0][column["segment_lift"]] == pytest.approx(0.5)
    assert row[3][column["segment_rank"]] == pytest.approx(np.log1p(1.0))
    assert row[0][column["price_ratio"]] == pytest.approx(0.0)
    assert row[5][column["price_ratio"]] == pytest.approx(np.log(12.0) - np.log(10.0))
    assert row[5][column["trend_rank"]] == pytest.approx(np.log1p(1.0))
    assert row[0][column["user_distinct_items"]] == pytest.approx(np.log1p(2.0))
    assert row[0][column["user_days_since_last"]] == pytest.approx(np.log1p(3.0))
    assert row[4][column["blend_score"]] == pytest.approx(
        1.0 * 0.0 + 0.1 * np.log1p(0.0) + 1.0 * np.log1p(0.7))  # als, trend and repurchase, as the blend weighs them
    # Unknown segment and price: neutral values, never NaN.
    assert np.isfinite(features).all()
    second = {int(item): features[1, slot] for slot, item in enumerate(items[1]) if item >= 0}
    assert all(f[column["segment_lift"]] == 0.0 and f[column["price_ratio"]] == 0.0 for f in second.values())


def stump(feature: int, threshold: float, low: float, high: float) -> list[dict]:
    return [
        {"feature": feature, "threshold": threshold, "left": 1, "right": 2, "value": 0.0},
        {"feature": LEAF, "threshold": 0.0, "left": -1, "right": -1, "value": low},
        {"feature": LEAF, "threshold": 0.0, "left": -1, "right": -1, "value": high},
    ]


def test_tree_ensemble_sums_weighted_leaves_and_goes_left_on_equal():
    already = FEATURES.index("already_bought")
    ensemble = TreeEnsemble.from_trees([stump(already, 0.5, 1.0, -1.0), stump(0, 0.0, 0.0, 2.0)], [1.0, 0.5])
    rows = np.zeros((3, len(FEATURES)))
    rows[1, already] = 1.0
    rows[2, 0] = 0.3
    assert ensemble.margin(rows).tolist() == pytest.approx([1.0, -1.0, 2.0])


def node_walk_margin(ensemble: TreeEnsemble, rows: np.ndarray) -> np.ndarray:
    """The plain reference: each row follows child links from each root to a leaf."""
    total = np.zeros(len(rows))
    for root, weight in zip(ensemble.roots, ensemble.weights):
        for r, row in enumerate(rows):
            node = root
            while ensemble.feature[node] != LEAF:
                goes_left = row[ensemble.feature[node]] <= ensemble.threshold[node]
                node = ensemble.left[node] if goes_left else ensemble.right[node]
            total[r] += weight * ensemble.value[node]
    return total


def random_tree(rng: np.random.Generator, max_depth: int) -> list[dict]:
    """A lopsided tree: each branch stops at a random depth, some right at the root."""
    nodes: list[dict] = []

    def grow(level: int) -> int:
        index = len(nodes)
        nodes.append({})
        if level == max_depth or rng.random() < 0.3:
            nodes[index] = {"feature": LEAF, "threshold": 0.0, "left": -1, "right": -1, "value": float(rng.normal())}
        else:
            left, right = grow(level + 1), grow(level + 1)
            nodes[index] = {"feature": int(rng.integers(len(FEATURES))), "threshold": float(rng.normal()),
                            "left": left, "right": right, "value": 0.0}
        return index

    grow(0)
    return nodes


def test_complete_tree_walk_gives_the_same_margins_as_following_the_child_links():
    rng = np.random.default_rng(3)
    trees = [random_tree(rng, 5) for _ in range(25)] + [random_tree(rng, 0)]  # a lone leaf too
    ensemble = TreeEnsemble.from_trees(trees, rng.random(len(trees)).tolist())
    rows = rng.normal(size=(400, len(FEATURES)))
    # A value exactly on a split's threshold goes left; random rows almost never hit one.
    splits = np.nonzero(ensemble.feature != LEAF)[0]
    for row, node in enumerate(rng.choice(splits, 100)):
        rows[row, ensemble.feature[node]] = ensemble.threshold[node]
    assert ensemble.margin(rows) == pytest.approx(node_walk_margin(ensemble, rows), abs=1e-12)


def test_the_catalogue_neighbour_table_gives_the_candidates_of_the_per_block_search():
    per_block = ranked_candidates(block(), context())
    table = nearest_candidates(unit_rows(ITEM_FACTORS), context().candidates, np.arange(len(ARTICLES)), 1, top_k_columns)
    arrays = context().ranking
    precomputed = ranked_candidates(block(), context(ranking=RankingArrays(**{**arrays.__dict__, "neighbours": table})))
    np.testing.assert_array_equal(per_block[0], precomputed[0])
    np.testing.assert_array_equal(per_block[1], precomputed[1])
    assert table[4].tolist() == [1]  # a4 = (0, 0.2): closest candidate a1 = (0, 1)
    assert table[1].tolist() == [2]  # a1 itself is a candidate: never its own neighbour


def test_unseen_lists_never_offer_what_the_customer_bought():
    lists = unseen_lists(block(history_items=np.array([[0, 5], [1, 2]])), context(k=4))
    assert lists["als_unseen"][0] == ["a2", "a3", "a1"]  # a0 and a5, its two best, were bought
    assert "a1" not in lists["als_unseen"][1] and "a2" not in lists["als_unseen"][1]
    assert lists["popular_unseen"] == [["a1"], ["a0", "a5"]]


def test_the_served_ranker_never_recommends_what_the_model_rules_out():
    already = FEATURES.index("already_bought")
    ranker = TreeEnsemble.from_trees([stump(already, 0.5, 1.0, -5.0)], [1.0])
    import pandas as pd

    frame = pd.DataFrame({
        "customer_id": ["u0", "u1"], "features": [[1.0, 0.0], [0.0, 1.0]],
        "rep_items": [[4], None], "rep_scores": [[0.7], None], "hist_items": [[4, 3], [1]],
        "hist_units": [[2.0, 1.0], [1.0]], "hist_days": [[3.0, 40.0], [10.0]], "log_mean_price": [np.log(10.0), None],
        "segment_index": [0, None],
    })
    scored = pd.concat(score_user_batches(iter([frame]), context(ranker=ranker, served="ranker")))
    first = scored.iloc[0]
    assert "a4" not in first["item_ids"] and "a3" not in first["item_ids"]  # both bought before
    assert list(first["item_ids"]) == list(first["ranker_ids"]) and len(first["item_ids"]) == 3
    assert set(first["item_reasons"]) <= {"als", "popular"}

    for served in ("ranker", "popular_unseen", "blend"):
        full = pd.concat(score_user_batches(iter([frame]), context(ranker=ranker, served=served)))
        only = pd.concat(score_user_batches(iter([frame]), context(ranker=ranker, served=served), served_only=True))
        assert only["item_ids"].tolist() == full["item_ids"].tolist(), served
        assert only["item_reasons"].tolist() == full["item_reasons"].tolist(), served
        assert only["ranker_ids"].tolist() == [[], []] and only["blend_ids"].tolist() == [[], []]


def test_training_rows_keep_every_positive_and_cap_the_negatives():
    import pandas as pd

    frame = pd.DataFrame({
        "customer_id": ["u0", "u1"], "features": [[1.0, 0.0], [0.0, 1.0]], "rep_items": [[4], None],
        "rep_scores": [[0.7], None], "hist_items": [[4, 3], [1]], "hist_units": [[2.0, 1.0], [1.0]],
        "hist_days": [[3.0, 40.0], [10.0]], "log_mean_price": [np.log(10.0), None], "segment_index": [0, None],
        "actual": [["a4", "zz"], ["a2"]],
    })
    rows = pd.concat(candidate_row_batches(iter([frame]), context(), negatives_per_user=1, seed=3))
    assert rows.groupby("customer_id")["label"].sum().to_dict() == {"u0": 1.0, "u1": 1.0}
    assert (rows.groupby("customer_id")["label"].count() == 2).all()  # one positive, one negative each
    assert all(len(f) == len(FEATURES) for f in rows["features"])


def test_the_ranker_is_served_only_when_it_is_at_least_as_good_as_the_best_single_strategy():
    maps = {"blend": 0.10, "als": 0.12, "repurchase_trending": 0.08, "trending": 0.05, "popular_last_week": 0.05}
    assert choose_served({**maps, "ranker": 0.12})[0] == "ranker"
    served, reason = choose_served({**maps, "ranker": 0.11})
    assert served == "als" and "loses to als" in reason
    assert choose_served(maps, "nothing to learn")[0] == "als"


def test_exported_spark_trees_give_sparks_own_margins(spark):
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.functions import array_to_vector, vector_to_array

    rng = np.random.default_rng(1)
    features = rng.normal(size=(400, len(FEATURES)))
    labels = ((features[:, 0] + 0.5 * features[:, 4] > 0.3) ^ (rng.random(400) < 0.1)).astype(float)
    df = spark.createDataFrame(
        [(float(y), [float(v) for v in x]) for x, y in zip(features, labels)], "label double, features array<double>"
    ).select("label", array_to_vector("features").alias("features"))
    model = GBTClassifier(maxIter=6, maxDepth=3, seed=1).fit(df)
    margins = [row[0][1] for row in model.transform(df).select(vector_to_array("rawPrediction")).collect()]
    ensemble = export_trees(model)
    # Spark's raw prediction for class 1 is the ensemble margin.
    assert ensemble.margin(features) == pytest.approx(np.array(margins), abs=1e-9)
