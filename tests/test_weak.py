"""The weak status: a label is kept but marked not to be believed exactly when the rule in scoring.weak says."""

import json
import math

import pytest
import torch

from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
from sae_gd_labeler.feature_batch import float32_rows
from sae_gd_labeler.labeler import split_examples
from sae_gd_labeler.metrics import classification_metrics
from sae_gd_labeler.result import STATUSES, Candidate, FeatureLabel
from sae_gd_labeler.scoring.weak import apply_weak_rule, label_weak_reason, weak_reason
from sae_gd_labeler.toyworld import load_toy_world
from sae_gd_labeler.vocab import candidate_token_ids

CFG = LabelerConfig(weak_threshold=0.7, weak_auroc_margin=0.05)
GOOD = {"balanced_accuracy": 0.9, "auroc": 0.95}


@pytest.mark.parametrize("metrics, uninformative, weak", [
    (GOOD, None, False),
    ({"balanced_accuracy": 0.69, "auroc": 0.99}, None, True),  # rule 1
    ({"balanced_accuracy": 0.7, "auroc": 0.8}, None, False),  # at the threshold: not below it
    ({"balanced_accuracy": math.nan, "auroc": 0.9}, None, True),  # undefined: no evidence
    ({}, None, True),
    (GOOD, {"auroc": 0.91}, True),  # rule 2: 0.95 is not above 0.91 + 0.05
    (GOOD, {"auroc": 0.89}, False),
    (GOOD, {"auroc": math.nan}, False),  # an undefined baseline says nothing
    ({"balanced_accuracy": 0.9, "auroc": math.nan}, {"auroc": 0.5}, True),
    ({"balanced_accuracy": 0.9, "auroc": 0.54}, {"auroc": 0.2}, True),  # the floor is chance at least
    ({"balanced_accuracy": 0.9, "auroc": 0.54}, None, True),
    ({"balanced_accuracy": 0.9, "auroc": 0.56}, {"auroc": 0.2}, False),
])
def test_rule(metrics, uninformative, weak):
    assert (weak_reason(metrics, CFG, uninformative) is not None) == weak


