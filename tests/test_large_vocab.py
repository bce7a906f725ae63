"""The large-vocabulary stress test, reduced: the toy world's discriminator with a few thousand distractor
tokens. The full test (50,000 distractors, every category, two seeds) is `sae-gd-labeler bench-quality
--distractors 50000`."""

import pytest
import torch

from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
from sae_gd_labeler.bench.large_vocab import run_large_vocab, summarize, with_distractors
from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.search.discrete_search import guide, standardized
from sae_gd_labeler.search.feature_batch import FeatureBatch
from sae_gd_labeler.search.labeler import split_examples
from sae_gd_labeler.toyworld import load_toy_world

# with 5,000 distractors the search as it was (gradient-only proposals) missed reptile (seeds 0, 1) and
# fruit (seed 1): every start and proposal was a distractor
CATEGORIES = ["fruit", "reptile", "fish", "day", "drink"]


@pytest.fixture(scope="module")
def world():
    return load_toy_world()


@pytest.fixture(scope="module")
def big(world):
    return with_distractors(world, 5000)


def test_distractors_are_label_candidates_and_change_no_real_answer(world, big):
    small = Discriminator(world.model, world.template)
    n_real = world.model.cfg.d_vocab
    assert big.d_vocab == n_real + 5000
    assert len(candidate_token_ids(big, "words")) == len(candidate_token_ids(small, "words")) + 5000
    # English words: what a large tokenizer's default vocabulary ("dictionary") keeps, too
    assert set(range(n_real, n_real + 5000)) <= set(candidate_token_ids(big, "dictionary").tolist())
    assert big.tokenizer.convert_ids_to_tokens(list(range(n_real))) == \
        small.tokenizer.convert_ids_to_tokens(list(range(n_real)))
    examples = world.examples_for("fruit", n=8, seed=0)
    torch.testing.assert_close(big.yes_no_logit(examples, "fruit"), small.yes_no_logit(examples, "fruit"))
    # drawn like the real words: the same typical norms
    norms = big.W_E.detach().norm(dim=-1)
    real, extra = norms[:n_real].mean(), norms[n_real:].mean()
    assert float(extra / real) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_default_config_recovers_category_names_among_distractors(world, big, seed):
    features = {c: world.examples_for(c, n=96, seed=seed) for c in CATEGORIES}
    labels = label_examples(features, big, LabelerConfig(seed=seed))
    assert {c: labels[c].label for c in CATEGORIES} == {c: c for c in CATEGORIES}


def test_guide_ranks_the_name_above_the_chance_highs_of_each_signal(world, big):
    """The two signals of the guide, each alone, rank "fruit" below many distractors; their sum does not."""
    config = LabelerConfig()
    candidates = candidate_token_ids(big, "words")
    data = split_examples("fruit", world.examples_for("fruit", n=96, seed=0), config)
    with big.frozen():
        batch = FeatureBatch(big, [data], candidates, config)
        score = guide(batch)[0]  # [C]
    name = int((candidates == big.label_ids("fruit")[0]).nonzero())
    rank = lambda s: int((s > s[name]).sum())
    assert rank(score) < 4
    assert rank(batch.prior_contrast[0]) > rank(score)


def test_standardized_rows_have_mean_zero_and_unit_spread():
    x = torch.randn(3, 50) * torch.tensor([[1.0], [10.0], [0.1]]) + 5
    z = standardized(x)
    torch.testing.assert_close(z.mean(-1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(-1, correction=0), torch.ones(3), atol=1e-5, rtol=0)
    assert standardized(torch.tensor([[2.0]])).item() == 0.0  # one candidate: no spread, no NaN


def test_run_reports_the_ceiling_and_both_losses(world, big):
    runs = run_large_vocab(world, big, ["colour"], [0], n_examples=32)
    (run,) = runs
    assert run.ceiling_ok and run.recovered and run.label == "colour"
    assert run.label_loss == pytest.approx(run.name_loss, abs=1e-5)
    assert summarize(runs)["recovered_where_ceiling_ok"] == 1
