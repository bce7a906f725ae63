"""A small reader of WordNet 3.0's noun database (data.noun, index.noun in the wndb(5WN) format).

WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. It is distributed under the
WordNet 3.0 licence, which permits use, copying, modification and distribution for any purpose without
fee, provided the copyright notice and disclaimer go with every copy (https://wordnet.princeton.edu/license).
Debian and Ubuntu ship the database as the package `wordnet-base`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SEARCH_PATHS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/wordnet/dict",
                "/opt/homebrew/share/wordnet")  # Debian / Ubuntu, source installs, Homebrew
HYPERNYM, HYPONYM = ("@", "@i"), ("~", "~i")  # instance links too: countries and cities are instances
_EXAMPLE = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class Synset:
    offset: int
    lemmas: tuple[str, ...]  # underscores read as spaces, case as in WordNet ("Paris", "domestic dog")
    hypernyms: tuple[int, ...]
    hyponyms: tuple[int, ...]
    gloss: str  # the definition, without the example sentences
    examples: tuple[str, ...] = ()


@dataclass
class WordNet:
    synsets: dict[int, Synset]
    senses: dict[str, list[int]] = field(default_factory=dict)  # lowercase lemma -> offsets, most frequent first
    tagged: set[str] = field(default_factory=set)  # lowercase lemmas seen as nouns in the sense-tagged corpus
    other_pos: set[str] = field(default_factory=set)  # verbs, adjectives, adverbs and their inflections ("drove")

    def synset(self, offset: int) -> Synset:
        if offset not in self.synsets:
            raise KeyError(f"no noun synset at offset {offset:08d}")
        return self.synsets[offset]

    def synsets_of(self, lemma: str) -> list[Synset]:
        """The noun senses of `lemma` (any case, spaces or underscores), most frequent first."""
        return [self.synsets[o] for o in self.senses.get(lemma.lower().replace("_", " "), [])]

    def primary_path(self, synset: Synset) -> list[int]:
        """Offsets from `synset` up to the root along each synset's first-listed (primary) hypernym."""
        out = [synset.offset]
        while self.synsets[out[-1]].hypernyms and len(out) < 100:
            out.append(self.synsets[out[-1]].hypernyms[0])
        return out

    def descendants(self, synset: Synset) -> set[int]:
        """Offsets of every hyponym and instance below `synset`, at any depth (not the synset itself)."""
        return self._closure(synset.hyponyms, "hyponyms")

    def ancestors(self, synset: Synset) -> set[int]:
        """Offsets of every hypernym above `synset`, along all paths."""
        return self._closure(synset.hypernyms, "hypernyms")

    def _closure(self, start: tuple[int, ...], link: str) -> set[int]:
        """Every offset reachable from `start` by following `link` (each synset once: the graph has joins)."""
        seen: set[int] = set()
        todo = list(start)
        while todo:
            o = todo.pop()
            if o not in seen:
                seen.add(o)
                todo.extend(getattr(self.synsets[o], link))
        return seen

    def hyponym_closure(self, synset: Synset) -> set[str]:
        """The lemma names of every descendant of `synset`."""
        return {lemma for o in self.descendants(synset) for lemma in self.synsets[o].lemmas}


def parse_data_line(line: str) -> Synset:
    """One synset line of data.noun: offset lexfile pos w_cnt(hex) [word lex_id]... p_cnt [ptr]... | gloss."""
    head, _, gloss = line.partition(" | ")
    f = head.split()
    n_words = int(f[3], 16)
    lemmas = tuple(f[4 + 2 * i].replace("_", " ") for i in range(n_words))
    i = 4 + 2 * n_words
    hyper, hypo = [], []
    for j in range(int(f[i])):
        symbol, target = f[i + 1 + 4 * j], int(f[i + 2 + 4 * j])
        if symbol in HYPERNYM:
            hyper.append(target)
        elif symbol in HYPONYM:
            hypo.append(target)
    definition, examples = split_gloss(gloss)
    return Synset(int(f[0]), lemmas, tuple(hyper), tuple(hypo), definition, examples)


def split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """A gloss ("a definition; "an example"; "another"") as (definition, example sentences)."""
    examples = tuple(_EXAMPLE.findall(gloss))
    definition = gloss.split('; "')[0].split(' "')[0].strip().rstrip(";").strip()
    return definition, examples


def find_wordnet(path: str | os.PathLike | None = None) -> Path:
    """The folder that holds data.noun: `path`, $WNSEARCHDIR, or a standard install location."""
    candidates = [path] if path is not None else [os.environ.get("WNSEARCHDIR"), *SEARCH_PATHS]
    for c in candidates:
        if c and (Path(c) / "data.noun").is_file():
            return Path(c)
    where = f"in {path}" if path is not None else f"in $WNSEARCHDIR or {', '.join(SEARCH_PATHS)}"
    raise FileNotFoundError(f"WordNet 3.0's data.noun was not found {where}; install it with "
                            "`apt-get install wordnet-base` (Debian / Ubuntu) or pass path= to its folder")


def load_wordnet(path: str | os.PathLike | None = None) -> WordNet:
    """Parse data.noun (and index.noun, for the sense order, when it is there)."""
    folder = find_wordnet(path)
    synsets = {}
    with open(folder / "data.noun", encoding="utf-8") as f:
        for line in f:
            if not line.startswith(" "):  # the licence header lines start with two spaces
                s = parse_data_line(line)
                synsets[s.offset] = s
    senses: dict[str, list[int]] = {}
    tagged: set[str] = set()
    index = folder / "index.noun"
    if index.is_file():  # lemma pos n_synsets n_ptrs [ptr]... n_senses n_tagged_senses offset... (most frequent first)
        with open(index, encoding="utf-8") as f:
            for line in f:
                if not line.startswith(" "):
                    fields = line.split()
                    lemma, n = fields[0].replace("_", " "), int(fields[2])
                    senses[lemma] = [int(o) for o in fields[-n:]]
                    if int(fields[-n - 1]) > 0:
                        tagged.add(lemma)
    else:  # no frequency order: the order of data.noun
        for s in synsets.values():
            for lemma in s.lemmas:
                senses.setdefault(lemma.lower(), []).append(s.offset)
    other_pos = set()
    for name in ("index.verb", "index.adj", "index.adv", "verb.exc", "adj.exc", "adv.exc"):
        if (folder / name).is_file():
            with open(folder / name, encoding="utf-8") as f:
                other_pos.update(line.split(" ", 1)[0].replace("_", " ") for line in f if not line.startswith(" "))
    return WordNet(synsets, senses, tagged, other_pos)
