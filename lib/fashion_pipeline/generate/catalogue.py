"""The synthetic catalogue: products and their colour variants, drawn from the taxonomy.

Products come from the self-consistent cells of `taxonomy` (audience, product type, garment
group, section), launch in collections every two weeks (some before the modelled days begin),
and each gets an integer price point; articles are their colour variants, in article_id order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_pipeline.generate import taxonomy
from fashion_pipeline.generate.calendar import N_DAYS

# H&M publishes prices divided by an undisclosed constant; integer price points over 590 land
# in the same 0.01-0.5 range as the Kaggle file.
PRICE_DIVISOR = 590
MAX_PRICE_POINT = 300


def price_value(price_points: np.ndarray) -> np.ndarray:
    return np.asarray(price_points, dtype=np.float64) / PRICE_DIVISOR


CATALOGUE_AUDIENCE_SHARE = {"L": 0.36, "D": 0.18, "M": 0.14, "K": 0.24, "S": 0.08}
MEAN_VARIANTS_PER_PRODUCT = 2.2
FIRST_PRODUCT_CODE, LAST_PRODUCT_CODE = 108_775, 959_461
COLLECTION_EVERY_DAYS = 14
CATALOGUE_HISTORY_DAYS = 2 * 365
PRE_EXISTING_PRODUCT_SHARE = 0.4
LATE_VARIANT_SHARE = 0.3
TYPED_SEASON_AMPLITUDE, UNTYPED_SEASON_AMPLITUDE = 0.8, 0.2
# Typical price point per product group (median of a lognormal), before per-product spread.
PRICE_POINT_BY_GROUP = {
    "Garment Upper body": 17, "Garment Lower body": 22, "Garment Full body": 24,
    "Accessories": 9, "Underwear": 10, "Shoes": 25, "Swimwear": 12, "Socks & Tights": 6,
    "Nightwear": 15, "Bags": 17, "Items": 8, "Cosmetic": 5, "Unknown": 30,
}
OUTDOOR_PRICE_FACTOR = 2.5
PRICE_SPREAD = 0.45

# The taxonomy as arrays in its own order: the positions that segment preferences index.
PRODUCT_TYPE_NOS = np.array([p.product_type_no for p in taxonomy.PRODUCT_TYPES])
PRODUCT_TYPE_NAMES = [p.product_type_name for p in taxonomy.PRODUCT_TYPES]
COLOUR_CODES = np.array([c.colour_group_code for c in taxonomy.COLOUR_GROUPS])
COLOUR_NAMES = [c.colour_group_name for c in taxonomy.COLOUR_GROUPS]
GARMENT_GROUP_NOS = np.array([g.garment_group_no for g in taxonomy.GARMENT_GROUPS])
GARMENT_GROUP_NAMES = [g.garment_group_name for g in taxonomy.GARMENT_GROUPS]
_GRAPHIC_WEIGHTS = np.asarray(taxonomy.GRAPHICAL_APPEARANCE_WEIGHTS)
COLOUR_POPULARITY_WEIGHTS = np.array(
    [taxonomy.COLOUR_POPULARITY.get(code, 0.4) for code in COLOUR_CODES.tolist()]
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


def build_catalogue(rng: np.random.Generator, n_articles: int) -> Catalogue:
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

    colour_p = COLOUR_POPULARITY_WEIGHTS / COLOUR_POPULARITY_WEIGHTS.sum()
    colour = COLOUR_CODES[rng.choice(len(COLOUR_CODES), size=n_articles, p=colour_p)]
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
        product_type_no=PRODUCT_TYPE_NOS[type_position_article],
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
