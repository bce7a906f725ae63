"""label_examples: input checks, reproducibility, batch invariance (random discriminator); recovery of
known labels on the shipped toy world's trained discriminator is in test_labeler_recovery.py."""

import random

import pytest
import torch

from sae_gd_labeler import Example, LabelerConfig, PromptTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.labeler import label_examples
from tests.builders import WORDS, tiny_model

TEMPLATE = PromptTemplate("{context} . is {token} a {label} ? answer :", " yes", " no")
EXTRA = ("is", "a", "?", "answer", ":", "yes", "no", ".")
FAST = LabelerConfig(restarts=2, discrete_max_iters=3, soft_steps=6, entropy_warmup_steps=2, batch_examples=4,
                     eval_examples=8, examples_per_feature=24)


@pytest.fixture(scope="module")
def disc():
    return Discriminator(tiny_model("llama", WORDS + EXTRA), TEMPLATE)


def feature(members, seed=0, n=16):
    rng = random.Random(seed)
    words = [w for w in WORDS if w not in ("is", "a")]
    out = []
    for i in range(n):
        word = rng.choice(members) if i % 2 == 0 else rng.choice([w for w in words if w not in members])
        context = " ".join(rng.choices(words, k=rng.randint(1, 6)) + [word])
        out.append(Example(context, word, 1.0 if word in members else 0.0))
    return out


FEATURES = {"animals": feature(["cat", "dog", "bird", "fish"], 0), "colours": feature(["red", "blue", "green"], 1),
            7: feature(["one", "two", "three"], 2)}


def check_same_seed_same_labels_and_batching_changes_nothing(features, disc, cfg) -> tuple[dict, dict]:
    """Labels twice with cfg, and each feature alone: the same labels, candidates and losses. -> (together, alone)"""
    together = label_examples(features, disc, cfg)
    again = label_examples(features, disc, cfg)
    alone = {k: label_examples({k: v}, disc, cfg)[k] for k, v in features.items()}
    assert list(together) == list(features)
    for k in features:
        assert together[k].labeled
        assert together[k].label == again[k].label == alone[k].label
        assert [c.label for c in together[k].candidates] == [c.label for c in alone[k].candidates]
        for a, b in zip(together[k].candidates, alone[k].candidates):
            assert a.loss == pytest.approx(b.loss, abs=1e-4)
    return together, alone


@pytest.mark.parametrize("method", ["discrete", "soft", "hybrid"])
def test_same_seed_same_labels_and_batching_changes_nothing(disc, method):
    check_same_seed_same_labels_and_batching_changes_nothing(FEATURES, disc, FAST.replace(method=method,
                                                                                          feature_batch_size=3))


def test_result_fields(disc):
    res = label_examples({"animals": FEATURES["animals"]}, disc, FAST.replace(method="hybrid"))["animals"]
    assert res.token_ids and disc.tokenizer.decode(list(res.token_ids)).strip() == res.label
    losses = [c.loss for c in res.candidates]
    assert losses == sorted(losses) and res.candidates[0].label == res.label
    assert set(res.metrics) == {"balanced_accuracy", "precision", "recall", "f1", "auroc"}
    assert res.n_positive + res.n_negative == 12  # 16 examples, a quarter of each class held out
    assert res.steps >= FAST.soft_steps
    assert res.trajectory is not None and len(res.trajectory["_steps"]) > 1


def test_candidates_respect_the_vocabulary(disc):
    cfg = FAST.replace(candidate_vocab=["tree", "house", "road"])
    res = label_examples({"animals": FEATURES["animals"]}, disc, cfg)["animals"]
    assert res.label in {"tree", "house", "road"}
    assert {c.label for c in res.candidates} <= {"tree", "house", "road"}


@pytest.mark.parametrize("examples, match", [
    ([], "empty"),
    ([Example("the cat", "cat", 1.0), Example("the dog", "dog", 2.0)], "all 2 examples are positive"),
    ([Example("the cat", "cat", 0.0), Example("the dog", "dog", 0.0)], "all 2 examples are negative"),
    ([Example("the cat", "cat", float("nan")), Example("the dog", "dog", 0.0)], "finite"),
    ([Example("the cat", "cat", float("inf")), Example("the dog", "dog", 0.0)], "finite"),
    (["the cat"], "expected an Example"),
])
def test_bad_examples_raise_before_any_work(disc, examples, match):
    good = FEATURES["animals"]
    with pytest.raises(ValueError, match=match):
        label_examples({"good": good, "bad": examples}, disc, FAST)


def test_bad_vocabularies(disc):
    with pytest.raises(ValueError, match="single-token"):
        label_examples({"a": FEATURES["animals"]}, disc, FAST.replace(candidate_vocab=["big cat"]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        label_examples({"a": FEATURES["animals"]}, disc, FAST.replace(candidate_vocab=[10**6]))
    no_words = Discriminator(tiny_model("gpt2", ("?", ":", ".", ",", "+", "-")),
                             PromptTemplate("{context} {token} {label} ? :", " +", " -"))
    with pytest.raises(ValueError, match="candidate vocabulary .* is empty"):
        label_examples({"a": [Example("?", "?", 1.0), Example(",", ",", 0.0)]}, no_words, FAST)


def test_too_few_examples_is_a_status_not_an_error(disc):
    few = [Example("the cat", "cat", 1.0), Example("the dog", "dog", 1.0), Example("the car", "car", 0.0)]
    res = label_examples({"few": few, "animals": FEATURES["animals"]}, disc, FAST)
    assert res["few"].status == "too_few_examples" and res["few"].label is None
    assert res["animals"].labeled


def test_labeling_leaves_the_model_as_it_was(disc):
    before = {k: v.clone() for k, v in disc.model.state_dict().items()}
    label_examples({"a": FEATURES["animals"]}, disc, FAST)
    assert all(torch.equal(before[k], v) for k, v in disc.model.state_dict().items())
    assert all(p.requires_grad for p in disc.model.parameters())
    assert all(p.grad is None for p in disc.model.parameters())


def test_device_and_dtype_must_match_the_model(disc):
    with pytest.raises(ValueError, match="dtype='bfloat16'"):
        label_examples({"a": FEATURES["animals"]}, disc, FAST.replace(dtype="bfloat16"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda'"):
            label_examples({"a": FEATURES["animals"]}, disc, FAST.replace(device="cuda"))
    assert label_examples({"a": FEATURES["animals"]}, disc, FAST.replace(device="cpu", dtype="float32"))["a"].labeled
