"""The weak status: a label is kept but marked not to be believed exactly when the rule in scoring.weak says."""

import json
import math

import pytest
import torch

from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.scoring.weak import apply_weak_rule, label_weak_reason, weak_reason
from sae_gd_labeler.search.labeler import split_examples
from sae_gd_labeler.search.result import STATUSES, Candidate, FeatureLabel
from sae_gd_labeler.toyworld import load_toy_world

CFG = LabelerConfig(weak_threshold=0.7, weak_auroc_margin=0.05)  # not the defaults, to see each rule act
GOOD = {"balanced_accuracy": 0.9, "auroc": 0.95}


@pytest.mark.parametrize("metrics, weak", [
    (GOOD, False),
    ({"balanced_accuracy": 0.69, "auroc": 0.99}, True),  # rule 1
    ({"balanced_accuracy": 0.7, "auroc": 0.8}, False),  # at the threshold: not below it
    ({"balanced_accuracy": math.nan, "auroc": 0.9}, True),  # undefined: no evidence
    ({}, True),
    ({"balanced_accuracy": 0.9, "auroc": 0.55}, True),  # rule 2: not above 0.5 + 0.05
    ({"balanced_accuracy": 0.9, "auroc": 0.56}, False),
    ({"balanced_accuracy": 0.9, "auroc": math.nan}, True),
])
def test_rule(metrics, weak):
    assert (weak_reason(metrics, CFG) is not None) == weak


def test_defaults():
    """The measured defaults (see scoring.weak): 0.75 and a margin of 0.1 above chance."""
    cfg = LabelerConfig()
    assert (cfg.weak_threshold, cfg.weak_auroc_margin) == (0.75, 0.1)
    assert weak_reason({"balanced_accuracy": 0.75, "auroc": 0.61}, cfg) is None
    assert "balanced accuracy 0.719" in weak_reason({"balanced_accuracy": 0.71875, "auroc": 0.9}, cfg)
    assert "AUROC 0.600" in weak_reason({"balanced_accuracy": 0.8, "auroc": 0.6}, cfg)


def test_status_values_and_properties():
    assert "weak" in STATUSES
    for status, ok, labeled in (("ok", True, True), ("weak", False, True), ("dead", False, False)):
        lab = FeatureLabel(0, None if status == "dead" else "x", status=status)
        assert (lab.ok, lab.labeled) == (ok, labeled)
    dead = FeatureLabel.without_label(3, "too_rare")
    assert apply_weak_rule(dead, CFG).status == "too_rare" and label_weak_reason(dead, CFG) is None
    lab = FeatureLabel(1, "x", metrics=dict(GOOD))
    assert apply_weak_rule(lab, CFG.replace(weak_threshold=0.95)).status == "weak"
    assert apply_weak_rule(lab, CFG).status == "ok"  # and back
    for bad in ({"weak_threshold": 1.5}, {"weak_auroc_margin": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LabelerConfig(**bad)


def test_new_fields_round_trip_and_old_dicts_load():
    lab = FeatureLabel(5, "dog", (7,), [Candidate("dog", (7,), 0.25)],
                       {"balanced_accuracy": 0.6, "precision": math.nan}, status="weak",
                       baselines={"most_frequent_token": {"label": "u", "metrics": {"auroc": math.nan, "f1": 0.5}},
                                  "output_projection": {"label": "cat", "top_tokens": ["cat", "dog"],
                                                        "metrics": {"auroc": 0.7}}},
                       search_history={"method": "discrete", "n_eval_examples": 32,
                                       "restarts": [{"tokens": ["a", "dog"], "losses": [0.9, math.nan]}]})
    data = json.loads(json.dumps(lab.to_dict(), allow_nan=False))  # strict JSON: no NaN anywhere
    back = FeatureLabel.from_dict(data)
    assert back.baselines["most_frequent_token"]["metrics"]["f1"] == 0.5
    assert math.isnan(back.baselines["most_frequent_token"]["metrics"]["auroc"])
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
    examples = {c: world.examples_for(c, n=64, seed=2) for c in ("animal", "colour", "palindrome")}
    return disc, examples


@pytest.mark.parametrize("threshold, margin", [(0.75, 0.1), (0.0, 0.45), (0.97, 0.0)])
def test_label_examples_marks_weak_exactly_when_the_rule_says(toy, threshold, margin):
    """Independent: the held-out metrics recomputed with plain forward passes, the rule written out here."""
    disc, examples = toy
    config = LabelerConfig(restarts=2, discrete_max_iters=4, weak_threshold=threshold, weak_auroc_margin=margin)
    labels = label_examples(examples, disc, config)
    for c, lab in labels.items():
        heldout = split_examples(c, examples[c], config).heldout
        score = disc.yes_no_logit(heldout, lab.label, use_cache=False)
        metrics = classification_metrics(score, torch.tensor([ex.activation > 0 for ex in heldout]))
        weak = metrics["balanced_accuracy"] < threshold or not metrics["auroc"] > 0.5 + margin
        assert lab.status == ("weak" if weak else "ok"), (c, metrics)
        assert lab.baselines is None  # label_features adds them, label_examples does not
    if threshold == 0.75:  # the defaults' intent on the toy world
        assert labels["animal"].status == "ok" and labels["colour"].status == "ok"
        assert labels["palindrome"].status == "weak"


def test_the_answer_readout_gets_the_rule_too():
    from sae_gd_labeler import Example
    from tests.builders import WORDS, tiny_model
    from tests.test_answer_readout import EXTRA, TEMPLATE

    disc = Discriminator(tiny_model("gpt2", WORDS + EXTRA), TEMPLATE)
    words = [w for w in WORDS if w.isalpha()]
    examples = [Example(w, w, 1.0 if w in {"cat", "dog", "bird", "fish", "red", "blue"} else 0.0) for w in words] * 2
    for threshold, margin in ((0.0, 0.0), (1.0, 0.0), (0.0, 0.49)):
        config = LabelerConfig(examples_per_feature=120, heldout_fraction=0.3, weak_threshold=threshold,
                               weak_auroc_margin=margin)
        lab = label_examples({"f": examples}, disc, config)["f"]
        m = lab.metrics  # the same metrics are reproduced independently in test_scoring_text
        weak = m["balanced_accuracy"] < threshold or not m["auroc"] > 0.5 + margin
        assert lab.status == ("weak" if weak else "ok") and lab.calibration is not None
