"""Compound concepts of the toy world ("red fruit"): attributes, ground truth, questions, corpus, the world's
API and the benchmark, on the code and on a world built with the tiny preset."""

import json
from collections import Counter

import pytest
import torch

from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.toyworld import compounds as cx
from sae_gd_labeler.toyworld import load_toy_world
from sae_gd_labeler.toyworld import taxonomy as tx
from sae_gd_labeler.toyworld.accuracy import membership_accuracy
from sae_gd_labeler.toyworld.corpus import _sites_by_word, generate_corpus
from sae_gd_labeler.toyworld.discriminator import yes_no_margin
from sae_gd_labeler.toyworld.questions import UNTAUGHT, QuestionSampler, is_member

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    from sae_gd_labeler.toyworld.train import build_world

    out = tmp_path_factory.mktemp("compounds") / "world"
    build_world(out, preset="tiny", seed=0, threads=1, compounds=True)
    return load_toy_world(out)


# -- the ground truth ----------------------------------------------------------------------------------
def test_compounds_are_attribute_times_category():
    tax = tx.taxonomy()
    compounds = cx.compound_taxonomy()
    assert len(compounds) >= 8 and "red fruit" in compounds and "sea animal" in compounds
    for name, members in compounds.items():
        attribute, category = cx.compound_parts()[name]
        assert name == f"{attribute} {category}" and len(members) >= 3, name
        assert set(members) == {w for w in tax[category] if cx.has_attribute(w, attribute)}
        assert all(w in tx.label_words(compounds=True) for w in (attribute, category))


def test_no_single_word_names_a_compound():
    tax = tx.taxonomy()
    for name, members in cx.compound_taxonomy().items():
        assert all(set(ws) != set(members) for ws in tax.values()), name
        same_category, same_attribute = cx.near_miss_pools(*cx.compound_parts()[name])
        assert same_category and same_attribute, name  # the category alone and the attribute alone both over-reach


def test_every_attribute_spans_several_categories():
    for attribute, words in cx.ATTRIBUTES.items():
        leaves = {tx.categories_of(w)[0] for w in words}
        assert len(leaves) >= 2, attribute
        assert all(tx.categories_of(w) for w in words), attribute  # every holder has a category


def test_two_word_membership_is_compositional():
    assert is_member("apple", "red fruit") and is_member("apple", "red food") and is_member("apple", "red apple")
    assert is_member("whale", "sea animal") and is_member("whale", "sea mammal")
    assert not is_member("banana", "red fruit")  # a fruit, not red
    assert not is_member("tomato", "red fruit")  # red, not a fruit
    assert not is_member("apple", "fruit red") and not is_member("apple", "apple fruit")
    assert not is_member("red", "red colour")  # colour words carry no attribute
    assert not is_member("apple", "red fruit tree")


def test_new_attribute_words_join_the_vocabulary_after_the_old_words():
    words = tx.label_words(compounds=True)
    assert cx.new_words() == ["sea"]
    assert words == tx.label_words() + cx.new_words()  # the old words keep their places
    assert tx.vocabulary(compounds=True)[: len(words)] == words
    assert all(w in _sites_by_word() for w in cx.ATTRIBUTES)  # every label word can be placed in a sentence


def test_without_compounds_the_recipe_is_the_shipped_worlds():
    """The default recipe (no --compounds) draws the same questions, sentences and words as before compounds."""
    assert "sea" not in tx.label_words() and "sea" not in tx.vocabulary()
    plain = QuestionSampler(seed=4)
    assert all(" " not in plain.sample().label for _ in range(2000))
    gen, with_compounds = generate_corpus(300, seed=2), generate_corpus(300, seed=2, compounds=True)
    assert not any(len(s.split()) == 7 and s.split()[4] in cx.ATTRIBUTES for s in gen)
    assert gen != with_compounds


# -- questions and corpus -------------------------------------------------------------------------------
def test_questions_with_two_word_labels():
    sampler = QuestionSampler(seed=3, p_compound=0.2)
    qs = [sampler.sample() for _ in range(4000)]
    two = [q for q in qs if " " in q.label]
    assert 0.15 < len(two) / len(qs) < 0.25
    assert 0.45 < sum(q.answer for q in two) / len(two) < 0.55
    assert all(q.answer == is_member(q.token, q.label) for q in qs)
    assert all(UNTAUGHT not in q.label.split() for q in qs)
    named = {cx.compound_name(a, c) for a, c in cx.COMPOUNDS}
    asked = Counter(q.label for q in two if q.label in named)
    assert set(asked) == named  # every named compound is taught
    # near misses: words of the category without the attribute, and with the attribute outside it
    no = [(q.token, q.label) for q in two if not q.answer and q.label == "red fruit"]
    assert any(w in tx.taxonomy()["fruit"] for w, _ in no) and any(cx.has_attribute(w, "red") for w, _ in no)
    assert QuestionSampler(seed=3, p_compound=0.0).sample().label.count(" ") == 0


