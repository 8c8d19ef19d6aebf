"""The one model of synthetic truth: catalogue, customers, taste segments and purchase behaviour.

Nothing here writes files. The H&M CSV writer, and later the store's OLTP orders and the
clickstream, all draw from the same `TasteModel`, so a recommender trained on any of them is
chasing the same planted preferences (see `segment_preferences()` for the ground truth).

Every random stream is keyed by name (and by month for transactions) from one seed through
`numpy.random.SeedSequence`, so a stream gives the same numbers whatever else was drawn before.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from fashion_pipeline.generate import taxonomy
from fashion_pipeline.generate.scales import ScaleSpec
from fashion_pipeline.generate.text import product_texts
from fashion_pipeline.schemas import ARTICLES_COLUMNS, CUSTOMERS_COLUMNS

FIRST_DAY = np.datetime64("2018-09-20", "D")
LAST_DAY = np.datetime64("2020-09-22", "D")
N_DAYS = int((LAST_DAY - FIRST_DAY).astype(int)) + 1

# H&M publishes prices divided by an undisclosed constant; integer price points over 590 land
# in the same 0.01-0.5 range as the Kaggle file.
PRICE_DIVISOR = 590
MAX_PRICE_POINT = 300
ONLINE_CHANNEL, STORE_CHANNEL = 2, 1

N_SEGMENTS = 20
# Segments per home audience: ladies and young (Divided) shoppers dominate H&M's customers.
SEGMENT_AUDIENCES = "LLLLLLDDDDDMMMKKKKSS"
SEGMENT_AGE_RANGE = {"L": (38, 58), "D": (19, 27), "M": (24, 50), "K": (28, 42), "S": (22, 40)}
SEGMENT_AGE_SPREAD = 7.0
# Dirichlet concentrations: small alphas make each segment love a handful of things.
HOME_TYPE_ALPHA, AWAY_TYPE_ALPHA = 0.25, 0.01
COLOUR_ALPHA_SCALE = 0.35
HOME_GARMENT_ALPHA, AWAY_GARMENT_ALPHA = 0.6, 0.02
# How strongly an article's attributes must match a segment to be bought (exponents < 1 soften).
GARMENT_PREFERENCE_WEIGHT = 0.5

CATALOGUE_AUDIENCE_SHARE = {"L": 0.36, "D": 0.18, "M": 0.14, "K": 0.24, "S": 0.08}
MEAN_VARIANTS_PER_PRODUCT = 2.2
FIRST_PRODUCT_CODE, LAST_PRODUCT_CODE = 108_775, 959_461
COLLECTION_EVERY_DAYS = 14
CATALOGUE_HISTORY_DAYS = 2 * 365
PRE_EXISTING_PRODUCT_SHARE = 0.4
LATE_VARIANT_SHARE = 0.3
ARTICLE_LIFETIME_DAYS = 90.0
LIFECYCLE_FLOOR = 0.06
TYPED_SEASON_AMPLITUDE, UNTYPED_SEASON_AMPLITUDE = 0.8, 0.2
# Typical price point per product group (median of a lognormal), before per-product spread.
PRICE_POINT_BY_GROUP = {
    "Garment Upper body": 17, "Garment Lower body": 22, "Garment Full body": 24,
    "Accessories": 9, "Underwear": 10, "Shoes": 25, "Swimwear": 12, "Socks & Tights": 6,
    "Nightwear": 15, "Bags": 17, "Items": 8, "Cosmetic": 5, "Unknown": 30,
}
OUTDOOR_PRICE_FACTOR = 2.5
PRICE_SPREAD = 0.45

# Customers.
AGE_MODES = ((0.55, 24.0, 4.5), (0.35, 50.0, 9.0))  # (share, mean, sd); the rest is uniform
MIN_AGE, MAX_AGE = 16, 99
BLANK_AGE_SHARE = 0.0116
ACTIVITY_SIGMA = 1.0
# Bounds on relative activity: no customer is a bot buying thousands of units, and even the
# quietest has a fair chance of some purchase in two years.
ACTIVITY_RANGE = (0.08, 25.0)
PRE_EXISTING_CUSTOMER_SHARE = 0.6
ONLINE_PREFERENCE_BETA = (0.9, 0.4)
CLUB_STATUSES = ("ACTIVE", "PRE-CREATE", "LEFT CLUB", "")
CLUB_STATUS_SHARES = (0.9272, 0.0677, 0.0003, 0.0048)
NEWS_FREQUENCIES = ("NONE", "Regularly", "Monthly", "", "None")
FN_SHARE = 0.345
FN_ACTIVE_SHARE = 0.97
POSTAL_CODES_PER_CUSTOMER = 0.26
POSTAL_ZIPF_EXPONENT = 1.05
BIGGEST_POSTAL_CODE_SHARE = 0.088  # one code shared by ~9% of customers, as in H&M's file

# Transactions.
UNIT_REPEAT_SHARE = 0.06  # lines bought in more than one unit (written as identical rows)
EXTRA_UNITS_P = 0.55
BASKET_LINES_P = 0.38  # geometric: mean basket of ~2.6 distinct articles
REPURCHASE_SHARE = 0.18
HISTORY_SLOTS = 8
WEEKDAY_WEIGHTS = (0.92, 0.90, 0.93, 0.98, 1.06, 1.18, 1.10)  # Monday..Sunday
GROWTH_OVER_PERIOD = 0.3
DISCOUNTS = (0.7, 0.6, 0.5)
BASE_DISCOUNT_P, SALE_DISCOUNT_P, OLD_ARTICLE_EXTRA_DISCOUNT_P = 0.04, 0.45, 0.12
OLD_ARTICLE_DAYS = 150
# (first day, last day, volume factor, on sale)
CALENDAR_EVENTS = (
    ("2018-11-23", "2018-11-26", 2.2, True), ("2019-11-29", "2019-12-02", 2.2, True),
    ("2018-12-01", "2018-12-22", 1.25, False), ("2019-12-01", "2019-12-22", 1.25, False),
    ("2018-12-26", "2019-01-10", 1.2, True), ("2019-12-26", "2020-01-10", 1.2, True),
    ("2019-06-20", "2019-07-14", 1.35, True), ("2020-06-20", "2020-07-14", 1.35, True),
    ("2020-03-20", "2020-04-30", 0.75, False),
)

_STREAM_CATALOGUE, _STREAM_CUSTOMERS, _STREAM_SEGMENTS, _STREAM_TRANSACTIONS = 1, 2, 3, 4


def day_offset(day: date | str | np.datetime64) -> int:
    """Days since FIRST_DAY, the integer day the model works in."""
    return int((np.datetime64(day, "D") - FIRST_DAY).astype(int))


def day_strings() -> list[str]:
    """`YYYY-MM-DD` for every modelled day, indexed by day offset."""
    return [str(d) for d in np.arange(FIRST_DAY, LAST_DAY + 1)]


def price_value(price_points: np.ndarray) -> np.ndarray:
    return np.asarray(price_points, dtype=np.float64) / PRICE_DIVISOR


def _hex_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` random 64-character lowercase hex ids as a fixed-width bytes array, sorted."""
    raw = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    order = np.lexsort(tuple(raw[:, k] for k in range(7, -1, -1)))  # sort by the first 8 bytes
    raw = raw[order]
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((count, 64), dtype=np.uint8)
    chars[:, 0::2] = alphabet[raw >> 4]
    chars[:, 1::2] = alphabet[raw & 15]
    return chars.view("S64").ravel()


