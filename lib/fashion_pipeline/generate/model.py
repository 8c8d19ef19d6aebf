"""The one model of synthetic truth: whom a sale goes to, what they buy and when, at what price.

Nothing here writes files. The H&M CSV writer, and later the store's OLTP orders and the
clickstream, all draw from the same `TasteModel`, so a recommender trained on any of them is
chasing the same planted preferences (see `segment_preferences()` for the ground truth). The
population it draws from is built in `catalogue` and `population`, the days in `calendar`; the
Arrow tables of that population are in `frames`.

Every random stream is keyed by name (and by month for transactions) from one seed through
`numpy.random.SeedSequence`, so a stream gives the same numbers whatever else was drawn before.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from fashion_pipeline.generate import taxonomy
from fashion_pipeline.generate.calendar import (
    FIRST_DAY,
    MONTH_OF_DAY,
    N_DAYS,
    N_MONTHS,
    ON_SALE,
    month_of_day,
    rows_per_day,
)
from fashion_pipeline.generate.catalogue import (
    COLOUR_CODES,
    COLOUR_NAMES,
    GARMENT_GROUP_NAMES,
    GARMENT_GROUP_NOS,
    MAX_PRICE_POINT,
    PRODUCT_TYPE_NAMES,
    PRODUCT_TYPE_NOS,
    Catalogue,
    build_catalogue,
    price_value,
)
from fashion_pipeline.generate.population import (
    Customers,
    Segments,
    build_customers,
    build_segments,
    segment_affinity,
)
from fashion_pipeline.generate.scales import ScaleSpec

ONLINE_CHANNEL, STORE_CHANNEL = 2, 1
# Newness: demand for an article fades over about ARTICLE_LIFETIME_DAYS after launch, to a floor.
ARTICLE_LIFETIME_DAYS = 90.0
LIFECYCLE_FLOOR = 0.06
UNIT_REPEAT_SHARE = 0.06  # lines bought in more than one unit (written as identical rows)
EXTRA_UNITS_P = 0.55
BASKET_LINES_P = 0.38  # geometric: mean basket of ~2.6 distinct articles
REPURCHASE_SHARE = 0.18
HISTORY_SLOTS = 8
DISCOUNTS = (0.7, 0.6, 0.5)
BASE_DISCOUNT_P, SALE_DISCOUNT_P, OLD_ARTICLE_EXTRA_DISCOUNT_P = 0.04, 0.45, 0.12
OLD_ARTICLE_DAYS = 150

_STREAM_CATALOGUE, _STREAM_CUSTOMERS, _STREAM_SEGMENTS, _STREAM_TRANSACTIONS = 1, 2, 3, 4


@dataclass
class TransactionChunk:
    """Sold units of one calendar month, in day order; one row per unit."""

    month: str  # YYYY-MM
    day: np.ndarray  # day offset
    customer: np.ndarray  # customer index
    article: np.ndarray  # article index
    price_point: np.ndarray
    sales_channel_id: np.ndarray

    def __len__(self) -> int:
        return len(self.day)

    @property
    def price(self) -> np.ndarray:
        return price_value(self.price_point)


@dataclass
class _MonthArticleWeights:
    """Cumulative purchase weights per segment over articles in launch order, for one month."""

    cumulative: np.ndarray  # (segment, article in launch order)


@dataclass
class TasteModel:
    """Seeded synthetic truth for one scale; build with `TasteModel.build(scale, seed)`."""

    scale: ScaleSpec
    seed: int
    segments: Segments
    catalogue: Catalogue
    customers: Customers
    _launch_order: np.ndarray = field(repr=False)
    _launch_day_sorted: np.ndarray = field(repr=False)
    _affinity: np.ndarray = field(repr=False)  # (segment, article)
    _month_weights: dict[int, _MonthArticleWeights] = field(default_factory=dict, repr=False)
    _join_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    # ----------------------------------------------------------------------------- building
    @classmethod
    def build(cls, scale: ScaleSpec, seed: int) -> "TasteModel":
        segments = build_segments(_stream(seed, _STREAM_SEGMENTS))
        catalogue = build_catalogue(_stream(seed, _STREAM_CATALOGUE), scale.n_articles)
        customers = build_customers(_stream(seed, _STREAM_CUSTOMERS), scale.n_customers, segments)
        launch_order = np.argsort(catalogue.launch_day, kind="stable")
        affinity = segment_affinity(segments, catalogue)
        return cls(
            scale=scale, seed=seed, segments=segments, catalogue=catalogue, customers=customers,
            _launch_order=launch_order, _launch_day_sorted=catalogue.launch_day[launch_order],
            _affinity=affinity,
        )

    # ----------------------------------------------------------------------------- lookups
    @property
    def n_segments(self) -> int:
        return len(self.segments.prior)

    def segment_of_customer(self, customer_index: np.ndarray | int) -> np.ndarray:
        return self.customers.segment[customer_index]

    def article_affinity(self, segment: int) -> np.ndarray:
        """Timeless purchase propensity of a segment over all articles (sums to 1)."""
        weights = self._affinity[segment]
        return weights / weights.sum()

    def article_weights(self, segment: int, day: int) -> np.ndarray:
        """Purchase probability of each article for a segment on a day (launched articles only,
        with popularity, season and newness applied); sums to 1."""
        weights = self._affinity[segment] * self._time_factor(month_of_day(day))
        weights[self.catalogue.launch_day > day] = 0.0
        return weights / weights.sum()

    def launched_by(self, day: int) -> np.ndarray:
        """Indices of the articles on sale on a day."""
        return np.sort(self._launch_order[: self._n_launched(np.asarray([day]))[0]])

    # ----------------------------------------------------------------------------- sampling
    def sample_customers(self, days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A shopper for each of `days`, in proportion to activity among those joined by then."""
        order, cumulative, join_sorted = self._customers_by_join()
        n_joined = np.searchsorted(join_sorted, days, side="right")
        n_joined = np.maximum(n_joined, 1)
        draws = rng.random(len(days)) * cumulative[n_joined - 1]
        positions = np.minimum(np.searchsorted(cumulative, draws, side="right"), n_joined - 1)
        return order[positions]

    def sample_articles(
        self, customers: np.ndarray, days: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """An article for each (customer, day): drawn from the customer's segment taste,
        restricted to articles launched by that day, with popularity, season and newness."""
        customers = np.asarray(customers)
        days = np.asarray(days)
        chosen = np.empty(len(days), dtype=np.int32)
        if len(days) == 0:
            return chosen
        segments = self.customers.segment[customers]
        months = MONTH_OF_DAY[np.clip(days, 0, N_DAYS - 1)]
        uniforms = rng.random(len(days))
        n_launched = self._n_launched(days)
        group_key = months.astype(np.int64) * self.n_segments + segments
        order = np.argsort(group_key, kind="stable")
        keys, starts = np.unique(group_key[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        for key, start, end in zip(keys.tolist(), starts.tolist(), ends.tolist()):
            month, segment = divmod(key, self.n_segments)
            rows = order[start:end]
            cumulative = self._weights_for_month(month).cumulative[segment]
            limit = n_launched[rows]
            draws = uniforms[rows] * cumulative[limit - 1]
            positions = np.minimum(np.searchsorted(cumulative, draws, side="right"), limit - 1)
            chosen[rows] = self._launch_order[positions]
        return chosen

    def iter_transaction_chunks(self) -> Iterator[TransactionChunk]:
        """Exactly `scale.n_transactions` sold units, one chunk per calendar month, in date order.

        Each month has its own random stream, but repurchases depend on earlier months, so the
        months are always drawn in order from the first."""
        daily_rows = rows_per_day(self.scale.n_transactions)
        history = np.full((self.customers.size, HISTORY_SLOTS), -1, dtype=np.int32)
        history_count = np.zeros(self.customers.size, dtype=np.int64)
        for month in range(N_MONTHS):
            days_in_month = np.flatnonzero(MONTH_OF_DAY == month)
            rng = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=(_STREAM_TRANSACTIONS, month))
            )
            chunk = self._draw_month(
                month, days_in_month, daily_rows[days_in_month], history, history_count, rng
            )
            yield chunk

    # ----------------------------------------------------------------------------- internals
    def _draw_month(
        self,
        month: int,
        days: np.ndarray,
        rows_per_day: np.ndarray,
        history: np.ndarray,
        history_count: np.ndarray,
        rng: np.random.Generator,
    ) -> TransactionChunk:
        n_rows = int(rows_per_day.sum())
        units = _units_per_line(rng, n_rows)
        n_lines = len(units)
        line_first_row = np.cumsum(units) - units

        # Baskets: consecutive lines of one customer on one day.
        basket_sizes = rng.geometric(BASKET_LINES_P, size=n_lines)
        basket_first_line = np.cumsum(basket_sizes) - basket_sizes
        basket_first_line = basket_first_line[basket_first_line < n_lines]
        n_baskets = len(basket_first_line)
        line_basket = np.repeat(
            np.arange(n_baskets), np.diff(np.append(basket_first_line, n_lines))
        )
        day_end_row = np.cumsum(rows_per_day)
        basket_day = days[
            np.searchsorted(day_end_row, line_first_row[basket_first_line], side="right")
        ]
        basket_customer = self.sample_customers(basket_day, rng)
        online_draws = rng.random(n_baskets)
        basket_channel = np.where(
            online_draws < self.customers.online_preference[basket_customer],
            ONLINE_CHANNEL, STORE_CHANNEL,
        ).astype(np.int8)

        line_day = basket_day[line_basket]
        line_customer = basket_customer[line_basket]
        line_article = self.sample_articles(line_customer, line_day, rng)

        # Repurchases: some lines repeat an article the customer bought in an earlier month.
        known = np.minimum(history_count[line_customer], HISTORY_SLOTS)
        repeat_draws = rng.random(n_lines)
        slot_draws = rng.random(n_lines)
        is_repeat = (repeat_draws < REPURCHASE_SHARE) & (known > 0)
        slots = (slot_draws[is_repeat] * known[is_repeat]).astype(np.int64)
        line_article[is_repeat] = history[line_customer[is_repeat], slots]

        line_price = self._line_prices(line_article, line_day, rng)
        _remember_purchases(history, history_count, line_customer, line_article)

        return TransactionChunk(
            month=str(FIRST_DAY + int(days[0]))[:7],
            day=np.repeat(line_day, units).astype(np.int16),
            customer=np.repeat(line_customer, units).astype(np.int32),
            article=np.repeat(line_article, units).astype(np.int32),
            price_point=np.repeat(line_price, units).astype(np.int16),
            sales_channel_id=np.repeat(basket_channel[line_basket], units),
        )

    def _line_prices(
        self, articles: np.ndarray, days: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        base = self.catalogue.price_point[articles].astype(np.float64)
        discount_p = np.where(ON_SALE[days], SALE_DISCOUNT_P, BASE_DISCOUNT_P)
        article_age = days - self.catalogue.launch_day[articles]
        discount_p = discount_p + np.where(article_age > OLD_ARTICLE_DAYS,
                                           OLD_ARTICLE_EXTRA_DISCOUNT_P, 0.0)
        discounted = rng.random(len(articles)) < discount_p
        factor = np.asarray(DISCOUNTS)[rng.integers(0, len(DISCOUNTS), size=len(articles))]
        price = np.where(discounted, np.rint(base * factor), base)
        return np.clip(price, 1, MAX_PRICE_POINT).astype(np.int16)

    def _n_launched(self, days: np.ndarray) -> np.ndarray:
        # At least one article is always on sale: the catalogue has pre-existing stock.
        return np.maximum(np.searchsorted(self._launch_day_sorted, days, side="right"), 1)

    def _customers_by_join(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._join_cache is None:
            order = np.argsort(self.customers.join_day, kind="stable")
            cumulative = np.cumsum(self.customers.activity[order])
            self._join_cache = (order, cumulative, self.customers.join_day[order])
        return self._join_cache

    def _time_factor(self, month: int) -> np.ndarray:
        """Season and newness of every article in the middle of a month."""
        middle_day = int(np.flatnonzero(MONTH_OF_DAY == month).mean())
        calendar_month = int(str(FIRST_DAY + middle_day)[5:7])
        catalogue = self.catalogue
        season = 1.0 + catalogue.season_amplitude * np.cos(
            2 * np.pi * (calendar_month - catalogue.season_peak_month) / 12
        )
        age = np.maximum(middle_day - catalogue.launch_day, 0)
        newness = LIFECYCLE_FLOOR + np.exp(-age / ARTICLE_LIFETIME_DAYS)
        return season * newness

    def _weights_for_month(self, month: int) -> _MonthArticleWeights:
        cached = self._month_weights.get(month)
        if cached is None:
            weights = self._affinity * self._time_factor(month)
            cached = _MonthArticleWeights(np.cumsum(weights[:, self._launch_order], axis=1))
            # Only the current month is needed again; keep memory flat at hm scale.
            self._month_weights.clear()
            self._month_weights[month] = cached
        return cached

    # ----------------------------------------------------------------------------- truth
    def segment_preferences(self, top_k: int = 10) -> list[dict]:
        """The planted taste of each segment, for the `_truth/` files and for evaluation."""
        result = []
        for segment in range(self.n_segments):
            result.append({
                "segment": segment,
                "home_index_group": taxonomy.INDEX_GROUP_BY_AUDIENCE[
                    str(self.segments.audience[segment])].index_group_name,
                "age_mean": round(float(self.segments.age_mean[segment]), 1),
                "prior": round(float(self.segments.prior[segment]), 6),
                "top_product_types": _top(self.segments.product_type_weight[segment],
                                          PRODUCT_TYPE_NOS, PRODUCT_TYPE_NAMES, top_k),
                "top_colour_groups": _top(self.segments.colour_weight[segment],
                                          COLOUR_CODES, COLOUR_NAMES, top_k),
                "top_garment_groups": _top(self.segments.garment_group_weight[segment],
                                           GARMENT_GROUP_NOS, GARMENT_GROUP_NAMES, top_k),
                "product_type_weights": _weight_map(self.segments.product_type_weight[segment],
                                                    PRODUCT_TYPE_NOS),
                "colour_group_weights": _weight_map(self.segments.colour_weight[segment],
                                                    COLOUR_CODES),
                "garment_group_weights": _weight_map(self.segments.garment_group_weight[segment],
                                                     GARMENT_GROUP_NOS),
            })
        return result


def _stream(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


def _top(weights: np.ndarray, numbers: np.ndarray, names: list[str], top_k: int) -> list[dict]:
    order = np.argsort(-weights, kind="stable")[:top_k]
    return [{"no": int(numbers[i]), "name": names[i], "weight": round(float(weights[i]), 6)}
            for i in order]


def _weight_map(weights: np.ndarray, numbers: np.ndarray) -> dict[str, float]:
    return {str(int(n)): round(float(w), 8) for n, w in zip(numbers, weights)}


def _units_per_line(rng: np.random.Generator, n_rows: int) -> np.ndarray:
    """Units of each basket line, cut so they add up to exactly n_rows."""
    mean_units = 1 + UNIT_REPEAT_SHARE / EXTRA_UNITS_P
    size = int(n_rows / mean_units * 1.05) + 64
    def draw() -> np.ndarray:
        extra = rng.geometric(EXTRA_UNITS_P, size)
        return 1 + np.where(rng.random(size) < UNIT_REPEAT_SHARE, extra, 0)

    units = draw()
    while units.sum() < n_rows:
        units = np.append(units, draw())
    cumulative = np.cumsum(units)
    n_lines = int(np.searchsorted(cumulative, n_rows)) + 1
    units = units[:n_lines].copy()
    units[-1] -= int(cumulative[n_lines - 1]) - n_rows
    return units


def _remember_purchases(
    history: np.ndarray, history_count: np.ndarray, customers: np.ndarray, articles: np.ndarray
) -> None:
    """Write each customer's latest purchases into their ring buffer of HISTORY_SLOTS."""
    order = np.argsort(customers, kind="stable")
    sorted_customers = customers[order]
    group_start = np.flatnonzero(np.r_[True, sorted_customers[1:] != sorted_customers[:-1]])
    group_size = np.diff(np.append(group_start, len(order)))
    rank = np.arange(len(order)) - np.repeat(group_start, group_size)
    from_end = np.repeat(group_size, group_size) - 1 - rank
    keep = from_end < HISTORY_SLOTS
    kept_customers = sorted_customers[keep]
    slots = (history_count[kept_customers] + rank[keep]) % HISTORY_SLOTS
    history[kept_customers, slots] = articles[order][keep]
    history_count[sorted_customers[group_start]] += group_size