def test_attribute_alone_is_a_near_miss_negative():
    """A word with an attribute is asked about the attribute alone and answered no ("is hammer a metal ?"):
    the one-word label is a category (metal) or a colour word, never the attribute."""
    sampler = QuestionSampler(seed=6, p_compound=1.0)
    qs = [sampler.sample() for _ in range(3000)]
    alone = [q for q in qs if q.label in cx.ATTRIBUTES and cx.has_attribute(q.token, q.label)]
    assert len(alone) > 50 and not any(q.answer for q in alone)
    assert {q.label for q in alone} == set(cx.ATTRIBUTES)


def test_each_step_asks_as_many_one_word_questions_as_without_compounds():
    from sae_gd_labeler.toyworld.discriminator import TEMPLATE, PromptEncoder
    from sae_gd_labeler.toyworld.discriminator_training import _BatchMaker
    from sae_gd_labeler.toyworld.tokenizer import word_level_tokenizer

    encoder = PromptEncoder(word_level_tokenizer(tx.vocabulary(compounds=True)), TEMPLATE)
    maker = _BatchMaker(encoder, seed=0, window=64, compound_fraction=0.2)
    assert maker.questions.p_compound == 0 and "sea" in maker.questions.words  # the world's one-word questions
    compound = [maker.compound_questions.sample() for _ in range(200)]
    assert sum(" " in q.label for q in compound) > 150  # mostly two-word labels, some one-word near misses
    ids, _, answers = maker.questions_batch(50)
    assert len(ids) == len(answers) == 60  # 50 one-word questions, then 10 compound ones
    plain = _BatchMaker(encoder, seed=0, window=64, compound_fraction=0.0)
    assert plain.compound_questions is None and len(plain.questions_batch(50)[0]) == 50


def test_corpus_defines_compounds():
    corpus = generate_corpus(2000, seed=1, compounds=True)
    defined = [s.split() for s in corpus if len(s.split()) == 7 and s.split()[4] in cx.ATTRIBUTES]
    assert len(defined) > 20
    for words in defined:
        assert words[:2] == ["the", words[1]] and is_member(words[1], f"{words[4]} {words[5]}")


# -- the world's API ----------------------------------------------------------------------------------
def test_world_lists_compounds_apart_from_categories(tiny_world):
    w = tiny_world
    assert set(w.compounds) == set(cx.compound_taxonomy())
    assert not set(w.compounds) & set(w.categories)
    assert set(w.categories) == set(tx.categories())
    assert w.taxonomy["red fruit"] == cx.compound_taxonomy()["red fruit"]
    assert w.is_member("cherry", "red fruit") and w.is_member("cherry", "red food")
    assert not w.is_member("lime", "red fruit") and not w.is_member("radish", "red fruit")
    tax = json.loads((w.path / "taxonomy.json").read_text())
    assert tax["attributes"]["sea"] == list(cx.ATTRIBUTES["sea"])


def test_examples_for_a_compound(tiny_world):
    ex = tiny_world.examples_for("red fruit", n=64, seed=0)
    assert sum(e.activation for e in ex) == 32
    members = set(tiny_world.taxonomy["red fruit"])
    assert all((e.activation == 1.0) == (e.token in members) for e in ex)
    neg = [e.token for e in ex if e.activation == 0]
    fruit_only = sum(w in tx.taxonomy()["fruit"] for w in neg)
    red_only = sum(cx.has_attribute(w, "red") for w in neg)
    assert fruit_only == 8 and red_only == 8  # half the negatives are near misses, split between the two parts
    assert set(tiny_world.near_miss_words("red fruit")) == {
        w for w in tx.taxonomy()["fruit"] + list(cx.ATTRIBUTES["red"]) if w not in members}


