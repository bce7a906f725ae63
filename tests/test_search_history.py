"""FeatureLabel.search_history: each discrete restart's token and exact loss per iteration, checked against
exact losses computed again here; the soft and hybrid searches say what they did."""

import json

import pytest
import torch

from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.search.discrete_search import PATIENCE
from sae_gd_labeler.search.feature_batch import FeatureBatch
from sae_gd_labeler.search.labeler import split_examples
from sae_gd_labeler.search.result import FeatureLabel
from sae_gd_labeler.toyworld import load_toy_world

CONFIG = LabelerConfig(restarts=3, discrete_max_iters=6, seed=2)


@pytest.fixture(scope="module")
def toy():
    world = load_toy_world()
    return world, Discriminator(world.model, world.template)


@pytest.mark.parametrize("category", ["mammal", "palindrome"])
def test_discrete_history_holds_the_exact_losses_of_the_tokens_held(toy, category):
    world, disc = toy
    examples = world.examples_for(category, n=64, seed=2)
    lab = label_examples({category: examples}, disc, CONFIG)[category]
    history = lab.search_history
    assert history["method"] == "discrete" and len(history["restarts"]) == CONFIG.restarts
    # independent: the same feature's batch built again, every held token scored exactly on its eval rows
    candidates = candidate_token_ids(disc, CONFIG.candidate_vocab)
    batch = FeatureBatch(disc, [split_examples(category, examples, CONFIG)], candidates, CONFIG)
    assert history["n_eval_examples"] == len(batch.eval_rows[0])
    index = {disc.tokenizer.decode([int(t)]).strip(): i for i, t in enumerate(candidates.tolist())}
    for restart in history["restarts"]:
        tokens, losses = restart["tokens"], restart["losses"]
        assert len(tokens) == len(losses) and 1 <= len(tokens) <= CONFIG.discrete_max_iters + 1
        exact = batch.exact_loss(torch.zeros(len(tokens), dtype=torch.long), torch.tensor([index[t] for t in tokens]))
        assert losses == pytest.approx(exact.tolist(), abs=1e-5)
        for i in range(1, len(tokens)):  # a token is replaced only by a better one
            assert losses[i] <= losses[i - 1]
            assert (tokens[i] != tokens[i - 1]) == (losses[i] < losses[i - 1] - 1e-6)
        if len(tokens) < CONFIG.discrete_max_iters + 1:  # stopped early: PATIENCE iterations without a better token
            assert len(set(tokens[-PATIENCE - 1:])) == 1
    finals = {r["tokens"][-1] for r in history["restarts"]}  # the discrete search's pool: its restarts' ends
    assert finals == {c.label for c in lab.candidates} and lab.label in finals
    assert lab.steps == max(len(r["tokens"]) for r in history["restarts"]) - 1
    back = FeatureLabel.from_dict(json.loads(json.dumps(lab.to_dict(), allow_nan=False)))
    assert back.search_history == history


def test_soft_and_hybrid_say_what_they_did(toy):
    world, disc = toy
    examples = {"fruit": world.examples_for("fruit", n=64, seed=0)}
    quick = LabelerConfig(restarts=2, soft_steps=20, entropy_warmup_steps=5, discrete_max_iters=3)
    soft = label_examples(examples, disc, quick.replace(method="soft"))["fruit"]
    assert soft.search_history == {"method": "soft", "soft_steps": 20} and soft.trajectory is not None
    hybrid = label_examples(examples, disc, quick.replace(method="hybrid"))["fruit"]
    assert hybrid.search_history["method"] == "hybrid" and hybrid.search_history["soft_steps"] == 20
    assert len(hybrid.search_history["restarts"]) == 2 and hybrid.trajectory is not None
