"""The synthetic population as Arrow tables with H&M's columns, for the CSV writer and the store.

Typed, not yet text: numbers are int64, blanks are null. How the Kaggle files print them is the
writer's business (`hm_writer`).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from fashion_pipeline.generate import taxonomy
from fashion_pipeline.generate.catalogue import Catalogue
from fashion_pipeline.generate.population import CLUB_STATUSES, NEWS_FREQUENCIES, Customers
from fashion_pipeline.generate.text import product_texts
from fashion_pipeline.schemas import ARTICLES_COLUMNS, CUSTOMERS_COLUMNS


def fixed_width_strings(values: np.ndarray) -> pa.Array:
    """A pyarrow string array over a numpy fixed-width bytes array, without a Python loop."""
    width = values.dtype.itemsize
    offsets = np.arange(len(values) + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(values).tobytes())
    )


def _int64_or_string(values: object) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray):
        return pa.array(values.astype(np.int64))
    return pa.array(values)


def articles_frame(catalogue: Catalogue, seed: int) -> pa.Table:
    """The catalogue with H&M's article columns (typed: numbers as int64, blanks as null);
    product names and descriptions come from `seed`, the model's."""
    first_article = np.flatnonzero(np.r_[True, np.diff(catalogue.product_index) != 0])
    product_type_names = [taxonomy.PRODUCT_TYPE_BY_NO[no].product_type_name
                          for no in catalogue.product_type_no[first_article].tolist()]
    names, descriptions = product_texts(product_type_names, seed)
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


def customers_frame(customers: Customers) -> pa.Table:
    """Customers with H&M's columns; FN/Active are 1.0 or null, blanks are null."""
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


def customer_id_array(customers: Customers) -> pa.Array:
    return fixed_width_strings(customers.customer_id)


def article_id_array(catalogue: Catalogue) -> pa.Array:
    return fixed_width_strings(catalogue.article_id)
