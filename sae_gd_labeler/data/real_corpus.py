"""A corpus of real English that can be had offline, built reproducibly from Debian packages.

    python -m sae_gd_labeler.data.real_corpus --out corpus.jsonl        # about 4 seconds
    label_features(sae, ids, model=model, dataset="corpus.jsonl")       # or any tool that reads JSON lines

Sources (each text keeps its source in the "source" field):
- "wordnet-glosses" and "wordnet-examples": every definition and every example sentence of WordNet 3.0's
  nouns, verbs, adjectives and adverbs (Debian package `wordnet-base`). WordNet 3.0 Copyright 2006 by
  Princeton University; the WordNet 3.0 licence permits use, copying, modification and distribution for any
  purpose without fee, with its copyright notice and disclaimer (https://wordnet.princeton.edu/license).
- "fortunes": the quotations, sayings and jokes of the Debian package `fortunes` (the BSD fortune(6)
  collection, /usr/share/doc/fortunes/copyright), less its ASCII-art files and any entry that is mostly not
  prose (tables, drawings, code).
- "kjv": the King James Version of the Bible (public domain), one text per chapter, read with the `bible`
  program of the Debian packages `bible-kjv` and `bible-kjv-text`.
- "python-docs": the prose paragraphs of the Python 3 documentation's reStructuredText sources (Debian
  package `python3-doc`, /usr/share/doc/python3.*/html/_sources; the PSF Licence Agreement): directives,
  headings, code blocks and interactive sessions dropped, inline roles (:func:`len`) reduced to their text.

Cleaning: Unicode NFC, whitespace runs collapsed to one space, texts of fewer than 3 words or under 60%
letters dropped, duplicates (case- and whitespace-insensitive) dropped, the rest shuffled with a fixed seed.
The output is JSON lines {"text", "source"}, written atomically; the same packages give the same bytes.

The dataset name "sae_gd_labeler.data.real_corpus" (`REAL_CORPUS`, the shipped SAEs' `dataset_path`) reads the
default corpus, built once into the user's cache (`cached_corpus`).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sae_gd_labeler.data.wordnet import find_wordnet, split_gloss

WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
FORTUNES_DIR = "/usr/share/games/fortunes"
FORTUNES_SKIPPED = {"art", "ascii-art"}  # drawings, not prose
KJV_RANGE = "Gen1:1-Rev22:21"
PYTHON_DOCS_GLOB = "/usr/share/doc/python3*/html/_sources"
MIN_WORDS, MIN_LETTER_FRACTION = 3, 0.6
REAL_CORPUS = "sae_gd_labeler.data.real_corpus"  # the dataset name that reads the default corpus


def wordnet_texts(folder: str | os.PathLike | None = None) -> Iterator[tuple[str, str]]:
    """(source, text): each synset's definition, then its example sentences, for all four parts of speech."""
    root = find_wordnet(folder)
    for name in WORDNET_FILES:
        with open(root / name, encoding="utf-8") as f:
            for line in f:
                if line.startswith(" "):  # the licence header
                    continue
                definition, examples = split_gloss(line.partition(" | ")[2])
                if definition:
                    yield "wordnet-glosses", definition[0].upper() + definition[1:] + "."
                for example in examples:
                    yield "wordnet-examples", example


