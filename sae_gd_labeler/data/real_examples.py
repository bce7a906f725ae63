"""Labeled examples of real words for a feature that "fires on members of category C".

Positives are C's members (activation 1.0), negatives members of other categories (0.0), half and half. Each
word stands in a neutral sentence ("She talked about the dog"), cut after the word as a causal model sees it,
or alone (`context="word"`, for discriminators that judge words). The example token is the word with its
leading space (" dog"), as a tokenizer splits it inside a sentence.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.data.real_categories import Taxonomy, load_categories, single_token_words

# Neutral frames: the word is the object, so nothing in the frame hints at its category.
TEMPLATES = (
    "I saw the {w} yesterday.",
    "She talked about the {w} for an hour.",
    "There is a picture of the {w} on the wall.",
    "He pointed at the {w} and smiled.",
    "My friend asked me about the {w} again.",
    "We read a short story about the {w} last night.",
    "Everyone was looking at the {w} when I arrived.",
    "The next word on the list was {w}.",
)
NAME_TEMPLATES = (  # proper names take no article ("about France")
    "I read a story about {w} yesterday.",
    "She talked about {w} for an hour.",
    "There is a picture of {w} on the wall.",
    "My friend asked me about {w} again.",
    "Everyone was talking about {w} when I arrived.",
    "The next word on the list was {w}.",
)
CONTEXTS = ("sentence", "word")
_PRETOKEN = re.compile(r" ?[A-Za-z0-9']+| ?[^\sA-Za-z0-9']+")  # words and punctuation with their leading space


def frame(word: str, rng: random.Random, templates: Sequence[str] | None = None) -> tuple[str, int, int]:
    """A sentence holding `word`, and the word's start and end in it."""
    if templates is None:
        templates = NAME_TEMPLATES if word[:1].isupper() else TEMPLATES
    template = rng.choice(templates)
    start = template.index("{w}")
    return template.replace("{w}", word), start, start + len(word)


def word_example(word: str, activation: float, rng: random.Random, context: str = "sentence", lead: str = " ",
                 tokenizer=None) -> Example:
    """One example of `word`: its sentence cut after it (or the word alone) and the token lead + word."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
    token = lead + word
    ids = None
    if tokenizer is not None:
        ids = tuple(tokenizer.encode(token, add_special_tokens=False))
        if len(ids) != 1:
            raise ValueError(f"{token!r} is {len(ids)} tokens for this tokenizer; an example token must be one "
                             "(filter the words with single_token_words first)")
    if context == "word":
        return Example(token, token, activation, ids)
    sentence, _, end = frame(word, rng)
    return Example(sentence[:end], token, activation, ids)  # every frame has a space before the word


def cycle(pool: Sequence[str], k: int, rng: random.Random) -> list[str]:
    """k items of `pool`, each used once a pass, in a seeded order (even use of small pools)."""
    out: list[str] = []
    while len(out) < k and pool:
        batch = sorted(pool)
        rng.shuffle(batch)
        out += batch[: k - len(out)]
    return out


def near_miss_words(taxonomy: Taxonomy, category: str) -> list[str]:
    """Words close to `category` without being in it: its sibling categories' members (for mammal: birds,
    insects), or the rest of its parent's members when it has no siblings. Empty for a root category."""
    cat = taxonomy[category]
    if cat.parent is None:
        return []
    siblings = [c for c in taxonomy if c.parent == cat.parent and c.name != category]
    pool = {w for c in siblings for w in c.members} if siblings else set(taxonomy[cat.parent].members)
    return sorted(pool - set(cat.members))


def far_words(taxonomy: Taxonomy, category: str | None = None) -> dict[str, list[str]]:
    """Members of the root categories unrelated to `category` (all roots for None), by root, for stratified
    draws."""
    root = [category, *taxonomy.ancestors(category)][-1] if category is not None else None
    return {c.name: sorted(c.members) for c in taxonomy if c.parent is None and c.name != root}


def category_examples(category: str, taxonomy: Taxonomy | None = None, n: int = 64, seed: int = 0,
                      hard_negatives: float = 0.0, context: str = "sentence", lead: str = " ",
                      tokenizer=None) -> list[Example]:
    """n examples of a feature firing on `category`'s members: n // 2 positives, the rest negatives.

    Negatives: a `hard_negatives` fraction of near misses (siblings under the same parent), the rest members of
    unrelated root categories, drawn root by root so no large category (people, cities) dominates. With a
    `tokenizer`, only words that are one token after `lead` are used, and examples carry their token ids.
    """
    tax = taxonomy if taxonomy is not None else load_categories()
    if n < 2:
        raise ValueError(f"n must be at least 2 (one positive and one negative), got {n}")
    if not 0.0 <= hard_negatives <= 1.0:
        raise ValueError(f"hard_negatives is a fraction in [0, 1], got {hard_negatives}")
    usable = (lambda ws: single_token_words(ws, tokenizer, lead)) if tokenizer is not None else list
    positives = usable(tax[category].members)
    if not positives:
        raise ValueError(f"category {category!r} has no member that is one token after {lead!r}")
    near = usable(near_miss_words(tax, category))
    far = {root: words for root, words in ((r, usable(ws)) for r, ws in far_words(tax, category).items()) if words}
    if not far and not near:
        raise ValueError(f"category {category!r} has no negatives: every other category is related to it")
    rng = random.Random(seed)
    n_pos, n_neg = n // 2, n - n // 2
    n_near = round(n_neg * hard_negatives) if near else 0
    if not far:
        n_near = n_neg
    neg = cycle(near, n_near, rng) + stratified(far, n_neg - n_near, rng)
    out = [word_example(w, 1.0, rng, context, lead, tokenizer) for w in cycle(positives, n_pos, rng)]
    out += [word_example(w, 0.0, rng, context, lead, tokenizer) for w in neg]
    rng.shuffle(out)
    return out


def stratified(groups: dict[str, list[str]], k: int, rng: random.Random) -> list[str]:
    """k words, one group after another in seeded passes, each group's words in its own seeded cycle."""
    if k <= 0 or not groups:
        return []
    names = sorted(groups)
    order = cycle(names, k, rng)
    queues = {g: cycle(groups[g], order.count(g), rng) for g in names}
    return [queues[g].pop() for g in order]


def split_tokens(text: str, tokenizer=None) -> list[tuple[int, int, str, int | None]]:
    """(start, end, token text, token id) of each token of `text`: the tokenizer's, or without one, words and
    punctuation marks with their leading space (as a byte-level BPE splits plain English)."""
    if tokenizer is None:
        return [(m.start(), m.end(), m.group(0), None) for m in _PRETOKEN.finditer(text)]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for tok_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        out.append((start, end, tokenizer.decode([tok_id]), int(tok_id)))
    return out
