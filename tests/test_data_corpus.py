"""The offline real-English corpus: parsing, cleaning, de-duplication and a reproducible build."""

import json

import pytest

from sae_gd_labeler.data.real_corpus import (
    build_corpus,
    clean,
    fortune_texts,
    kjv_texts,
    python_docs_texts,
    rst_paragraph_text,
    wordnet_texts,
)

# three synset lines in WordNet's data-file format (a noun, a verb with its frames section, a duplicate gloss)
DATA_NOUN = (
    "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"
    "02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 000 | a member of the genus Canis; "
    '"the dog barked all night"\n'
    "02084732 05 n 01 pooch 0 000 | a member of the genus Canis\n"
)
DATA_VERB = ("01168468 34 v 01 eat 0 000 01 + 08 00 | take in solid food; \"She was eating a banana\"; "
             '"What did you eat for dinner last night?"\n')


@pytest.fixture
def sources(tmp_path):
    wordnet = tmp_path / "wordnet"
    wordnet.mkdir()
    (wordnet / "data.noun").write_text(DATA_NOUN)
    (wordnet / "data.verb").write_text(DATA_VERB)
    (wordnet / "data.adj").write_text("")
    (wordnet / "data.adv").write_text("")
    fortunes = tmp_path / "fortunes"
    fortunes.mkdir()
    (fortunes / "science").write_text("A day without sunshine is like night.\n%\n1 + 1 = 3\n%\n"
                                      "A day   without\nsunshine is like night.\n%\n")
    (fortunes / "science.dat").write_bytes(b"\x00\x01")  # the index fortune(6) keeps beside each file
    (fortunes / "ascii-art").write_text("  /\\_/\\  a cat drawn in letters\n%\n")
    return wordnet, fortunes


def test_glosses_and_example_sentences_of_every_part_of_speech_are_read(sources):
    wordnet, _ = sources
    texts = list(wordnet_texts(wordnet))
    assert ("wordnet-glosses", "A member of the genus Canis.") in texts
    assert ("wordnet-examples", "the dog barked all night") in texts
    assert ("wordnet-glosses", "Take in solid food.") in texts  # the verb line's frames do not get in the way
    assert ("wordnet-examples", "What did you eat for dinner last night?") in texts
    assert not any("LICENSEE" in t for _, t in texts)


def test_fortune_entries_are_split_and_art_files_and_indexes_skipped(sources):
    _, fortunes = sources
    texts = [t.strip() for _, t in fortune_texts(fortunes) if t.strip()]
    assert "A day without sunshine is like night." in texts and not any("cat drawn" in t for t in texts)


@pytest.mark.parametrize("text, kept", [
    ("A  day\nwithout   sunshine.", "A day without sunshine."),
    ("1 + 1 = 3", None),  # mostly not letters
    ("too short", None),
    ("| ---- | ---- | ---- |", None),
])
def test_cleaning(text, kept):
    assert clean(text) == kept


def test_the_build_deduplicates_shuffles_and_is_reproducible(sources, tmp_path):
    wordnet, fortunes = sources
    kwargs = dict(wordnet_dir=wordnet, fortunes_dir=fortunes, sources=("wordnet", "fortunes"))
    stats = build_corpus(tmp_path / "a.jsonl", **kwargs)
    again = build_corpus(tmp_path / "b.jsonl", **kwargs)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert stats["sha256"] == again["sha256"]
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    texts = [r["text"] for r in rows]
    assert texts.count("A member of the genus Canis.") == 1  # two synsets share the gloss
    assert texts.count("A day without sunshine is like night.") == 1  # the same fortune twice, spaced apart
    assert stats["texts"] == {"wordnet-glosses": 2, "wordnet-examples": 3, "fortunes": 1}
    assert build_corpus(tmp_path / "c.jsonl", seed=1, **kwargs)["sha256"] != stats["sha256"]  # shuffled


def test_unknown_sources_and_missing_packages_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus sources"):
        build_corpus(tmp_path / "x.jsonl", sources=("gutenberg",))
    with pytest.raises(FileNotFoundError, match="apt-get install fortunes"):
        list(fortune_texts(tmp_path / "nowhere"))


RST = """.. _tut-if:

:keyword:`!if` Statements
=========================

Perhaps the most well-known statement is the :keyword:`if` statement.  For
example::

   >>> x = int(input("Please enter an integer: "))

See :ref:`the tutorial <tut-intro>` and ``range(10)``; *never* use **eval**.
"""


def test_python_docs_keep_prose_and_drop_markup_headings_and_code(tmp_path):
    (tmp_path / "tutorial").mkdir()
    (tmp_path / "tutorial" / "controlflow.rst.txt").write_text(RST)
    texts = [t for _, t in python_docs_texts(tmp_path)]
    assert texts == ["Perhaps the most well-known statement is the if statement. For example:",
                     "See the tutorial and range(10); never use eval."]
    assert rst_paragraph_text("   >>> print(1)") is None and rst_paragraph_text(".. index:: for") is None


def test_kjv_chapters_are_joined_verses(tmp_path):
    fake = tmp_path / "bible"  # prints what the real program prints: a heading, then numbered verses
    fake.write_text("#!/bin/sh\nprintf '\\nGenesis 1\\n\\n  1 In the beginning.\\n  2 And the earth.\\n"
                    "\\nGenesis 2\\n\\n  1 Thus the heavens.\\n'\n")
    fake.chmod(0o755)
    assert list(kjv_texts(str(fake))) == [("kjv", "In the beginning. And the earth."), ("kjv", "Thus the heavens.")]
    with pytest.raises(FileNotFoundError, match="apt-get install bible-kjv"):
        list(kjv_texts(str(tmp_path / "no-such-program")))
