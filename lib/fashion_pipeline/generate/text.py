"""Product names and descriptions. Faker supplies the words; numpy assembles one text per
product (colour variants share it, as on H&M), so the cost stays flat at any scale."""
from __future__ import annotations

import numpy as np
from faker import Faker

NAME_POOL_SIZE = 700
SENTENCE_POOL_SIZE = 900
NICKNAME_SHARE = 0.3
MISSING_DESCRIPTION_SHARE = 0.004
MATERIALS = (
    "soft cotton jersey", "organic cotton", "a viscose weave", "fine-knit fabric", "stretch denim",
    "washed linen", "recycled polyester", "rib-knit cotton", "lyocell blend",
    "soft sweatshirt fabric",
    "airy chiffon", "thick felted wool blend", "satin", "canvas", "imitation leather",
)
FEATURES = (
    "a round neckline", "long sleeves", "short sleeves", "a V-neck", "a regular waist",
    "a high waist", "side pockets", "a zip at the front", "buttons down the front",
    "an elasticated waist", "narrow shoulder straps", "a lined hood", "dropped shoulders",
    "a relaxed fit", "a slim fit", "ribbing at the cuffs and hem", "a concealed zip",
    "adjustable straps", "a tie belt", "flared legs",
)


def product_texts(
    product_type_names: list[str], seed: int
) -> tuple[list[str], list[str | None]]:
    """(prod_name, detail_desc) for each product, given its product type name."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    nicknames = [fake.first_name() for _ in range(NAME_POOL_SIZE)]
    sentences = [fake.sentence(nb_words=9) for _ in range(SENTENCE_POOL_SIZE)]

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(5,)))
    n_products = len(product_type_names)
    first = rng.integers(0, NAME_POOL_SIZE, n_products).tolist()
    second = rng.integers(0, NAME_POOL_SIZE, n_products).tolist()
    with_nickname = (rng.random(n_products) < NICKNAME_SHARE).tolist()
    material = rng.integers(0, len(MATERIALS), n_products).tolist()
    feature_a = rng.integers(0, len(FEATURES), n_products).tolist()
    feature_b = rng.integers(0, len(FEATURES), n_products).tolist()
    sentence = rng.integers(0, SENTENCE_POOL_SIZE, n_products).tolist()
    missing = (rng.random(n_products) < MISSING_DESCRIPTION_SHARE).tolist()

    names: list[str] = []
    descriptions: list[str | None] = []
    for i, type_name in enumerate(product_type_names):
        base = f"{nicknames[first[i]]} {type_name.lower()}"
        names.append(f"{base} ({nicknames[second[i]]})" if with_nickname[i] else base)
        if missing[i]:
            descriptions.append(None)
            continue
        descriptions.append(
            f"{type_name} in {MATERIALS[material[i]]} with {FEATURES[feature_a[i]]}, "
            f"{FEATURES[feature_b[i]]}. {sentences[sentence[i]]}"
        )
    return names, descriptions