def fixed_width_strings(values: np.ndarray) -> pa.Array:
    """A pyarrow string array over a numpy fixed-width bytes array, without a Python loop."""
    width = values.dtype.itemsize
    offsets = np.arange(len(values) + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(values).tobytes())
    )


@dataclass
class Catalogue:
    """Articles (product x colour variant), in article_id order; arrays indexed by article."""

    article_id: np.ndarray  # S10
    product_index: np.ndarray  # into the product arrays
    product_code: np.ndarray
    product_type_no: np.ndarray
    garment_group_no: np.ndarray
    section_no: np.ndarray
    department_no: np.ndarray
    index_code: np.ndarray  # U1
    audience: np.ndarray  # U1
    colour_group_code: np.ndarray
    graphical_appearance_no: np.ndarray
    launch_day: np.ndarray  # day offset, negative before FIRST_DAY
    season_peak_month: np.ndarray
    season_amplitude: np.ndarray
    popularity: np.ndarray
    price_point: np.ndarray

    @property
    def size(self) -> int:
        return len(self.article_id)


@dataclass
class Customers:
    """Customers in customer_id order; arrays indexed by customer."""

    customer_id: np.ndarray  # S64
    age: np.ndarray  # true age; the published one may be blank
    age_published: np.ndarray  # bool
    segment: np.ndarray
    join_day: np.ndarray
    activity: np.ndarray
    online_preference: np.ndarray
    club_member_status: np.ndarray  # index into CLUB_STATUSES
    fashion_news_frequency: np.ndarray  # index into NEWS_FREQUENCIES
    fn: np.ndarray  # bool
    active: np.ndarray  # bool
    postal_index: np.ndarray
    postal_codes: np.ndarray  # S64 pool

    @property
    def size(self) -> int:
        return len(self.customer_id)