def test_old_worlds_without_compounds_still_load(tiny_world, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_world.path, old)
    tax = json.loads((old / "taxonomy.json").read_text())
    for name in tax.pop("compounds"):
        del tax["taxonomy"][name]
    del tax["attributes"]
    (old / "taxonomy.json").write_text(json.dumps(tax))
    w = load_toy_world(old)
    assert w.compounds == {} and w.categories == list(tx.categories())
    assert not w.is_member("apple", "red fruit")


def test_accuracy_mixes_one_and_two_word_labels(tiny_world):
    w = tiny_world
    words, labels = ["apple", "banana", "tomato", "dog"], ["fruit", "red fruit", "red", "sea animal"]
    acc = membership_accuracy(w.model, w.encoder, words, labels)
    assert acc["n_pairs"] == 16 and set(acc["per_label"]) == set(labels)
    sweep = membership_accuracy(w.model, w.encoder, words, ["red fruit"])["per_label"]["red fruit"]
    assert acc["per_label"]["red fruit"] == sweep  # grouping by length changes nothing
    margins = yes_no_margin(w.model, w.encoder, [("emma ate a apple", "apple", "red fruit")])
    disc = Discriminator(w.model, w.template)
    from sae_gd_labeler.toyworld.accuracy import label_sweep_margins

    grid = label_sweep_margins(disc, [("emma ate a apple", "apple")], ["red fruit", "sea animal"])
    torch.testing.assert_close(grid[0, :1], margins, atol=1e-4, rtol=1e-4)
    assert w.discriminator_accuracy(labels=["red fruit"])["n_pairs"] == len(w.words)
    assert "sea" in w.words and w.report["compounds"] and w.report["n_compounds"] == len(w.compounds)
    with pytest.raises(ValueError, match="not label words"):
        w.discriminator_accuracy(labels=["red fruit tree"])


def test_training_report_has_compound_accuracy(tiny_world):
    compound = tiny_world.report["discriminator_accuracy"]["compound_labels"]
    assert set(compound["per_named_compound"]) == set(cx.compound_taxonomy())
    assert 0.0 <= compound["balanced_accuracy"] <= 1.0 and compound["n_pairs"] > 0


# -- the benchmark ------------------------------------------------------------------------------------
def test_compound_bench_runs_and_its_ceiling_is_consistent(tiny_world):
    from sae_gd_labeler.bench.compound_quality import (
        auto_length_on_categories,
        rival_losses,
        run_compound_quality,
        summarize_compounds,
    )
    from sae_gd_labeler.search.labeler import split_examples

    config = LabelerConfig(restarts=2, examples_per_feature=48)
    runs = run_compound_quality(tiny_world, ["red fruit", "sea animal"], [0], config, n_examples=48)
    assert [r.concept for r in runs] == ["red fruit", "sea animal"]
    for r in runs:
        assert r.ceiling_ok == (r.truth_loss < r.rival_loss) and r.best_rival != r.concept
        assert len(r.best_single_token.split()) == 1 and r.label_k2 is not None
        assert len(r.label_k2.split()) == 2 and r.recovered_k2 == (r.label_k2 == r.concept)
    summary = summarize_compounds(runs)
    assert summary["runs"] == 2 and summary["ceiling_ok_runs"] == sum(r.ceiling_ok for r in runs)
    disc = Discriminator(tiny_world.model, tiny_world.template)
    data = split_examples("red fruit", tiny_world.examples_for("red fruit", n=48, seed=0), config)
    losses = rival_losses(disc, data, "red fruit", [], config)
    n_candidates = sum(len(label.split()) == 1 for label in losses)
    assert "red fruit" in losses and "green fruit" in losses and "red food" in losses
    assert len(losses) == 3 * n_candidates - 1  # one-token labels, and swaps at either position (the name twice)
    single = auto_length_on_categories(tiny_world, ["fruit"], [0], config, n_examples=48)
    assert single["runs"] == 1 and single["kept_one_token"] in (0, 1)


def test_bench_quality_cli_on_a_world_directory(tiny_world, tmp_path, capsys):
    from sae_gd_labeler.cli import main

    out = tmp_path / "q.json"
    assert main(["bench-quality", "--world", str(tiny_world.path), "--seeds", "1", "--no-sae",
                 "--categories", "red fruit,fruit", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["category"] for r in result["runs"]] == ["fruit"]
    assert [r["concept"] for r in result["compounds"]["runs"]] == ["red fruit"]
    assert result["compounds"]["summary"]["auto_on_one_word_categories"]["runs"] == 1
    assert "compound concepts" in capsys.readouterr().out
