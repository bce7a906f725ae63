"""The seed paper's synthetic features, rebuilt with real English (and Chinese) words.

Each feature comes with the labels that count as right and balanced, seeded examples:
- animal: animal sentences; positives the animal tokens, negatives the other tokens of those sentences;
- mammal_balanced: words alone; negatives half non-mammal animals (birds, insects ...), half other words;
- mammal_natural: the same animal sentences as `animal`, positives the mammal tokens, negatives the other tokens
  (few of them non-mammal animals): the paper's hierarchy failure, where "animal" scores almost as well;
- number: digits 0-9 and the words one..thirteen, alone, against words of the taxonomy;
- chinese: common Chinese words in Chinese sentences against their English translations in English ones;
- palindrome: palindromic English words against other words, in the same sentences (the paper's
  discriminator could not judge it even given the right label).
"""

from __future__ import annotations

import random
import warnings
from typing import NamedTuple

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.data.real_categories import Taxonomy, load_categories, single_token_words
from sae_gd_labeler.data.real_examples import (
    category_examples,
    cycle,
    far_words,
    frame,
    split_tokens,
    stratified,
    word_example,
)

DIGITS = tuple("0123456789")
NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                "thirteen")
# (Chinese, English) pairs: everyday words, written for this project.
CHINESE_WORDS = (
    ("狗", "dog"), ("猫", "cat"), ("鱼", "fish"), ("鸟", "bird"), ("马", "horse"), ("水", "water"), ("火", "fire"),
    ("山", "mountain"), ("花", "flower"), ("树", "tree"), ("茶", "tea"), ("书", "book"), ("车", "car"),
    ("家", "home"), ("人", "person"), ("米饭", "rice"), ("苹果", "apple"), ("朋友", "friend"),
    ("学校", "school"), ("老师", "teacher"), ("学生", "student"), ("医生", "doctor"), ("电脑", "computer"),
    ("手机", "phone"), ("天气", "weather"), ("太阳", "sun"), ("月亮", "moon"), ("时间", "time"),
    ("音乐", "music"), ("电影", "movie"), ("城市", "city"), ("中国", "China"), ("北京", "Beijing"),
    ("今天", "today"), ("工作", "work"), ("问题", "question"),
)
# Punctuation right before the word keeps it a token of its own in tokenizers that split at punctuation.
CHINESE_TEMPLATES = ("我昨天学了一个词：{w}。", "她在纸上写了「{w}」。", "老师问我们：{w}是什么？",
                     "大家都在谈论「{w}」。")
PALINDROMES = (
    "level", "radar", "civic", "kayak", "refer", "rotor", "madam", "noon", "stats", "tenet", "racecar", "deed",
    "peep", "pop", "mom", "dad", "wow", "eye", "nun", "gag", "tot", "pup", "sis", "solos", "sagas", "minim",
    "reviver", "redder", "sees", "toot", "pip", "bib", "did", "ewe", "gig", "huh", "mum", "nan", "pep", "tut",
    "aha", "kook", "rotator", "deified", "repaper",
)
LABELS = {
    "number": ("number", "numbers", "numeral", "digit", "integer"),
    "chinese": ("Chinese", "中文", "汉语", "Mandarin"),
    "palindrome": ("palindrome", "palindromes", "palindromic"),
}


class SyntheticFeature(NamedTuple):
    labels: tuple[str, ...]  # a label is right when it equals one of these, case-insensitively
    examples: list[Example]


