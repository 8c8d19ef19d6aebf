"""The synthetic shoppers: taste segments, customers, and each segment's affinity to articles.

Segments are planted preferences over product types, colours and garment groups, drawn from
Dirichlet priors (types and garment groups favour the segment's home audience); each customer
belongs to one segment, chosen given their age, and carries an activity, a join day and an
online preference that the transactions draw on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_pipeline.generate import taxonomy
from fashion_pipeline.generate.calendar import N_DAYS
from fashion_pipeline.generate.catalogue import (
    COLOUR_CODES,
    COLOUR_POPULARITY_WEIGHTS,
    GARMENT_GROUP_NOS,
    PRODUCT_TYPE_NOS,
    Catalogue,
)

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


@dataclass
class Segments:
    """The planted taste segments; arrays indexed by segment."""

    audience: np.ndarray  # U1, home audience letter per segment
    age_mean: np.ndarray
    prior: np.ndarray
    product_type_weight: np.ndarray  # (segment, product type position in taxonomy)
    colour_weight: np.ndarray  # (segment, colour position)
    garment_group_weight: np.ndarray  # (segment, garment group position)


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


def build_segments(rng: np.random.Generator) -> Segments:
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
        [HOME_GARMENT_ALPHA if g in home else AWAY_GARMENT_ALPHA for g in GARMENT_GROUP_NOS]
        for home in home_garments
    ])
    colour_alpha = COLOUR_ALPHA_SCALE * COLOUR_POPULARITY_WEIGHTS
    return Segments(
        audience=audiences,
        age_mean=age_mean,
        prior=prior,
        product_type_weight=np.vstack([rng.dirichlet(alpha) for alpha in type_alpha]),
        colour_weight=np.vstack([rng.dirichlet(colour_alpha) for _ in audiences]),
        garment_group_weight=np.vstack([rng.dirichlet(alpha) for alpha in garment_alpha]),
    )


def build_customers(rng: np.random.Generator, n_customers: int, segments: Segments) -> Customers:
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


def segment_affinity(segments: Segments, catalogue: Catalogue) -> np.ndarray:
    """Timeless purchase propensity of each segment for each article, (segment, article):
    the article's popularity times how well its type, colour and garment group match the taste."""
    type_position = np.searchsorted(np.sort(PRODUCT_TYPE_NOS), catalogue.product_type_no)
    type_position = np.argsort(PRODUCT_TYPE_NOS)[type_position]
    colour_position = np.argsort(COLOUR_CODES)[
        np.searchsorted(np.sort(COLOUR_CODES), catalogue.colour_group_code)]
    garment_position = np.argsort(GARMENT_GROUP_NOS)[
        np.searchsorted(np.sort(GARMENT_GROUP_NOS), catalogue.garment_group_no)]
    return (
        catalogue.popularity[None, :]
        * segments.product_type_weight[:, type_position]
        * segments.colour_weight[:, colour_position]
        * segments.garment_group_weight[:, garment_position] ** GARMENT_PREFERENCE_WEIGHT
    )