@dataclass
class Segments:
    audience: np.ndarray  # U1, home audience letter per segment
    age_mean: np.ndarray
    prior: np.ndarray
    product_type_weight: np.ndarray  # (segment, product type position in taxonomy)
    colour_weight: np.ndarray  # (segment, colour position)
    garment_group_weight: np.ndarray  # (segment, garment group position)


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
        segments = _build_segments(_stream(seed, _STREAM_SEGMENTS))
        catalogue = _build_catalogue(_stream(seed, _STREAM_CATALOGUE), scale.n_articles)
        customers = _build_customers(_stream(seed, _STREAM_CUSTOMERS), scale.n_customers, segments)
        launch_order = np.argsort(catalogue.launch_day, kind="stable")
        affinity = _affinity(segments, catalogue)
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
        weights = self._affinity[segment] * self._time_factor(_month_of_day(day))
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
        months = _MONTH_OF_DAY[np.clip(days, 0, N_DAYS - 1)]
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
        rows_per_day = _rows_per_day(self.scale.n_transactions)
        history = np.full((self.customers.size, HISTORY_SLOTS), -1, dtype=np.int32)
        history_count = np.zeros(self.customers.size, dtype=np.int64)
        for month in range(_N_MONTHS):
            days_in_month = np.flatnonzero(_MONTH_OF_DAY == month)
            rng = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=(_STREAM_TRANSACTIONS, month))
            )
            chunk = self._draw_month(
                month, days_in_month, rows_per_day[days_in_month], history, history_count, rng
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
        discount_p = np.where(_ON_SALE[days], SALE_DISCOUNT_P, BASE_DISCOUNT_P)
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
        middle_day = int(np.flatnonzero(_MONTH_OF_DAY == month).mean())
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

    # ----------------------------------------------------------------------------- frames
    def articles_frame(self) -> pa.Table:
        """The catalogue with H&M's article columns (typed: numbers as int64, blanks as null)."""
        catalogue = self.catalogue
        first_article = np.flatnonzero(np.r_[True, np.diff(catalogue.product_index) != 0])
        product_type_names = [taxonomy.PRODUCT_TYPE_BY_NO[no].product_type_name
                              for no in catalogue.product_type_no[first_article].tolist()]
        names, descriptions = product_texts(product_type_names, self.seed)
        product_index = catalogue.product_index
        types = [taxonomy.PRODUCT_TYPE_BY_NO[no] for no in catalogue.product_type_no.tolist()]
        colours = [taxonomy.COLOUR_BY_CODE[c] for c in catalogue.colour_group_code.tolist()]
        graphic_names = {g.graphical_appearance_no: g.graphical_appearance_name
                         for g in taxonomy.GRAPHICAL_APPEARANCES}
        departments = {d.department_no: d.department_name for d in taxonomy.DEPARTMENTS}
        indexes = [taxonomy.INDEX_BY_CODE[code] for code in catalogue.index_code.tolist()]
        columns = {
            "article_id": fixed_width_strings(catalogue.article_id),
            "product_code": catalogue.product_code,
            "prod_name": [names[p] for p in product_index.tolist()],
            "product_type_no": catalogue.product_type_no,
            "product_type_name": [t.product_type_name for t in types],
            "product_group_name": [t.product_group_name for t in types],
            "graphical_appearance_no": catalogue.graphical_appearance_no,
            "graphical_appearance_name": [graphic_names[g] for g in
                                          catalogue.graphical_appearance_no.tolist()],
            "colour_group_code": catalogue.colour_group_code,
            "colour_group_name": [c.colour_group_name for c in colours],
            "perceived_colour_value_id": [c.perceived_colour_value_id for c in colours],
            "perceived_colour_value_name": [c.perceived_colour_value_name for c in colours],
            "perceived_colour_master_id": [c.perceived_colour_master_id for c in colours],
            "perceived_colour_master_name": [c.perceived_colour_master_name for c in colours],
            "department_no": catalogue.department_no,
            "department_name": [departments[d] for d in catalogue.department_no.tolist()],
            "index_code": catalogue.index_code.tolist(),
            "index_name": [i.index_name for i in indexes],
            "index_group_no": [i.index_group_no for i in indexes],
            "index_group_name": [taxonomy.INDEX_GROUP_BY_NO[i.index_group_no].index_group_name
                                 for i in indexes],
            "section_no": catalogue.section_no,
            "section_name": [taxonomy.SECTION_BY_NO[s].section_name
                             for s in catalogue.section_no.tolist()],
            "garment_group_no": catalogue.garment_group_no,
            "garment_group_name": [taxonomy.GARMENT_GROUP_BY_NO[g].garment_group_name
                                   for g in catalogue.garment_group_no.tolist()],
            "detail_desc": [descriptions[p] for p in product_index.tolist()],
        }
        return pa.table({name: _int64_or_string(columns[name]) for name in ARTICLES_COLUMNS})

    def customers_frame(self) -> pa.Table:
        """Customers with H&M's columns; FN/Active are 1.0 or null, blanks are null."""
        customers = self.customers
        one_or_null = pa.array([None, 1.0], pa.float64())
        club = pa.array([s or None for s in CLUB_STATUSES], pa.string())
        frequency = pa.array([s or None for s in NEWS_FREQUENCIES], pa.string())
        columns = {
            "customer_id": fixed_width_strings(customers.customer_id),
            "FN": one_or_null.take(customers.fn.astype(np.int8)),
            "Active": one_or_null.take(customers.active.astype(np.int8)),
            "club_member_status": club.take(customers.club_member_status),
            "fashion_news_frequency": frequency.take(customers.fashion_news_frequency),
            "age": pa.array(customers.age.astype(np.int64), mask=~customers.age_published),
            "postal_code": fixed_width_strings(customers.postal_codes).take(customers.postal_index),
        }
        return pa.table({name: columns[name] for name in CUSTOMERS_COLUMNS})

    def customer_id_array(self) -> pa.Array:
        return fixed_width_strings(self.customers.customer_id)

    def article_id_array(self) -> pa.Array:
        return fixed_width_strings(self.catalogue.article_id)

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
                                          _PRODUCT_TYPE_NOS, _PRODUCT_TYPE_NAMES, top_k),
                "top_colour_groups": _top(self.segments.colour_weight[segment],
                                          _COLOUR_CODES, _COLOUR_NAMES, top_k),
                "top_garment_groups": _top(self.segments.garment_group_weight[segment],
                                           _GARMENT_GROUP_NOS, _GARMENT_GROUP_NAMES, top_k),
                "product_type_weights": _weight_map(self.segments.product_type_weight[segment],
                                                    _PRODUCT_TYPE_NOS),
                "colour_group_weights": _weight_map(self.segments.colour_weight[segment],
                                                    _COLOUR_CODES),
                "garment_group_weights": _weight_map(self.segments.garment_group_weight[segment],
                                                     _GARMENT_GROUP_NOS),
            })
        return result


