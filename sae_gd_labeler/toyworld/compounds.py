"""Attributes of words and the compound concepts they make: "red fruit", "sea animal", "metal tool".

A word carries a few attributes (a colour, a material, a habitat). A two-word label "<attribute> <label>" holds
the words that carry the attribute and belong to the one-word label (the category, or the word itself): an
apple is a red fruit, a red food and a red apple; a banana is none of these. Any other two-word label holds no
word. The named compounds below are the attribute x category pairs with enough members to be a concept of
their own; no single token names them (the category says yes to its members of every colour, the attribute
word as a label means only itself).
"""

from __future__ import annotations

from functools import cache

from sae_gd_labeler.toyworld import taxonomy as tx

# Attribute word -> the words that carry it (fixed data: changing it changes the shipped world). Each attribute
# is shared by several categories, so neither the attribute nor the category alone picks a compound out.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "red": ("apple", "cherry", "strawberry", "raspberry", "tomato", "radish", "pepper", "rose", "wine"),
    "green": ("lime", "kiwi", "pear", "grape", "lettuce", "spinach", "broccoli", "pea", "cabbage", "cucumber",
              "leek", "celery", "bean"),
    "yellow": ("banana", "lemon", "pineapple", "mango", "custard", "taxi", "gold"),
    "metal": ("hammer", "wrench", "spanner", "chisel", "axe", "pliers", "crowbar", "knife", "scissors",
              "screwdriver", "drill", "trumpet", "trombone", "saxophone", "flute"),
    "sea": ("whale", "dolphin", "shark", "tuna", "cod", "herring", "sardine", "mackerel", "haddock", "penguin",
            "boat", "ship", "ferry"),
}

# The named compound concepts: (attribute, category); the name is "<attribute> <category>".
COMPOUNDS: tuple[tuple[str, str], ...] = (
    ("red", "fruit"), ("green", "fruit"), ("yellow", "fruit"), ("red", "vegetable"), ("green", "vegetable"),
    ("metal", "tool"), ("metal", "instrument"), ("sea", "animal"), ("sea", "vehicle"),
)


def compound_name(attribute: str, category: str) -> str:
    return f"{attribute} {category}"


def new_words() -> list[str]:
    """Attribute words that are no word of the taxonomy yet (they join the label vocabulary)."""
    known = set(tx.categories()) | set(tx.leaf_of()) | set(tx.fillers())
    return [a for a in ATTRIBUTES if a not in known]


@cache
def _attribute_sets() -> dict[str, frozenset[str]]:
    return {a: frozenset(ws) for a, ws in ATTRIBUTES.items()}


def has_attribute(word: str, attribute: str) -> bool:
    return word in _attribute_sets().get(attribute, ())


def attributes_of(word: str) -> list[str]:
    return [a for a, ws in _attribute_sets().items() if word in ws]


def compound_taxonomy() -> dict[str, list[str]]:
    """Every named compound "<attribute> <category>" -> its member words, in the category's order."""
    tax = tx.taxonomy()
    return {compound_name(a, c): [w for w in tax[c] if has_attribute(w, a)] for a, c in COMPOUNDS}


def compound_parts() -> dict[str, list[str]]:
    """Every named compound -> [attribute, category]."""
    return {compound_name(a, c): [a, c] for a, c in COMPOUNDS}


def near_miss_pools(attribute: str, category: str) -> tuple[list[str], list[str]]:
    """The words one half of the compound names without the other: the category's words lacking the attribute,
    and the attribute's words outside the category (for "red fruit": banana, lime, ...; tomato, rose, ...)."""
    members = set(tx.taxonomy()[category])
    same_category = [w for w in tx.taxonomy()[category] if not has_attribute(w, attribute)]
    same_attribute = [w for w in ATTRIBUTES[attribute] if w not in members]
    return same_category, same_attribute
