"""The shipped toy world: structure, ground-truth features, SAEs, discriminator, and the training code."""

import json
import random
import subprocess
import sys
import time
from collections import Counter

import pytest
import torch

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.toyworld import ToyWorld, load_toy_world
from sae_gd_labeler.toyworld import compounds as cx
from sae_gd_labeler.toyworld import taxonomy as tx
from sae_gd_labeler.toyworld.accuracy import label_sweep_margins
from sae_gd_labeler.toyworld.corpus import SentenceGenerator, _sites_by_word, generate_corpus, literal_words
from sae_gd_labeler.toyworld.discriminator import yes_no_margin
from sae_gd_labeler.toyworld.packing import packed_windows
from sae_gd_labeler.toyworld.questions import UNTAUGHT, QuestionSampler, is_member
from sae_gd_labeler.toyworld.sae_training import hook_names
from sae_gd_labeler.toyworld.world import DATA_DIR


@pytest.fixture(scope="module")
def world() -> ToyWorld:
    torch.set_num_threads(2)
    return load_toy_world()


# -- the shipped files ------------------------------------------------------------------------------
def test_loads_offline_quickly():
    t0 = time.perf_counter()
    w = load_toy_world()
    assert time.perf_counter() - t0 < 30
    assert not w.model.training and w.model.cfg.device in ("cpu", torch.device("cpu"))
    assert w.model.tokenizer is not None


def test_shipped_size_and_report(world):
    size = sum(f.stat().st_size for f in DATA_DIR.rglob("*") if f.is_file())
    assert size < 20 * 2**20
    report = json.loads((DATA_DIR / "training_report.json").read_text())
    assert report["preset"] == "full"
    assert report["discriminator_accuracy"]["balanced_accuracy"] >= 0.98
    assert report["discriminator_training"]["seconds"] < 15 * 60
    for key in ("seed", "corpus_seed", "eval_seed"):
        assert isinstance(report[key], int)


def test_unknown_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="toyworld.train"):
        load_toy_world(tmp_path)


# -- taxonomy ---------------------------------------------------------------------------------------
def test_categories_two_levels_and_enough_words(world):
    assert len(world.categories) >= 20
    assert set(world.parents.values()) >= {"animal", "food", "number", "place"}
    assert {"mammal", "bird", "fish", "insect"} <= {c for c, p in world.parents.items() if p == "animal"}
    assert {"fruit", "vegetable"} <= {c for c, p in world.parents.items() if p == "food"}
    assert len(world.words) >= 500
    assert set(world.categories) <= set(world.words)  # category names are labels too
    assert not set(world.function_words) & set(world.words)


def test_every_label_word_is_one_token(world):
    tok = world.model.tokenizer
    unk = tok.unk_token_id
    for word in world.words:
        ids = tok(" " + word, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] != unk, word
        assert tok.decode(ids).strip() == word


def test_taxonomy_is_transitive(world):
    for child, parent in world.parents.items():
        assert set(world.taxonomy[child]) <= set(world.taxonomy[parent]), child
    assert world.is_member("dog", "mammal") and world.is_member("dog", "animal") and world.is_member("dog", "dog")
    assert not world.is_member("dog", "bird") and not world.is_member("dog", "food")
    leaves = [c for c in world.categories if c not in set(world.parents.values())]
    counts = Counter(w for c in leaves for w in world.taxonomy[c])
    assert max(counts.values()) == 1  # a word sits in one leaf only


def test_special_categories(world):
    number = set(world.taxonomy["number"])
    assert {str(d) for d in range(10)} <= number and {"one", "two", "ten"} <= number
    assert all("\u4e00" <= ch <= "\u9fff" for w in world.taxonomy["chinese"] for ch in w)
    pal = world.taxonomy["palindrome"]
    assert len(pal) >= 10 and all(w == w[::-1] for w in pal)
    others = {w for c, ws in world.taxonomy.items() if c != "palindrome" for w in ws}
    assert not set(pal) & others
    assert world.untaught == ["palindrome"]


def test_shipped_taxonomy_matches_the_code(world):
    """The shipped world is built with --compounds: its taxonomy is the categories' plus the named compounds'."""
    assert world.taxonomy == {**tx.taxonomy(), **cx.compound_taxonomy()}
    assert set(world.compounds) == set(cx.compound_taxonomy()) and world.categories == list(tx.categories())
    assert world.words == tx.label_words(compounds=True)


# -- corpus and questions ---------------------------------------------------------------------------
def test_corpus_is_seeded_and_in_vocabulary(world):
    assert generate_corpus(50, seed=3) == generate_corpus(50, seed=3)
    assert generate_corpus(50, seed=3) != generate_corpus(50, seed=4)
    vocab = set(world.model.tokenizer.get_vocab())
    assert literal_words() <= vocab
    assert all(w in vocab for s in world.corpus for w in s.split())
    assert len(world.corpus) >= 1000 and len(set(world.corpus)) > 500