def fortune_texts(folder: str | os.PathLike = FORTUNES_DIR) -> Iterator[tuple[str, str]]:
    """(source, text): each entry of each fortune file (entries end at a line holding only "%")."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no fortunes at {root}; install the Debian package `fortunes` "
                                "(apt-get install fortunes) or leave the source out (--sources wordnet)")
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.suffix or path.name in FORTUNES_SKIPPED:  # .dat indexes, .u8 links
            continue
        for entry in re.split(r"^%\s*$", path.read_text(encoding="utf-8", errors="replace"), flags=re.M):
            yield "fortunes", entry


def kjv_texts(bible: str = "bible") -> Iterator[tuple[str, str]]:
    """(source, text): each chapter of the King James Bible, its verses joined, verse numbers dropped."""
    program = shutil.which(bible)
    if program is None:
        raise FileNotFoundError("no `bible` program; install the Debian packages `bible-kjv` and `bible-kjv-text` "
                                "(apt-get install bible-kjv) or leave the source out (--sources wordnet,fortunes)")
    # -l100000: one line per verse (no wrapping); chapters start with a "Book N" line
    out = subprocess.run([program, "-l100000", KJV_RANGE], capture_output=True, text=True, check=True).stdout
    verses: list[str] = []
    for line in out.splitlines():
        verse = re.match(r"\s+\d+ (.*)", line)
        if verse:
            verses.append(verse.group(1))
        elif line.strip() and verses:  # the next chapter's heading
            yield "kjv", " ".join(verses)
            verses = []
    if verses:
        yield "kjv", " ".join(verses)


_ROLE = re.compile(r":[\w:.-]+:`!?~?([^`<]*?)\s*(?:<[^`>]*>)?`")  # :func:`len`, :ref:`text <target>`
_LITERAL = re.compile(r"``([^`]*)``|`([^`<]*?)\s*(?:<[^`>]*>)?`_{0,2}")  # ``code``, `link <url>`_
_HEADING_RULE = re.compile(r"^([=*~^\-#\"'+`.:])\1{2,}\s*$")


def rst_paragraph_text(paragraph: str) -> str | None:
    """The prose of one reStructuredText paragraph, None for a directive, comment, heading, table or code."""
    lines = paragraph.splitlines()
    first = lines[0]
    if (first.startswith((" ", "\t", "..", ">>>", "|", "+-")) or first.rstrip().endswith("::") and len(lines) == 1
            or any(_HEADING_RULE.match(line) for line in lines)):
        return None
    text = " ".join(paragraph.split())
    text = _ROLE.sub(lambda m: m.group(1), text)
    text = _LITERAL.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    text = re.sub(r"(?<!\w)\*\*?([^*]+?)\*\*?(?!\w)", r"\1", text)  # *emphasis*, **strong**
    return text.replace("::", ":")


def python_docs_texts(folder: str | os.PathLike | None = None) -> Iterator[tuple[str, str]]:
    """(source, text): each prose paragraph of the Python documentation's reST sources, files in sorted order."""
    roots = [Path(folder)] if folder else [Path(p) for p in sorted(glob.glob(PYTHON_DOCS_GLOB))[-1:]]
    if not roots or not roots[0].is_dir():
        raise FileNotFoundError(f"no Python documentation sources at {folder or PYTHON_DOCS_GLOB}; install the "
                                "Debian package `python3-doc` or leave the source out (--sources wordnet,fortunes)")
    for path in sorted(roots[0].rglob("*.txt")):
        for paragraph in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            text = rst_paragraph_text(paragraph) if paragraph.strip() else None
            if text:
                yield "python-docs", text


def clean(text: str) -> str | None:
    """The text normalised, or None when it is too short or mostly not letters (a table, a drawing)."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if len(text.split()) < MIN_WORDS:
        return None
    letters = sum(c.isalpha() for c in text)
    if letters < MIN_LETTER_FRACTION * len(text.replace(" ", "")):
        return None
    return text


SOURCES = {"wordnet": wordnet_texts, "fortunes": fortune_texts, "kjv": kjv_texts, "python-docs": python_docs_texts}
DEFAULT_SOURCES = ("wordnet", "fortunes", "kjv", "python-docs")


def build_corpus(out: str | os.PathLike, sources: tuple[str, ...] = DEFAULT_SOURCES, seed: int = 0,
                 wordnet_dir: str | os.PathLike | None = None,
                 fortunes_dir: str | os.PathLike = FORTUNES_DIR, bible: str = "bible",
                 python_docs_dir: str | os.PathLike | None = None) -> dict:
    """Write the corpus to `out` (JSON lines); returns its statistics (texts and words per source, sha256)."""
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown corpus sources {unknown}; valid: {sorted(SOURCES)}")
    readers = {"wordnet": lambda: wordnet_texts(wordnet_dir), "fortunes": lambda: fortune_texts(fortunes_dir),
               "kjv": lambda: kjv_texts(bible), "python-docs": lambda: python_docs_texts(python_docs_dir)}
    seen, rows = set(), []
    for name in sources:
        for source, raw in readers[name]():
            text = clean(raw)
            key = None if text is None else text.casefold()
            if key is not None and key not in seen:
                seen.add(key)
                rows.append({"text": text, "source": source})
    random.Random(seed).shuffle(rows)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    words = Counter()
    for r in rows:
        words[r["source"]] += len(r["text"].split())
    return {"out": str(out), "texts": dict(Counter(r["source"] for r in rows)), "words": dict(words),
            "total_words": sum(words.values()), "sha256": hashlib.sha256(data).hexdigest()}


def cached_corpus() -> Path:
    """The default corpus, built into `$XDG_CACHE_HOME/sae_gd_labeler/real_corpus.jsonl` (else ~/.cache/...) on
    first use (a few seconds)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "sae_gd_labeler" / "real_corpus.jsonl"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        build_corpus(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the JSON-lines file to write")
    p.add_argument("--sources", default=",".join(DEFAULT_SOURCES),
                   help=f"comma-separated, of {','.join(SOURCES)} (default: all)")
    p.add_argument("--seed", type=int, default=0, help="of the shuffle (default: 0)")
    args = p.parse_args(argv)
    stats = build_corpus(args.out, tuple(args.sources.split(",")), args.seed)
    print(json.dumps(stats, indent=1))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