def synthetic_features(taxonomy: Taxonomy | None = None, n: int = 64, seed: int = 0,
                       tokenizer=None) -> dict[str, SyntheticFeature]:
    """name -> SyntheticFeature for the six features in the module docstring, n examples each (half positive).

    With a `tokenizer`, only words that are one token are used and examples carry token ids; a feature left
    without positives (Chinese words under an English-only vocabulary) is left out with a warning.
    """
    tax = taxonomy if taxonomy is not None else load_categories()
    if n < 2:
        raise ValueError(f"n must be at least 2 (one positive and one negative), got {n}")
    animal, mammal = tax["animal"], tax["mammal"]
    sentences = animal_sentences(tax, n // 2, seed, tokenizer)
    builders = {
        "animal": lambda: (animal.lemmas, natural_examples(sentences, set(animal.members), n, seed, tokenizer)),
        "mammal_balanced": lambda: (mammal.lemmas, category_examples(
            "mammal", tax, n, seed, hard_negatives=0.5, context="word", tokenizer=tokenizer)),
        "mammal_natural": lambda: (mammal.lemmas, natural_examples(sentences, set(mammal.members), n, seed,
                                                                   tokenizer)),
        "number": lambda: (LABELS["number"], _list_examples(
            DIGITS + NUMBER_WORDS, _other_words(tax, set()), n, seed, "word", tokenizer)),
        "chinese": lambda: (LABELS["chinese"], chinese_examples(n, seed, tokenizer)),
        "palindrome": lambda: (LABELS["palindrome"], _list_examples(
            PALINDROMES, _other_words(tax, set(PALINDROMES)), n, seed, "sentence", tokenizer)),
    }
    out = {}
    for name, build in builders.items():
        try:
            labels, examples = build()
        except _NoPositives as e:
            warnings.warn(f"synthetic feature {name!r} left out: {e}", stacklevel=2)
            continue
        out[name] = SyntheticFeature(tuple(labels), examples)
    return out


class _NoPositives(ValueError):
    pass


def animal_sentences(taxonomy: Taxonomy, n_mammal: int, seed: int, tokenizer=None) -> list[tuple[str, int, int]]:
    """Sentences with one animal word each (any animal, in turn), until `n_mammal` of them hold a mammal:
    (sentence, start, end of the animal word)."""
    animals = taxonomy["animal"].members
    mammals = set(taxonomy["mammal"].members)
    if tokenizer is not None:
        animals = tuple(single_token_words(animals, tokenizer))
        mammals &= set(animals)
    if not mammals:
        raise _NoPositives("no mammal word is one token for this tokenizer")
    rng = random.Random(seed)
    out, n_seen = [], 0
    while n_seen < n_mammal:
        for word in cycle(animals, len(animals), rng):
            out.append(frame(word, rng))
            n_seen += word in mammals
            if n_seen >= n_mammal:
                break
    return out


def natural_examples(sentences: list[tuple[str, int, int]], positive_words: set[str], n: int, seed: int,
                     tokenizer=None) -> list[Example]:
    """Every token of the sentences but the first is a data point; positives are the marked words that belong to
    `positive_words`, negatives a uniform sample of the other tokens (so at their natural frequencies)."""
    pos, neg = [], []
    for sentence, start, end in sentences:
        word = sentence[start:end]
        for i, (_, tok_end, text, tok_id) in enumerate(split_tokens(sentence, tokenizer)):
            if i == 0:
                continue  # the first position is an attention sink in real LMs: left out as for SAE features
            hit = tok_end == end and word in positive_words
            ids = None if tok_id is None else (tok_id,)
            (pos if hit else neg).append(Example(sentence[:tok_end], text, float(hit), ids))
    if not pos:
        raise _NoPositives("no positive token in the sentences")
    rng = random.Random(seed)
    n_pos = n // 2
    chosen = rng.sample(pos, n_pos) if len(pos) >= n_pos else [pos[i % len(pos)] for i in range(n_pos)]
    out = chosen + rng.sample(neg, min(n - n_pos, len(neg)))
    rng.shuffle(out)
    return out


def chinese_examples(n: int, seed: int, tokenizer=None) -> list[Example]:
    """Chinese words in Chinese sentences (positives) against their English translations in English ones."""
    pairs = CHINESE_WORDS
    if tokenizer is not None:
        zh = set(single_token_words([z for z, _ in pairs], tokenizer, lead=""))
        en = set(single_token_words([e for _, e in pairs], tokenizer))
        pairs = tuple((z, e) for z, e in pairs if z in zh and e in en)
    if not pairs:
        raise _NoPositives("no Chinese word of the list is one token for this tokenizer")
    rng = random.Random(seed)
    out = []
    for z in cycle([z for z, _ in pairs], n // 2, rng):
        sentence, _, end = frame(z, rng, CHINESE_TEMPLATES)
        ids = None if tokenizer is None else tuple(tokenizer.encode(z, add_special_tokens=False))
        out.append(Example(sentence[:end], z, 1.0, ids))
    out += [word_example(e, 0.0, rng, "sentence", " ", tokenizer) for e in cycle([e for _, e in pairs],
                                                                                 n - n // 2, rng)]
    rng.shuffle(out)
    return out


def _other_words(taxonomy: Taxonomy, exclude: set[str]) -> dict[str, list[str]]:
    """Lowercase members of every root category minus `exclude`, by root."""
    groups = {root: [w for w in ws if w.islower() and w not in exclude] for root, ws in far_words(taxonomy).items()}
    return {root: ws for root, ws in groups.items() if ws}


def _list_examples(positives, negatives: dict[str, list[str]], n: int, seed: int, context: str,
                   tokenizer) -> list[Example]:
    """Positives cycled from a word list, negatives drawn root category by root category."""
    if tokenizer is not None:
        positives = single_token_words(positives, tokenizer)
        negatives = {g: ws for g, ws in ((g, single_token_words(ws, tokenizer)) for g, ws in negatives.items()) if ws}
    if not positives:
        raise _NoPositives("no positive word is one token for this tokenizer")
    rng = random.Random(seed)
    out = [word_example(w, 1.0, rng, context, " ", tokenizer) for w in cycle(list(positives), n // 2, rng)]
    out += [word_example(w, 0.0, rng, context, " ", tokenizer) for w in stratified(negatives, n - n // 2, rng)]
    rng.shuffle(out)
    return out
