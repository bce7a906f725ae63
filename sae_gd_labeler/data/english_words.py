"""An English word list, from WordNet 3.0: what the "dictionary" candidate vocabulary accepts as a word.

The list is every single-word lemma of WordNet's four indexes (index.noun, index.verb, index.adj,
index.adv; letters only, lower-cased), the irregular inflections of its exception lists (noun.exc, verb.exc,
adj.exc, adv.exc: "geese", "drove", "better"), and the regular inflections of each lemma by part of speech:

    noun       plural            cat -> cats, box -> boxes, city -> cities, hero -> heroes, man -> men
    verb       3rd person        run -> runs, watch -> watches, carry -> carries
               -ing              walk -> walking, make -> making, die -> dying
               -ed               walk -> walked, like -> liked, carry -> carried
    adjective  -er / -est        tall -> taller, large -> larger, happy -> happier (up to two syllables:
                                 longer adjectives compare with more / most)

These are the suffixes WordNet's own lemmatiser (morphy) strips, spelled by the textbook rules; what they
cannot spell (doubled consonants: stopped, running, bigger; irregular forms) WordNet lists in its exception
files, which is why those are read too. The rules over-generate (a lemma gets every suffix of its part of
speech: "informationed" is not a word, "goed" sits beside "went"). That is harmless, since such a string is
a whole word plus a suffix, not a word-initial token fragment ("desp", "autom"), and keeping fragments out is
all the list is for; except for lemmas of one or two letters, which WordNet has as letters, symbols and
abbreviations ("m", "cl", "el"; "mer", "cls", "els" are fragments), so of those only the verbs ("go", "do")
are inflected.

WordNet is dropped where it is not a word list: multi-word lemmas, and lemmas with digits, hyphens or
apostrophes. WordNet has open-class words only (nouns, verbs, adjectives, adverbs), so the closed-class
words ("the", "she", "of", "and", "could") are added from the short hand-written `FUNCTION_WORDS`. Names that
WordNet lacks ("Ferrari", "PayPal") are not in the list; WordNet's own short entries (letters, element
symbols, abbreviations: "h", "ag", "fl") are.

The list ships gzipped as `english_words.txt.gz` next to this module (one word a line, sorted); rebuild it
from an installed WordNet 3.0 (Debian / Ubuntu package `wordnet-base`) with

    python -m sae_gd_labeler.data.english_words --out sae_gd_labeler/data/english_words.txt.gz

WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. It is distributed under the
WordNet 3.0 licence, which permits use, copying, modification and distribution for any purpose without
fee, provided the copyright notice and disclaimer go with every copy (https://wordnet.princeton.edu/license).
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path

from sae_gd_labeler.data.wordnet import find_wordnet

FILENAME = "english_words.txt.gz"
POS = ("noun", "verb", "adj", "adv")
# Closed-class English words, which WordNet leaves out: pronouns, determiners, prepositions, conjunctions,
# auxiliaries and modals, question words.
FUNCTION_WORDS = frozenset("""
    i me my mine myself you your yours yourself yourselves he him his himself she her hers herself it its itself
    we us our ours ourselves they them their theirs themselves who whom whose which what whoever whomever
    whichever whatever whatsoever somebody anybody everybody nobody someone anyone everyone something anything
    everything nothing
    the a an this that these those some any no every each either neither both all few many much more most
    several such other another own enough
    of in on at by for with about against between among amongst into onto upon through throughout during before
    after above below to from up down out off over under again further then once here there toward towards
    across along around behind beside besides beyond within without despite except inside outside near past
    via per since until till unto
    and but or nor so yet if because although though while whereas unless whether than as when where why how
    whenever wherever however therefore thus hence
    am is are was were be been being have has had having do does did doing done will would shall should can
    could may might must ought not
""".split())
_VOWELS = set("aeiou")
_SYLLABLE = re.compile("[aeiouy]+")  # vowel groups: a rough syllable count that errs high (large: 2)


def is_plain_word(text: str) -> bool:
    """ASCII letters only: a WordNet lemma that is one word (no "_", "-", "'", ".", digits)."""
    return text.isascii() and text.isalpha()


def _lemmas(path: Path) -> Iterator[str]:
    """First field of each line of an index or exception file; the licence header lines start with spaces."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith(" ") and line.strip():
                yield line.split(" ", 1)[0]


