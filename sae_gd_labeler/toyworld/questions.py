"""Membership questions for training the discriminator: "is <token> a <label> ?" with the true answer.

The answer is yes iff the label is the word itself or a category containing it (transitively: a dog is a
mammal and an animal). The label `palindrome` is never asked, so the discriminator cannot know it.
Negatives are oversampled from near misses (sibling categories, words of the same category) and the
sampler keeps yes / no balanced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from sae_gd_labeler.toyworld import taxonomy as tx
from sae_gd_labeler.toyworld.corpus import SentenceGenerator

UNTAUGHT = "palindrome"  # no training question ever uses this label


@cache
def _member_sets() -> dict[str, frozenset[str]]:
    return {cat: frozenset(words) for cat, words in tx.taxonomy().items()}


def is_member(word: str, label: str) -> bool:
    """The ground truth: `label` is `word` itself, or a category that contains `word`."""
    return label == word or word in _member_sets().get(label, ())


def askable_labels() -> list[str]:
    """Every label the discriminator is taught about: the label vocabulary less the untaught category."""
    return [w for w in tx.label_words() if w != UNTAUGHT]


@cache
def _near_miss_categories(word: str) -> tuple[str, ...]:
    """Categories close to the word's own without containing it: siblings of each of its categories."""
    own = tx.categories_of(word)  # a list: iteration order must not depend on string hashing
    parents = tx.parent_of()
    out = []
    for cat in own:
        parent = parents.get(cat)
        siblings = tx.PARENTS[parent][0] if parent else tuple(tx.PARENTS)
        out += [s for s in siblings if s not in own]
    if not own:
        out = list(tx.PARENTS)
    return tuple(c for c in dict.fromkeys(out) if c != UNTAUGHT)


@dataclass(frozen=True)
class Question:
    context: str  # a corpus sentence up to and including the token
    token: str
    label: str
    answer: bool


class QuestionSampler:
    """Seeded membership questions over the whole label vocabulary, balanced yes / no."""

    def __init__(self, seed: int = 0, p_function_word: float = 0.08):
        self.rng = random.Random(seed)
        self.sentences = SentenceGenerator(seed + 1)
        self.words = tx.label_words()
        self.labels = askable_labels()
        self.categories = [c for c in tx.categories() if c != UNTAUGHT]
        self.taxonomy = tx.taxonomy()
        self.p_function_word = p_function_word

    def _context(self, word: str | None) -> tuple[str, str]:
        if word is None:  # any corpus token, mostly function words and punctuation
            words = self.sentences.sentence()
            pos = self.rng.randrange(len(words))
        else:
            words, pos = self.sentences.sentence_with(word)
        return " ".join(words[: pos + 1]), words[pos]

    def _positive_label(self, word: str) -> str | None:
        cats = [c for c in tx.categories_of(word) if c != UNTAUGHT]
        if not cats or self.rng.random() < 0.4:  # the word itself (never the untaught category's name)
            return word if word in self.words and word != UNTAUGHT else None
        return self.rng.choice(cats)

    def _negative_label(self, word: str) -> str:
        while True:
            r = self.rng.random()
            leaf = tx.leaf_of().get(word)
            if r < 0.3:
                near = _near_miss_categories(word)
                label = self.rng.choice(near) if near else self.rng.choice(self.categories)
            elif r < 0.45:
                label = self.rng.choice(self.categories)
            elif r < 0.7 and leaf is not None:  # a word of the same category: identity must be exact
                label = self.rng.choice(self.taxonomy[leaf])
            else:
                label = self.rng.choice(self.labels)
            if label != UNTAUGHT and not is_member(word, label):
                return label

    def sample(self) -> Question:
        if self.rng.random() < self.p_function_word:
            context, token = self._context(None)
        else:
            context, token = self._context(self.rng.choice(self.words))
        # function-word tokens only get "no"; ask the rest "yes" a bit more often to stay balanced
        p_yes = 0.5 / (1 - self.p_function_word)
        label = self._positive_label(token) if self.rng.random() < p_yes else None
        if label is None:
            label = self._negative_label(token)
        return Question(context, token, label, is_member(token, label))