def test_every_label_word_can_be_placed_in_a_sentence():
    sites = _sites_by_word()
    assert all(w in sites for w in tx.label_words())
    gen = SentenceGenerator(0)
    for w in random.Random(0).sample(tx.label_words(), 60):
        words, pos = gen.sentence_with(w)
        assert words[pos] == w


def test_mammals_dominate_animals_in_ordinary_sentences(world):
    counts = Counter(w for s in world.corpus for w in s.split())
    animal = sum(counts[w] for w in world.taxonomy["animal"])
    mammal = sum(counts[w] for w in world.taxonomy["mammal"])
    assert mammal > 0.75 * animal


def test_questions_never_teach_palindrome_and_are_balanced():
    sampler = QuestionSampler(seed=5)
    qs = [sampler.sample() for _ in range(3000)]
    assert all(q.label != UNTAUGHT for q in qs)
    assert 0.45 < sum(q.answer for q in qs) / len(qs) < 0.55
    assert all(q.answer == is_member(q.token, q.label) for q in qs)
    assert all(q.context.split()[-1] == q.token for q in qs)


def test_packing_matches_sae_lens_windows(world):
    windows = list(packed_windows(world.encoder, world.corpus[:40], 16))
    bos = world.model.tokenizer.bos_token_id
    assert all(w.shape == (16,) and w[0] == bos for w in windows)
    stream = [t for t in torch.cat(windows).tolist() if t != bos]  # BOS leads windows and separates texts
    expected = [t for s in world.corpus[:40] for t in world.encoder.ids(s)]
    assert stream == expected[: len(stream)] and len(stream) > len(expected) - 16
    inside = torch.cat([w[1:] for w in windows])
    assert (inside == bos).sum() >= 40 - len(windows) - 1  # separators between texts within windows


# -- ground-truth features ----------------------------------------------------------------------------
@pytest.mark.parametrize("negatives", ["balanced", "natural"])
def test_examples_for_balance_truth_and_contexts(world, negatives):
    ex = world.examples_for("mammal", n=64, seed=0, negatives=negatives)
    assert len(ex) == 64 and all(isinstance(e, Example) for e in ex)
    assert sum(e.activation == 1.0 for e in ex) == 32 and sum(e.activation == 0.0 for e in ex) == 32
    for e in ex:
        assert e.context.split()[-1] == e.token
        assert (e.activation == 1.0) == (e.token in world.taxonomy["mammal"])


def test_balanced_negatives_hold_near_misses(world):
    ex = world.examples_for("mammal", n=64, seed=0)
    neg = [e.token for e in ex if e.activation == 0]
    near = sum(w in world.taxonomy["animal"] for w in neg)
    assert near >= 12  # birds, fish, insects, reptiles
    assert len(set(neg)) > 20


def test_natural_negatives_are_mostly_ordinary_tokens(world):
    ex = world.examples_for("mammal", n=200, seed=0, negatives="natural")
    neg = [e.token for e in ex if e.activation == 0]
    assert sum(w in world.function_words for w in neg) > len(neg) / 3
    assert sum(w in world.taxonomy["animal"] for w in neg) < len(neg) / 10


def test_examples_for_is_seeded(world):
    for mode in ("balanced", "natural"):
        assert world.examples_for("bird", 32, seed=3, negatives=mode) == world.examples_for("bird", 32, 3, mode)
        assert world.examples_for("bird", 32, seed=3, negatives=mode) != world.examples_for("bird", 32, 4, mode)


def test_examples_for_every_category(world):
    for cat in world.categories:
        ex = world.examples_for(cat, n=8, seed=1)
        assert sum(e.activation for e in ex) == 4
    assert sum(e.activation for e in world.examples_for("reptile", n=40, negatives="natural")) == 20


def test_examples_for_errors(world):
    with pytest.raises(ValueError, match="valid categories: .*mammal"):
        world.examples_for("mammals")
    with pytest.raises(ValueError, match="negatives"):
        world.examples_for("mammal", negatives="hard")
    with pytest.raises(ValueError, match="at least 2"):
        world.examples_for("mammal", n=1)


# -- SAEs -----------------------------------------------------------------------------------------------
def test_saes_keyed_by_hook_name(world):
    assert set(world.saes) == set(hook_names(world.model.cfg.n_layers))
    for hook, sae in world.saes.items():
        assert sae.cfg.metadata.hook_name == hook
        assert sae.cfg.metadata.model_name == world.model.cfg.model_name
        assert sae.cfg.d_in == world.model.cfg.d_model and sae.cfg.d_sae >= 4 * sae.cfg.d_in