# --------------------------------------------------------------------------------- calendar
def _month_index_of_days() -> tuple[np.ndarray, int]:
    months = np.arange(FIRST_DAY, LAST_DAY + 1).astype("datetime64[M]").astype(np.int64)
    index = months - months[0]
    return index.astype(np.int32), int(index[-1]) + 1


_MONTH_OF_DAY, _N_MONTHS = _month_index_of_days()


def _month_of_day(day: int) -> int:
    return int(_MONTH_OF_DAY[min(max(day, 0), N_DAYS - 1)])


def _calendar() -> tuple[np.ndarray, np.ndarray]:
    """Relative sales volume and on-sale flag of each modelled day."""
    dates = np.arange(FIRST_DAY, LAST_DAY + 1)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    volume = np.asarray(WEEKDAY_WEIGHTS)[weekday]
    volume = volume * (1.0 + 0.18 * np.cos(2 * np.pi * (day_of_year - 172) / 365.25))
    volume = volume * (1.0 + GROWTH_OVER_PERIOD * np.arange(N_DAYS) / (N_DAYS - 1))
    on_sale = np.zeros(N_DAYS, dtype=bool)
    for first, last, factor, sale in CALENDAR_EVENTS:
        window = (dates >= np.datetime64(first)) & (dates <= np.datetime64(last))
        volume[window] *= factor
        on_sale |= window & sale
    return volume, on_sale