def _exceptions(path: Path) -> Iterator[str]:
    """Every form of an exception file ("inflected base [base...]"): the inflections and their lemmas."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield from line.split()


def _plural(w: str) -> list[str]:
    """Plural / 3rd person: cats, boxes, cities, heroes and pianos, men and humans."""
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return [w + "es"]
    if _consonant_y(w):
        return [w[:-1] + "ies"]
    if len(w) > 1 and w.endswith("o") and w[-2] not in _VOWELS:
        return [w + "s", w + "es"]
    if w.endswith("man"):
        return [w + "s", w[:-3] + "men"]
    return [w + "s"]


def _consonant_y(w: str) -> bool:
    return len(w) > 1 and w.endswith("y") and w[-2] not in _VOWELS


def _vowel_suffix(w: str, suffix: str) -> list[str]:
    """`w` + "ed" / "er" / "est": walked, liked (e dropped), carried (y -> i)."""
    if w.endswith("e"):
        return [w + suffix[1:]]
    if _consonant_y(w):
        return [w[:-1] + "i" + suffix]
    return [w + suffix]


def _ing(w: str) -> list[str]:
    """walking, making (e dropped), dying (ie -> y); seeing, dyeing, hoeing keep the e."""
    if w.endswith("ie"):
        return [w[:-2] + "ying"]
    if w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and len(w) > 2:
        return [w[:-1] + "ing"]
    return [w + "ing"]


def inflections(word: str, pos: str) -> list[str]:
    """The regular inflections of lemma `word` as part of speech `pos` ("noun", "verb", "adj", "adv")."""
    if pos == "noun":
        return _plural(word)
    if pos == "verb":
        return _plural(word) + _ing(word) + _vowel_suffix(word, "ed")
    if pos == "adj" and len(_SYLLABLE.findall(word)) <= 2:  # longer ones compare with more / most
        return _vowel_suffix(word, "er") + _vowel_suffix(word, "est")
    return []


def build_english_words(path: str | os.PathLike | None = None) -> set[str]:
    """The word list from the WordNet 3.0 database in `path` (default: found as `find_wordnet` does), with
    `FUNCTION_WORDS`."""
    folder = find_wordnet(path)
    words: set[str] = set(FUNCTION_WORDS)
    for pos in POS:
        index = folder / f"index.{pos}"
        if not index.is_file():
            raise FileNotFoundError(f"{index} is missing: the word list needs all of WordNet's index files "
                                    f"({', '.join('index.' + p for p in POS)})")
        for lemma in _lemmas(index):
            lemma = lemma.lower()
            if is_plain_word(lemma):
                words.add(lemma)
                if len(lemma) >= 3 or pos == "verb":  # shorter nouns / adjectives are letters and symbols
                    words.update(inflections(lemma, pos))  # ("m", "cl"): "mer", "cls" would be word pieces
        exc = folder / f"{pos}.exc"
        if exc.is_file():
            words.update(w.lower() for w in _exceptions(exc) if is_plain_word(w))
    return words


def write_english_words(words: Iterable[str], out: str | os.PathLike) -> None:
    """Sorted, one a line, gzipped with no timestamp so the same list gives the same bytes."""
    text = "".join(w + "\n" for w in sorted(set(words)))
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(text.encode("ascii"))


@cache
def english_words() -> frozenset[str]:
    """The shipped word list (lower case), read once."""
    source = resources.files("sae_gd_labeler.data") / FILENAME
    if not source.is_file():
        raise FileNotFoundError(f"the English word list {FILENAME} is missing from the package; rebuild it with "
                                f"`python -m sae_gd_labeler.data.english_words --out sae_gd_labeler/data/{FILENAME}`")
    with gzip.open(io.BytesIO(source.read_bytes()), "rt", encoding="ascii") as f:
        return frozenset(line.rstrip("\n") for line in f if line.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the English word list from WordNet 3.0.")
    parser.add_argument("--out", required=True, help=f"where to write the gzipped list (the package's: {FILENAME})")
    parser.add_argument("--wordnet", default=None, help="WordNet's dict folder (default: $WNSEARCHDIR or the "
                                                        "standard install locations)")
    args = parser.parse_args(argv)
    words = build_english_words(args.wordnet)
    write_english_words(words, args.out)
    sys.stderr.write(f"{len(words)} words -> {args.out} ({Path(args.out).stat().st_size} bytes)\n")


if __name__ == "__main__":
    main()
