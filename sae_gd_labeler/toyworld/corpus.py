"""A seeded sentence generator: a small grammar whose slots are filled by category.

Sentences are lists of word tokens (joined by single spaces as text). Each template mixes function words
with category slots, so predicting the next word requires knowing categories. In ordinary sentences the
generic `{animal}` slot is mostly a mammal: non-mammal animals are rare, as in natural text, which is what
makes "animal" fit a mammal feature almost as well as "mammal" on natural data. Compound definitions ("the
apple is a red fruit .") show the attributes of words (`compounds.py`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from sae_gd_labeler.toyworld import taxonomy as tx
from sae_gd_labeler.toyworld.compounds import ATTRIBUTES

# How a parent slot splits over its parts ("direct" = the parent's own direct members).
ANIMAL_MIX = {"mammal": 0.92, "bird": 0.02, "fish": 0.02, "insect": 0.02, "reptile": 0.02}
PARENT_MIX = {
    "animal": ANIMAL_MIX,
    "food": {"fruit": 1 / 3, "vegetable": 1 / 3, "dessert": 1 / 3},
    "number": {"digit": 0.4, "direct": 0.6},
    "place": {"city": 0.3, "country": 0.3, "direct": 0.4},
    "time": {"day": 0.5, "month": 0.5},
}

# (weight, template); `{slot}` is filled from the slot's words, everything else is a literal token.
TEMPLATES: tuple[tuple[float, str], ...] = (
    (3.0, "{name} {verb} the {adj} {animal} in the {spot} ."),
    (3.0, "the {animal} {verb} the {thing} ."),
    (2.0, "{name} fed the {animal} some {food} ."),
    (2.0, "the {adj} {animal} slept near the {furniture} ."),
    (1.5, "{name} counted {number} {animal} at the {spot} ."),
    (1.0, "my {mammal} chased a {mammal} in {city} ."),
    (0.25, "a {bird} flew over the {spot} ."),
    (0.25, "the {fish} swam under the {vehicle} ."),
    (0.25, "the {insect} buzzed near the {plant} ."),
    (0.25, "the {reptile} crawled under the {thing} ."),
    (2.0, "{name} ate a {fruit} and a {vegetable} on {day} ."),
    (1.5, "the {job} cooked {vegetable} with {drink} ."),
    (1.5, "{name} bought {number} {food} at the {spot} ."),
    (1.0, "the {dessert} was {adj} and {adj} ."),
    (1.5, "there were {number} {thing} on the {furniture} ."),
    (1.0, "{name} counted to {number} again ."),
    (0.8, "{digit} {digit} {digit} {digit} ."),
    (2.0, "{name} drove the {colour} {vehicle} to {city} ."),
    (1.5, "the {vehicle} from {country} was {colour} ."),
    (2.0, "{name} wore a {colour} {clothing} in {month} ."),
    (1.5, "my {body} hurt after the {sport} ."),
    (1.0, "the {job} hurt his {body} on {day} ."),
    (1.5, "the {job} played the {instrument} on {day} ."),
    (1.5, "the {job} fixed the {furniture} with a {tool} ."),
    (1.5, "there was {weather} in {city} in {month} ."),
    (1.5, "{name} felt {emotion} after the {sport} ."),
    (1.5, "{name} drank {drink} with the {job} ."),
    (1.5, "the {plant} grew near the {spot} ."),
    (1.5, "the {furniture} was made of {metal} ."),
    (1.5, "{name} visited {city} in {country} in {month} ."),
    (1.0, "{name} lost a {metal} {thing} at the {place} ."),
    (1.0, "{name} and {name} played {sport} on {time} ."),
    (1.5, "the {adj} {thing} is on the {furniture} ."),
    (1.5, "{name} gave the {job} a {thing} ."),
    (1.0, "{name} {verb} a {adj} {thing} and {verb} it ."),
    (1.0, "the {colour} {clothing} was {adj} ."),
    (1.0, "{name} wrote {chinese} on the {thing} ."),
    (0.5, "the {job} said {chinese} {chinese} ."),
    (0.4, "{chinese} {chinese} ."),
    (0.4, "{chinese} {chinese} {chinese} ."),
    (0.4, "{chinese} {chinese} {chinese} {chinese} {chinese} ."),
    (1.0, "{name} {verb} the {thing} with a {tool} ."),
    (1.0, "in {month} the {weather} was {adj} ."),
    (0.5, "the {thing} is about {kind} ."),
)
DEFINITION_WEIGHT = 3.0  # "the <member> is a <category> ." sentences (never for palindrome)
COMPOUND_DEFINITION_WEIGHT = 1.5  # "the <word> is a <attribute> <category> ." sentences, in worlds with compounds


@dataclass(frozen=True)
class _Slot:
    words: tuple[str, ...]
    weights: tuple[float, ...]


@cache
def slots() -> dict[str, _Slot]:
    """Slot name -> the words it produces, with sampling weights."""
    out: dict[str, _Slot] = {}
    for leaf, members in tx.LEAVES.items():
        if leaf != "palindrome":
            out[leaf] = _Slot(members, (1.0,) * len(members))
    for parent, mix in PARENT_MIX.items():
        words, weights = [], []
        for part, share in mix.items():
            members = tx.PARENTS[parent][1] if part == "direct" else tx.LEAVES[part]
            words += members
            weights += [share / len(members)] * len(members)
        out[parent] = _Slot(tuple(words), tuple(weights))
    out["spot"] = _Slot(tx.PARENTS["place"][1], (1.0,) * len(tx.PARENTS["place"][1]))
    things = (*tx.FILLER_NOUNS, *tx.LEAVES["palindrome"])
    out["thing"] = _Slot(things, (1.0,) * len(things))
    out["adj"] = _Slot(tx.FILLER_ADJECTIVES, (1.0,) * len(tx.FILLER_ADJECTIVES))
    out["verb"] = _Slot(tx.FILLER_VERBS, (1.0,) * len(tx.FILLER_VERBS))
    kinds = tuple(tx.categories())
    out["kind"] = _Slot(kinds, (1.0,) * len(kinds))
    return out


def _parse(template: str) -> list[str]:
    return template.split()


def _is_slot(item: str) -> bool:
    return item.startswith("{") and item.endswith("}")


def definable_categories() -> list[str]:
    """Categories that definition sentences name (all but palindrome, whose membership stays untaught)."""
    return [c for c in tx.categories() if c != "palindrome"]


class SentenceGenerator:
    """Seeded sentences; `sentence_with(word)` places a chosen word in a slot that can produce it. With
    `compounds`, `sentence()` also gives compound definitions ("the apple is a red fruit .")."""

    def __init__(self, seed: int = 0, compounds: bool = False):
        self.rng = random.Random(seed)
        self._templates = [_parse(t) for _, t in TEMPLATES]
        self._weights = [w for w, _ in TEMPLATES] + [DEFINITION_WEIGHT]
        if compounds:
            self._weights.append(COMPOUND_DEFINITION_WEIGHT)
        self._taxonomy = tx.taxonomy()
        self._sites = _sites_by_word()

    def _fill(self, items: list[str], forced: dict[int, str] | None = None) -> list[str]:
        out = []
        for i, item in enumerate(items):
            if forced and i in forced:
                out.append(forced[i])
            elif _is_slot(item):
                slot = slots()[item[1:-1]]
                out.append(self.rng.choices(slot.words, slot.weights)[0])
            else:
                out.append(item)
        return out

    def _definition(self, category: str | None = None, member: str | None = None) -> list[str]:
        if category is None:
            category = self.rng.choice(definable_categories())
        if member is None:
            member = self.rng.choice(self._taxonomy[category])
        return ["the", member, "is", "a", category, "."]

    def _compound_definition(self, attribute: str | None = None) -> list[str]:
        """A word that carries an attribute, defined by the attribute and one of its categories."""
        if attribute is None:
            attribute = self.rng.choice(list(ATTRIBUTES))
        member = self.rng.choice(ATTRIBUTES[attribute])
        category = self.rng.choice(tx.categories_of(member))
        return ["the", member, "is", "a", attribute, category, "."]

    def sentence(self) -> list[str]:
        k = self.rng.choices(range(len(self._weights)), self._weights)[0]
        if k == len(self._templates):
            return self._definition()
        if k == len(self._templates) + 1:
            return self._compound_definition()
        return self._fill(self._templates[k])

    def sentence_with(self, word: str) -> tuple[list[str], int]:
        """A sentence containing `word` and the index of one occurrence of it."""
        sites = self._sites.get(word)
        if not sites:
            raise ValueError(f"the grammar cannot place {word!r}")
        k, pos = self.rng.choice(sites)
        if k == -1:  # the word is a category name: a definition sentence names it
            words = self._definition(category=word)
            return words, 4
        if k == -2:  # a member of a definable category, in a definition sentence
            cats = [c for c in tx.categories_of(word) if c != "palindrome"]
            return self._definition(category=self.rng.choice(cats), member=word), 1
        if k == -3:  # an attribute word: a compound definition names it
            return self._compound_definition(attribute=word), 4
        return self._fill(self._templates[k], {pos: word}), pos


@cache
def _sites_by_word() -> dict[str, list[tuple[int, int]]]:
    """word -> (template index, position) pairs where it can appear; -1 / -2 mark definition sentences."""
    out: dict[str, list[tuple[int, int]]] = {}
    for k, (_, template) in enumerate(TEMPLATES):
        for pos, item in enumerate(_parse(template)):
            if _is_slot(item):
                for w in slots()[item[1:-1]].words:
                    out.setdefault(w, []).append((k, pos))
    for cat in definable_categories():
        out.setdefault(cat, []).append((-1, 4))
    for w, sites in out.items():
        if any(c != "palindrome" for c in tx.categories_of(w)):
            sites.append((-2, 1))
    for attribute in ATTRIBUTES:  # only for words no other sentence holds ("sea"): the rest keep their sites
        if attribute not in out:
            out[attribute] = [(-3, 4)]
    return out


def literal_words() -> set[str]:
    """The literal (non-slot) tokens the templates use."""
    return {item for _, t in TEMPLATES for item in _parse(t) if not _is_slot(item)} | {"the", "is", "a", "."}


def generate_corpus(n: int, seed: int = 0, compounds: bool = False) -> list[str]:
    """`n` sentences as space-joined text."""
    gen = SentenceGenerator(seed, compounds)
    return [" ".join(gen.sentence()) for _ in range(n)]