_DAY_VOLUME, _ON_SALE = _calendar()


def _rows_per_day(n_transactions: int) -> np.ndarray:
    """Split the total exactly over days by largest remainder (no randomness, so the daily
    pattern is the same whatever the seed)."""
    share = _DAY_VOLUME / _DAY_VOLUME.sum() * n_transactions
    rows = np.floor(share).astype(np.int64)
    missing = n_transactions - int(rows.sum())
    rows[np.argsort(-(share - rows), kind="stable")[:missing]] += 1
    return rows


# --------------------------------------------------------------------------------- builders
def _stream(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


_PRODUCT_TYPE_NOS = np.array([p.product_type_no for p in taxonomy.PRODUCT_TYPES])
_PRODUCT_TYPE_NAMES = [p.product_type_name for p in taxonomy.PRODUCT_TYPES]
_COLOUR_CODES = np.array([c.colour_group_code for c in taxonomy.COLOUR_GROUPS])
_COLOUR_NAMES = [c.colour_group_name for c in taxonomy.COLOUR_GROUPS]
_GARMENT_GROUP_NOS = np.array([g.garment_group_no for g in taxonomy.GARMENT_GROUPS])
_GARMENT_GROUP_NAMES = [g.garment_group_name for g in taxonomy.GARMENT_GROUPS]
_GRAPHIC_WEIGHTS = np.asarray(taxonomy.GRAPHICAL_APPEARANCE_WEIGHTS)
_COLOUR_POPULARITY = np.array(
    [taxonomy.COLOUR_POPULARITY.get(code, 0.4) for code in _COLOUR_CODES.tolist()]
)


def _int64_or_string(values: object) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray):
        return pa.array(values.astype(np.int64))
    return pa.array(values)


def _top(weights: np.ndarray, numbers: np.ndarray, names: list[str], top_k: int) -> list[dict]:
    order = np.argsort(-weights, kind="stable")[:top_k]
    return [{"no": int(numbers[i]), "name": names[i], "weight": round(float(weights[i]), 6)}
            for i in order]


def _weight_map(weights: np.ndarray, numbers: np.ndarray) -> dict[str, float]:
    return {str(int(n)): round(float(w), 8) for n, w in zip(numbers, weights)}


def _build_segments(rng: np.random.Generator) -> Segments:
    audiences = np.array(list(SEGMENT_AUDIENCES))
    low = np.array([SEGMENT_AGE_RANGE[a][0] for a in audiences])
    high = np.array([SEGMENT_AGE_RANGE[a][1] for a in audiences])
    age_mean = rng.uniform(low, high)
    prior = rng.dirichlet(np.full(N_SEGMENTS, 8.0))

    type_alpha = np.array([
        [HOME_TYPE_ALPHA if audience in p.audiences else AWAY_TYPE_ALPHA
         for p in taxonomy.PRODUCT_TYPES]
        for audience in audiences
    ])
    home_garments = [
        {g for p in taxonomy.PRODUCT_TYPES if audience in p.audiences for g in p.garment_group_nos}
        for audience in audiences
    ]
    garment_alpha = np.array([
        [HOME_GARMENT_ALPHA if g in home else AWAY_GARMENT_ALPHA for g in _GARMENT_GROUP_NOS]
        for home in home_garments
    ])
    colour_alpha = COLOUR_ALPHA_SCALE * _COLOUR_POPULARITY
    return Segments(
        audience=audiences,
        age_mean=age_mean,
        prior=prior,
        product_type_weight=np.vstack([rng.dirichlet(alpha) for alpha in type_alpha]),
        colour_weight=np.vstack([rng.dirichlet(colour_alpha) for _ in audiences]),
        garment_group_weight=np.vstack([rng.dirichlet(alpha) for alpha in garment_alpha]),
    )