def test_status_values_and_properties():
    assert "weak" in STATUSES
    for status, ok, labeled in (("ok", True, True), ("weak", False, True), ("dead", False, False)):
        lab = FeatureLabel(0, None if status == "dead" else "x", status=status)
        assert (lab.ok, lab.labeled) == (ok, labeled)
    dead = FeatureLabel.without_label(3, "too_rare")
    assert apply_weak_rule(dead, CFG).status == "too_rare" and label_weak_reason(dead, CFG) is None
    lab = FeatureLabel(1, "x", metrics=dict(GOOD),
                       baselines={"uninformative": {"label": "u", "metrics": {"auroc": 0.93}}})
    assert apply_weak_rule(lab, CFG).status == "weak"
    assert apply_weak_rule(lab, CFG.replace(weak_auroc_margin=0.0)).status == "ok"  # and back
    for bad in ({"weak_threshold": 1.5}, {"weak_auroc_margin": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LabelerConfig(**bad)


def test_new_fields_round_trip_and_old_dicts_load():
    lab = FeatureLabel(5, "dog", (7,), [Candidate("dog", (7,), 0.25)],
                       {"balanced_accuracy": 0.6, "precision": math.nan}, status="weak",
                       baselines={"uninformative": {"label": "u", "metrics": {"auroc": math.nan, "f1": 0.5}},
                                  "output_projection": {"label": "cat", "top_tokens": ["cat", "dog"],
                                                        "metrics": {"auroc": 0.7}}},
                       search_history={"method": "discrete", "n_eval_examples": 32,
                                       "restarts": [{"tokens": ["a", "dog"], "losses": [0.9, math.nan]}]})
    data = json.loads(json.dumps(lab.to_dict(), allow_nan=False))  # strict JSON: no NaN anywhere
    back = FeatureLabel.from_dict(data)
    assert back.baselines["uninformative"]["metrics"]["f1"] == 0.5
    assert math.isnan(back.baselines["uninformative"]["metrics"]["auroc"])
    assert back.baselines["output_projection"]["top_tokens"] == ["cat", "dog"]
    assert back.search_history["restarts"][0]["tokens"] == ["a", "dog"]
    assert back.search_history["restarts"][0]["losses"][0] == 0.9
    assert math.isnan(back.search_history["restarts"][0]["losses"][1])
    assert back.status == "weak" and not back.ok and back.labeled
    old = {k: v for k, v in data.items() if k not in ("baselines", "search_history")}
    old["status"] = "ok"
    loaded = FeatureLabel.from_dict(old)
    assert loaded.baselines is None and loaded.search_history is None and loaded.label == "dog"


@pytest.fixture(scope="module")
def toy():
    world = load_toy_world()
    disc = Discriminator(world.model, world.template)
    examples = {c: world.examples_for(c, n=64, seed=1) for c in ("animal", "colour", "palindrome")}
    return disc, examples


def independent_uninformative(disc, heldout, config):
    """The uniform mixture of the candidate tokens as a soft label, in one plain forward pass."""
    cand = candidate_token_ids(disc, config.candidate_vocab)
    probs = torch.zeros(disc.d_vocab)
    probs[cand] = 1.0 / len(cand)
    score = disc.yes_no_logit(heldout, probs, use_cache=False)
    return classification_metrics(score, torch.tensor([ex.activation > 0 for ex in heldout]))


@pytest.mark.parametrize("threshold, margin", [(0.7, 0.05), (0.0, 0.3), (0.97, 0.0)])
def test_label_examples_marks_weak_exactly_when_the_rule_says(toy, threshold, margin):
    disc, examples = toy
    config = LabelerConfig(restarts=2, discrete_max_iters=4, weak_threshold=threshold, weak_auroc_margin=margin)
    labels = label_examples(examples, disc, config)
    for c, lab in labels.items():
        heldout = split_examples(c, examples[c], config).heldout
        score = disc.yes_no_logit(heldout, lab.label, use_cache=False)
        metrics = classification_metrics(score, torch.tensor([ex.activation > 0 for ex in heldout]))
        uninformative = independent_uninformative(disc, heldout, config)
        assert uninformative["auroc"] == pytest.approx(lab.baselines["uninformative"]["metrics"]["auroc"], abs=1e-6)
        floor = max(0.5, uninformative["auroc"])
        weak = metrics["balanced_accuracy"] < threshold or not metrics["auroc"] > floor + margin
        assert lab.status == ("weak" if weak else "ok"), (c, metrics, uninformative)


def test_uninformative_label_of_the_answer_readout_is_the_uniform_soft_label():
    """Independent: disc.answer_score of the uniform mixture, calibrated on train with fit_calibration."""
    from sae_gd_labeler import Example
    from sae_gd_labeler.calibration import fit_calibration
    from tests.builders import WORDS, tiny_model
    from tests.test_answer_readout import EXTRA, TEMPLATE

    disc = Discriminator(tiny_model("gpt2", WORDS + EXTRA), TEMPLATE)
    words = [w for w in WORDS if w.isalpha()]
    examples = [Example(w, w, 1.0 if w in {"cat", "dog", "bird", "fish", "red", "blue"} else 0.0) for w in words] * 2
    config = LabelerConfig(examples_per_feature=120, heldout_fraction=0.3)
    lab = label_examples({"f": examples}, disc, config)["f"]
    data = split_examples("f", examples, config.replace(readout="answer"))
    cand = candidate_token_ids(disc, config.candidate_vocab)
    probs = torch.zeros(disc.d_vocab)
    probs[cand] = 1.0 / len(cand)
    target = torch.tensor([ex.activation for ex in data.train])
    fit = fit_calibration(disc.answer_score(data.train, probs)[:, None], target)
    held = fit.scale[0] * disc.answer_score(data.heldout, probs) + fit.bias[0]
    want = classification_metrics(held, torch.tensor([ex.activation > 0 for ex in data.heldout]))
    got = lab.baselines["uninformative"]["metrics"]
    assert got["auroc"] == pytest.approx(want["auroc"], abs=1e-6)
    assert got["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"], abs=1e-6)
    assert lab.status == ("ok" if label_weak_reason(lab, config) is None else "weak")
    assert float32_rows  # the yes / no readout's mixture is float32 rows too (see labeler.heldout_metrics)
