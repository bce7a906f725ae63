"""Membership questions for training the discriminator: "is <token> a <label> ?" with the true answer.

The answer is yes iff the label is the word itself or a category containing it (transitively: a dog is a
mammal and an animal). A two-word label "<attribute> <label>" holds the words of the one-word label that carry
the attribute (an apple is a red fruit; see `compounds.py`). The label `palindrome` is never asked, so the
discriminator cannot know it. Negatives are oversampled from near misses (sibling categories, words of the same
category; for two-word labels, words with only one of the two parts) and the sampler keeps yes / no balanced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from sae_gd_labeler.toyworld import compounds as cx
from sae_gd_labeler.toyworld import taxonomy as tx
from sae_gd_labeler.toyworld.corpus import SentenceGenerator

UNTAUGHT = "palindrome"  # no training question ever uses this label


@cache
def _member_sets() -> dict[str, frozenset[str]]:
    return {cat: frozenset(words) for cat, words in tx.taxonomy().items()}


def is_member(word: str, label: str) -> bool:
    """The ground truth: `label` is `word` itself, or a category that contains `word`, or "<attribute> <label>"
    where `word` carries the attribute and is a member of the one-word label."""
    if " " in label:
        attribute, head = label.split(" ", 1)
        return " " not in head and cx.has_attribute(word, attribute) and is_member(word, head)
    return label == word or word in _member_sets().get(label, ())


def askable_labels(compounds: bool = False) -> list[str]:
    """Every label the discriminator is taught about: the label vocabulary less the untaught category."""
    return [w for w in tx.label_words(compounds) if w != UNTAUGHT]


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
    """Seeded membership questions over the whole label vocabulary, balanced yes / no; a share `p_compound`
    of them about two-word labels (0: none, and the questions of a world without compound concepts)."""

    def __init__(self, seed: int = 0, p_function_word: float = 0.08, p_compound: float = 0.0,
                 compounds: bool | None = None):
        """compounds: the world has compound concepts (its words, labels and corpus); default `p_compound > 0`.
        With `compounds` and `p_compound` 0 the sampler asks that world's one-word questions only."""
        compounds = p_compound > 0 if compounds is None else compounds
        self.rng = random.Random(seed)
        self.p_compound = p_compound
        self.attributes = list(cx.ATTRIBUTES)
        self.compounds = list(cx.COMPOUNDS)
        self.sentences = SentenceGenerator(seed + 1, compounds=compounds)  # the world's own corpus
        self.words = tx.label_words(compounds=compounds)
        self.labels = askable_labels(compounds=compounds)
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

    def _compound_positive(self) -> tuple[str, str]:
        """(word, label): a word with an attribute, asked about the attribute and one of its categories (mostly
        a named compound's) or itself."""
        if self.rng.random() < 0.7:  # a named compound's member
            attribute, category = self.rng.choice(self.compounds)
            word = self.rng.choice([w for w in self.taxonomy[category] if cx.has_attribute(w, attribute)])
            return word, cx.compound_name(attribute, category)
        # any word with an attribute, with any of its categories or itself ("red food", "red rose", "red apple")
        attribute = self.rng.choice(self.attributes)
        word = self.rng.choice(cx.ATTRIBUTES[attribute])
        return word, cx.compound_name(attribute, self.rng.choice([*tx.categories_of(word), word]))

    def _malformed_label(self, attribute: str, category: str, word: str) -> str:
        """A label that a compound's member is not, though it reads like the compound: the parts swapped, a
        word or a second category in place of the attribute or after the category, or another member's name."""
        r = self.rng.random()
        if r < 0.3:  # fruit red
            return f"{category} {attribute}"
        if r < 0.6:  # tomato vegetable, trout vegetable
            pool = self.taxonomy[category] if self.rng.random() < 0.5 else self.labels
            return f"{self.rng.choice(pool)} {category}"
        if r < 0.8:  # fruit bird
            return f"{category} {self.rng.choice(self.labels)}"
        members = [w for w in self.taxonomy[category] if cx.has_attribute(w, attribute) and w != word]
        return self.rng.choice(members)  # one word: is tomato a pepper ?

    def _compound_negative(self) -> tuple[str, str]:
        """(word, label) answered no: a word with only one of a compound's two parts, a word with another
        attribute, a word asked about its attribute alone, a compound's member with a label that only reads like
        it, or any word with any two-word label (most of which hold nothing)."""
        while True:
            r = self.rng.random()
            attribute, category = self.rng.choice(self.compounds)
            same_category, same_attribute = cx.near_miss_pools(attribute, category)
            if r < 0.25:  # the category without the attribute: is banana a red fruit ?
                word, label = self.rng.choice(same_category), cx.compound_name(attribute, category)
            elif r < 0.45 and same_attribute:  # the attribute outside the category: is tomato a red fruit ?
                word, label = self.rng.choice(same_attribute), cx.compound_name(attribute, category)
            elif r < 0.55:  # another attribute on the word's own category: is apple a green fruit ?
                word = self.rng.choice(self.taxonomy[category])
                label = cx.compound_name(self.rng.choice(self.attributes), self.rng.choice(tx.categories_of(word)))
            elif r < 0.65:  # the attribute alone names none of its words' categories: is hammer a metal ?
                label = self.rng.choice(self.attributes)
                word = self.rng.choice(cx.ATTRIBUTES[label])
            elif r < 0.85:  # a member, asked about a label that only reads like its compound
                word = self.rng.choice([w for w in self.taxonomy[category] if cx.has_attribute(w, attribute)])
                label = self._malformed_label(attribute, category, word)
            elif r < 0.93:  # an attribute and any one-word label
                word = self.rng.choice(self.words)
                label = cx.compound_name(self.rng.choice(self.attributes), self.rng.choice(self.labels))
            else:  # any two words: "fruit red", "apple fruit"
                word = self.rng.choice(self.words)
                label = f"{self.rng.choice(self.labels)} {self.rng.choice(self.labels)}"
            if not is_member(word, label):
                return word, label

    def _compound_question(self) -> Question:
        word, label = self._compound_positive() if self.rng.random() < 0.5 else self._compound_negative()
        context, token = self._context(word)
        return Question(context, token, label, is_member(token, label))

    def sample(self) -> Question:
        if self.p_compound and self.rng.random() < self.p_compound:  # no draw at 0: the same questions as before
            return self._compound_question()
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