def _product_cells() -> tuple[np.ndarray, np.ndarray]:
    """Every valid (audience, product type, garment group, section) combination and its share
    of a catalogue, so products can be drawn in one vectorised step and stay self-consistent."""
    cells, weights = [], []
    for type_position, product_type in enumerate(taxonomy.PRODUCT_TYPES):
        for audience in product_type.audiences:
            audience_weight = CATALOGUE_AUDIENCE_SHARE[audience]
            for rank, garment_group_no in enumerate(product_type.garment_group_nos):
                sections = taxonomy.sections_for(audience, garment_group_no)
                garment_weight = 1.0 / (rank + 1) ** 2  # the first group listed is the usual one
                for section_no in sections:
                    cells.append((type_position, garment_group_no, section_no, audience))
                    weights.append(audience_weight * garment_weight / len(sections))
    table = np.array(cells, dtype=object)
    return table, np.asarray(weights)


def _build_catalogue(rng: np.random.Generator, n_articles: int) -> Catalogue:
    # Variants per product; products are cut so the catalogue has exactly n_articles.
    guess = int(n_articles / MEAN_VARIANTS_PER_PRODUCT * 1.2) + 10
    variants = rng.geometric(1 / MEAN_VARIANTS_PER_PRODUCT, size=guess)
    while variants.sum() < n_articles:
        variants = np.append(variants, rng.geometric(1 / MEAN_VARIANTS_PER_PRODUCT, size=guess))
    cumulative = np.cumsum(variants)
    n_products = int(np.searchsorted(cumulative, n_articles)) + 1
    variants = variants[:n_products].copy()
    variants[-1] -= int(cumulative[n_products - 1]) - n_articles

    # Per product attributes, drawn from the consistent cells of the taxonomy.
    cells, cell_weights = _product_cells()
    product_cell = rng.choice(len(cells), size=n_products, p=cell_weights / cell_weights.sum())
    type_position = cells[product_cell, 0].astype(np.int64)
    garment_group_no = cells[product_cell, 1].astype(np.int64)
    section_no = cells[product_cell, 2].astype(np.int64)
    audience = cells[product_cell, 3].astype("U1")

    # Launches come in collections every two weeks; part of the range was on sale before the
    # data starts. Product codes grow with launch date, as H&M's roughly do.
    history_collections = np.arange(-CATALOGUE_HISTORY_DAYS, 0, COLLECTION_EVERY_DAYS)
    new_collections = np.arange(0, N_DAYS - 7, COLLECTION_EVERY_DAYS)
    is_old = rng.random(n_products) < PRE_EXISTING_PRODUCT_SHARE
    is_old[0] = True  # something is always on sale on the first day
    product_launch = np.where(
        is_old,
        history_collections[rng.integers(0, len(history_collections), n_products)],
        new_collections[rng.integers(0, len(new_collections), n_products)],
    )
    launch_order = np.argsort(product_launch, kind="stable")
    mean_gap = max((LAST_PRODUCT_CODE - FIRST_PRODUCT_CODE) // max(n_products, 1), 1)
    gaps = rng.integers(1, 2 * mean_gap, size=n_products, endpoint=mean_gap == 1)
    codes_by_launch = FIRST_PRODUCT_CODE + np.cumsum(gaps) - gaps[0]
    product_code = np.empty(n_products, dtype=np.int64)
    product_code[launch_order] = codes_by_launch
    by_code = np.argsort(product_code, kind="stable")
    # Reorder every product array by code so that articles come out in article_id order.
    product_code, type_position, garment_group_no, section_no, audience, product_launch, \
        variants = (a[by_code] for a in (product_code, type_position, garment_group_no,
                                         section_no, audience, product_launch, variants))

    product_graphic = rng.choice(
        len(taxonomy.GRAPHICAL_APPEARANCES), size=n_products,
        p=_GRAPHIC_WEIGHTS / _GRAPHIC_WEIGHTS.sum(),
    )
    product_popularity = rng.lognormal(0.0, 0.7, size=n_products)
    group_price = np.array([PRICE_POINT_BY_GROUP[taxonomy.PRODUCT_TYPES[t].product_group_name]
                            for t in type_position.tolist()], dtype=np.float64)
    group_price *= np.where(garment_group_no == 1007, OUTDOOR_PRICE_FACTOR, 1.0)
    product_price = np.clip(np.rint(group_price * rng.lognormal(0.0, PRICE_SPREAD, n_products)),
                            2, MAX_PRICE_POINT)
    type_peak = np.array([taxonomy.PRODUCT_TYPES[t].season_peak_month or 0
                          for t in type_position.tolist()])

    # Articles: the colour variants of each product.
    product_index = np.repeat(np.arange(n_products), variants)
    variant_rank = np.arange(n_articles) - np.repeat(np.cumsum(variants) - variants, variants)
    suffix_gaps = 1 + (rng.random(n_articles) < 0.25) * rng.integers(1, 4, size=n_articles)
    suffix_gaps[variant_rank == 0] = 1
    running = np.cumsum(suffix_gaps)
    product_first_article = np.cumsum(variants) - variants
    suffix = running - np.repeat(running[product_first_article] - 1, variants)
    suffix = np.minimum(suffix, 999)
    article_code = product_code[product_index] * 1000 + suffix
    article_id = np.char.zfill(article_code.astype("U10"), 10).astype("S10")

    colour_p = _COLOUR_POPULARITY / _COLOUR_POPULARITY.sum()
    colour = _COLOUR_CODES[rng.choice(len(_COLOUR_CODES), size=n_articles, p=colour_p)]
    graphic = product_graphic[product_index].copy()
    repattern = rng.random(n_articles) < 0.15
    graphic[repattern] = rng.choice(len(taxonomy.GRAPHICAL_APPEARANCES), size=int(repattern.sum()))
    graphical_numbers = np.array(
        [g.graphical_appearance_no for g in taxonomy.GRAPHICAL_APPEARANCES]
    )

    late = (rng.random(n_articles) < LATE_VARIANT_SHARE) & (variant_rank > 0)
    delay = rng.geometric(0.5, size=n_articles) * COLLECTION_EVERY_DAYS
    launch_day = product_launch[product_index] + np.where(late, delay, 0)
    launch_day = np.minimum(launch_day, N_DAYS - 1)

    peak = type_peak[product_index]
    untyped = peak == 0
    peak = np.where(untyped, rng.integers(1, 13, size=n_articles), peak)
    amplitude = np.where(untyped, UNTYPED_SEASON_AMPLITUDE, TYPED_SEASON_AMPLITUDE)

    # Long tail: a few articles sell enormously, most sell little.
    popularity = product_popularity[product_index] * rng.lognormal(0.0, 1.3, size=n_articles)

    type_position_article = type_position[product_index]
    section_article = section_no[product_index]
    garment_article = garment_group_no[product_index]
    department_no = np.array([
        taxonomy.DEPARTMENT_BY_CELL[(s, g)].department_no
        for s, g in zip(section_article.tolist(), garment_article.tolist())
    ])
    index_code = np.array([taxonomy.SECTION_BY_NO[s].index_code for s in section_article.tolist()])
    return Catalogue(
        article_id=article_id,
        product_index=product_index,
        product_code=product_code[product_index],
        product_type_no=_PRODUCT_TYPE_NOS[type_position_article],
        garment_group_no=garment_article,
        section_no=section_article,
        department_no=department_no,
        index_code=index_code,
        audience=audience[product_index],
        colour_group_code=colour,
        graphical_appearance_no=graphical_numbers[graphic],
        launch_day=launch_day.astype(np.int32),
        season_peak_month=peak,
        season_amplitude=amplitude,
        popularity=popularity,
        price_point=product_price[product_index].astype(np.int16),
    )


def _build_customers(rng: np.random.Generator, n_customers: int, segments: Segments) -> Customers:
    customer_id = _hex_ids(rng, n_customers)

    mode = rng.random(n_customers)
    (young_share, young_mean, young_sd), (older_share, older_mean, older_sd) = AGE_MODES
    age = np.where(
        mode < young_share, rng.normal(young_mean, young_sd, n_customers),
        np.where(mode < young_share + older_share, rng.normal(older_mean, older_sd, n_customers),
                 rng.uniform(MIN_AGE, 80, n_customers)),
    )
    age = np.clip(np.rint(age), MIN_AGE, MAX_AGE).astype(np.int16)
    age_published = rng.random(n_customers) >= BLANK_AGE_SHARE

    # Segment given age: prior x a Gaussian around each segment's typical age, sampled with the
    # Gumbel-max trick so every customer gets one vectorised draw.
    age_distance = (age[:, None] - segments.age_mean[None, :]) / SEGMENT_AGE_SPREAD
    log_likelihood = np.log(segments.prior)[None, :] - 0.5 * age_distance**2
    segment = np.argmax(log_likelihood + rng.gumbel(size=log_likelihood.shape), axis=1)

    is_old = rng.random(n_customers) < PRE_EXISTING_CUSTOMER_SHARE
    # Newcomers join over the period, more of them later on (growth).
    late_join = (np.sqrt(rng.random(n_customers)) * (N_DAYS - 1)).astype(np.int64)
    join_day = np.where(is_old, 0, late_join)
    activity = np.clip(rng.lognormal(0.0, ACTIVITY_SIGMA, n_customers), *ACTIVITY_RANGE)
    online_preference = rng.beta(*ONLINE_PREFERENCE_BETA, n_customers)

    club = rng.choice(len(CLUB_STATUSES), size=n_customers, p=CLUB_STATUS_SHARES)
    fn = rng.random(n_customers) < FN_SHARE
    active = fn & (rng.random(n_customers) < FN_ACTIVE_SHARE)
    # News frequency follows FN: subscribers get news regularly, others mostly none.
    frequency = np.where(fn, np.where(rng.random(n_customers) < 0.998, 1, 2), 0)
    frequency = np.where(rng.random(n_customers) < 0.012, 3, frequency)
    frequency = np.where(rng.random(n_customers) < 2e-6, 4, frequency)

    n_codes = max(int(n_customers * POSTAL_CODES_PER_CUSTOMER), 2)
    postal_codes = _hex_ids(rng, n_codes)
    # Zipf-like sharing plus one giant code (H&M's file has a placeholder code of that kind).
    zipf = 1.0 / np.arange(1, n_codes) ** POSTAL_ZIPF_EXPONENT
    code_p = np.concatenate([[BIGGEST_POSTAL_CODE_SHARE],
                             zipf / zipf.sum() * (1 - BIGGEST_POSTAL_CODE_SHARE)])
    shuffled = rng.permutation(n_codes)
    postal_index = shuffled[rng.choice(n_codes, size=n_customers, p=code_p)]

    return Customers(
        customer_id=customer_id, age=age, age_published=age_published,
        segment=segment.astype(np.int16), join_day=join_day.astype(np.int32), activity=activity,
        online_preference=online_preference, club_member_status=club.astype(np.int8),
        fashion_news_frequency=frequency.astype(np.int8), fn=fn, active=active,
        postal_index=postal_index.astype(np.int32), postal_codes=postal_codes,
    )


def _affinity(segments: Segments, catalogue: Catalogue) -> np.ndarray:
    type_position = np.searchsorted(np.sort(_PRODUCT_TYPE_NOS), catalogue.product_type_no)
    type_position = np.argsort(_PRODUCT_TYPE_NOS)[type_position]
    colour_position = np.argsort(_COLOUR_CODES)[
        np.searchsorted(np.sort(_COLOUR_CODES), catalogue.colour_group_code)]
    garment_position = np.argsort(_GARMENT_GROUP_NOS)[
        np.searchsorted(np.sort(_GARMENT_GROUP_NOS), catalogue.garment_group_no)]
    return (
        catalogue.popularity[None, :]
        * segments.product_type_weight[:, type_position]
        * segments.colour_weight[:, colour_position]
        * segments.garment_group_weight[:, garment_position] ** GARMENT_PREFERENCE_WEIGHT
    )


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
