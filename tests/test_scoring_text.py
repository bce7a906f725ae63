"""score_text_labels: any text label scored with the same discriminator on the same held-out examples; given
our own labels and the labeler's examples it reproduces FeatureLabel.metrics."""

import math

import pytest
import torch

from sae_gd_labeler import Discriminator, Example, LabelerConfig, label_examples
from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.scoring.text_score import labeler_split, score_label_sets, score_text_labels
from sae_gd_labeler.search.calibration import fit_calibration
from sae_gd_labeler.toyworld import load_toy_world
from tests.builders import WORDS, tiny_model
from tests.test_answer_readout import EXTRA, TEMPLATE

CATEGORIES = ["animal", "fruit", "palindrome"]
QUICK = LabelerConfig(restarts=2, discrete_max_iters=4)


@pytest.fixture(scope="module")
def world():
    return load_toy_world()


@pytest.fixture(scope="module")
def toy(world):
    """The toy world's discriminator, examples of three categories and our labels for them."""
    disc = Discriminator(world.model, world.template)
    examples = {c: world.examples_for(c, n=64, seed=3) for c in CATEGORIES}
    return disc, examples, label_examples(examples, disc, QUICK)


def same_metrics(got: dict, want: dict, tol: float = 1e-6) -> bool:
    assert set(got) == set(want)
    return all((math.isnan(got[k]) and math.isnan(want[k])) or abs(got[k] - want[k]) <= tol for k in want)


def test_reproduces_our_yes_no_metrics_from_token_ids_and_text(toy):
    disc, examples, labels = toy
    split = labeler_split(examples, QUICK)
    by_ids = score_text_labels(disc, split, {c: labels[c].token_ids for c in CATEGORIES}, QUICK)
    by_text = score_text_labels(disc, split, {c: labels[c].label for c in CATEGORIES}, QUICK)
    for c in CATEGORIES:
        assert same_metrics(by_ids[c], labels[c].metrics), (c, by_ids[c], labels[c].metrics)
        assert same_metrics(by_text[c], labels[c].metrics)


def test_explicit_heldout_split_is_reproduced(toy, world):
    disc, examples, _ = toy
    train = {c: ex[:48] for c, ex in examples.items()}
    heldout = {c: ex[48:] for c, ex in examples.items()}
    labels = label_examples(train, disc, QUICK, heldout=heldout)
    split = labeler_split(train, QUICK, heldout=heldout)
    assert all(split[c][1] == heldout[c] for c in CATEGORIES)
    scored = score_text_labels(disc, split, {c: labels[c].token_ids for c in CATEGORIES}, QUICK)
    for c in CATEGORIES:
        assert same_metrics(scored[c], labels[c].metrics)


def test_yes_no_metrics_match_an_independent_computation_for_a_multi_word_label(toy, world):
    disc, examples, _ = toy
    split = labeler_split(examples, QUICK)
    got = score_text_labels(disc, split, {"animal": "animal fruit", "fruit": " fruit "}, QUICK)
    for c, text in (("animal", "animal fruit"), ("fruit", "fruit")):
        heldout = split[c][1]
        score = disc.yes_no_logit(heldout, text, use_cache=False)  # the plain forward pass, no cache
        want = classification_metrics(score, torch.tensor([ex.activation > 0 for ex in heldout]))
        assert same_metrics(got[c], want, tol=1e-9)
    assert list(got) == ["animal", "fruit"]


@pytest.fixture(scope="module")
def answer_setup():
    disc = Discriminator(tiny_model("llama", WORDS + EXTRA + ("colour", "animal")), TEMPLATE)
    words = [w for w in WORDS if w.isalpha()]
    pos = {"cat", "dog", "bird", "fish", "king", "queen", "man", "woman"}
    examples = {"f": [Example(w, w, 1.0 if w in pos else 0.0) for w in words] * 2,
                "g": [Example(w, w, 1.0 if w in {"red", "blue", "green", "big"} else 0.0) for w in words] * 2}
    config = LabelerConfig(heldout_fraction=0.3, examples_per_feature=120)
    return disc, examples, config, label_examples(examples, disc, config)


def test_reproduces_our_answer_readout_metrics(answer_setup):
    disc, examples, config, labels = answer_setup
    split = labeler_split(examples, config.replace(readout="answer"))
    got = score_text_labels(disc, split, {f: lab.token_ids for f, lab in labels.items()}, config)
    text = score_text_labels(disc, split, {f: lab.label for f, lab in labels.items()}, config)
    for f, lab in labels.items():
        history = lab.search_history
        assert history["method"] == "exhaustive" and history["n_candidates"] == len(candidate_token_ids(disc, "auto"))
        assert same_metrics(got[f], lab.metrics), (got[f], lab.metrics)
        assert same_metrics(text[f], lab.metrics)


def test_answer_readout_multi_token_label_is_calibrated_on_train(answer_setup):
    """Independent: the summed log-probs of both tokens, calibrated on train by fit_calibration."""
    disc, examples, config, _ = answer_setup
    split = labeler_split(examples, config.replace(readout="answer"))
    train, heldout = split["f"]
    got = score_text_labels(disc, split, {"f": "red cat"}, config)["f"]
    ids = tuple(disc.label_ids("red cat"))
    assert len(ids) == 2 and same_metrics(score_text_labels(disc, split, {"f": ids}, config)["f"], got)
    fit = fit_calibration(disc.answer_score(train, "red cat")[:, None], torch.tensor([ex.activation for ex in train]))
    score = fit.scale[0] * disc.answer_score(heldout, "red cat") + fit.bias[0]
    assert same_metrics(got, classification_metrics(score, torch.tensor([ex.activation > 0 for ex in heldout])))


def test_label_sets_read_together_equal_each_label_alone(answer_setup):
    """Several sets at once (one-token labels from one read of each example) against text_label_metrics,
    which scores one label by its own forward passes."""
    from sae_gd_labeler.search.answer_search import text_label_metrics
    from sae_gd_labeler.search.feature_batch import FeatureData

    disc, examples, config, _ = answer_setup
    split = labeler_split(examples, config.replace(readout="answer"))
    sets = [{"f": "cat", "g": "red"}, {"f": "red cat", "g": "blue"}, {"g": (disc.label_ids("dog")[0],)}]
    got = score_label_sets(disc, split, sets, config)
    for labels, scored in zip(sets, got):
        assert list(scored) == list(labels)
        for f, label in labels.items():
            want = text_label_metrics(disc, FeatureData(f, *split[f]), label, config)
            assert same_metrics(scored[f], want, tol=1e-5), (f, label)


@pytest.mark.parametrize("labels, match", [
    ({"animal": "  "}, "empty"),
    ({"animal": (10**9,)}, "token ids"),
    ({"animal": ()}, "token ids"),
    ({"animal": (1.5,)}, "token ids"),
    ({"nothing": "dog"}, "no examples"),
])
def test_bad_labels_are_refused_before_any_work(toy, labels, match):
    disc, examples, _ = toy
    with pytest.raises(ValueError, match=match):
        score_text_labels(disc, labeler_split(examples, QUICK), labels, QUICK)