@torch.inference_mode()
def test_saes_encode_model_activations(world):
    ids = torch.stack(list(packed_windows(world.encoder, world.corpus[:30], 32))[:8])  # [8, 32]
    _, cache = world.model.run_with_cache(ids, names_filter=list(world.saes))
    for hook, sae in world.saes.items():
        x = cache[hook][:, 1:]  # [8, 31, d_model], BOS dropped
        f = sae.encode(x)  # [8, 31, d_sae]
        assert f.shape == (*x.shape[:2], sae.cfg.d_sae)
        l0 = (f > 0).float().sum(-1).mean().item()
        assert 0 < l0 < sae.cfg.d_sae / 4, hook
        fvu = (x - sae.decode(f)).pow(2).sum() / (x - x.mean((0, 1))).pow(2).sum()
        assert fvu < 0.5, hook


# -- discriminator ----------------------------------------------------------------------------------
def test_prompt_ids_equal_the_tokenizer(world):
    tok = world.model.tokenizer
    args = ("olivia fed the dog", "dog", "mammal")
    assert world.encoder.prompt(*args) == tok(world.template.render(*args))["input_ids"]
    world.template.validate(tok)


def test_discriminator_answers_membership_questions(world):
    ctx = "the dog chased a cat"
    labels = ["dog", "cat", "mammal", "animal", "bird", "food", "tiger"]
    margins = yes_no_margin(world.model, world.encoder, [(ctx, "cat", lab) for lab in labels])
    assert [m > 0 for m in margins.tolist()] == [False, True, True, True, False, False, False]
    sampler = QuestionSampler(seed=777)  # fresh contexts, hard negatives, balanced
    qs = [sampler.sample() for _ in range(400)]
    pred = yes_no_margin(world.model, world.encoder, [(q.context, q.token, q.label) for q in qs]) > 0
    truth = torch.tensor([q.answer for q in qs])
    bal = 0.5 * ((pred & truth).sum() / truth.sum() + (~pred & ~truth).sum() / (~truth).sum()).item()
    assert bal >= 0.97


def test_label_sweep_equals_whole_prompts(world):
    ctx, token = "emma wore a red hat", "hat"
    labels = ["hat", "clothing", "colour", "red", "mammal", "level"]
    sweep = label_sweep_margins(Discriminator(world.model, world.template), [(ctx, token)], labels)[0]
    whole = yes_no_margin(world.model, world.encoder, [(ctx, token, lab) for lab in labels])
    torch.testing.assert_close(sweep, whole, atol=1e-4, rtol=1e-4)


def test_discriminator_accuracy_per_label(world):
    acc = world.discriminator_accuracy(labels=["mammal", "animal", "number", "chinese"])
    assert acc["n_pairs"] == 4 * len(world.words)
    assert acc["balanced_accuracy"] >= 0.95
    untaught = world.discriminator_accuracy(labels=["palindrome"])
    assert untaught["balanced_accuracy"] < 0.8  # never taught: near chance
    with pytest.raises(ValueError, match="not label words"):
        world.discriminator_accuracy(labels=["the"])


# -- the training code --------------------------------------------------------------------------------
def _check_built_world(out):
    w = load_toy_world(out)
    assert set(w.saes) == set(hook_names(w.model.cfg.n_layers))
    assert len(w.examples_for("mammal", n=8)) == 8
    report = json.loads((out / "training_report.json").read_text())
    assert report["discriminator_training"]["history"]
    return report


def _keys_sorted(path) -> bool:
    return path.read_text() == json.dumps(json.loads(path.read_text()), sort_keys=True)


def test_tiny_retrain_end_to_end_gives_the_same_bytes_twice(tmp_path):
    """With 2 threads two builds differed until torch's deterministic algorithms were on while building. Every
    file but the training report (it holds timings) must come back byte for byte. sae_lens writes an SAE's
    cfg.json keys in an order that varies between Python processes (not within one, as here), so the build
    sorts them: checked on the files themselves, as the shipped world's are."""
    from sae_gd_labeler.toyworld.train import build_world

    report = build_world(tmp_path / "world", preset="tiny", seed=1)
    assert report["preset"] == "tiny" and report["threads"] == 2
    _check_built_world(tmp_path / "world")
    build_world(tmp_path / "again", preset="tiny", seed=1)
    files = sorted(p.relative_to(tmp_path / "world") for p in (tmp_path / "world").rglob("*") if p.is_file())
    configs = [tmp_path / "world" / f for f in files if f.name == "cfg.json"]
    assert len(configs) == 6 and all(_keys_sorted(c) for c in configs)
    assert all(_keys_sorted(c) for c in (DATA_DIR / "saes").glob("*/cfg.json"))
    for name in files:
        if name.name != "training_report.json":
            assert (tmp_path / "world" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert not torch.are_deterministic_algorithms_enabled()  # restored after building


@pytest.mark.slow
def test_reduced_retrain_cli(tmp_path):
    out = tmp_path / "world"
    subprocess.run([sys.executable, "-m", "sae_gd_labeler.toyworld.train", "--out", str(out), "--reduced"],
                   check=True, timeout=600)
    report = _check_built_world(out)
    assert report["preset"] == "reduced"
