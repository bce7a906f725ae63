"""Steering measured on the toy world (reduced: one category, one seed; the full run is
`python -m sae_gd_labeler.steering.bench`)."""

import pytest
import torch
import torch.nn.functional as F

from sae_gd_labeler.steering import steer
from sae_gd_labeler.steering.measure import (
    category_feature,
    category_rate,
    coherence_loss,
    output_feature,
    sample,
    token_words,
    top_records,
)
from sae_gd_labeler.toyworld import load_toy_world

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def world():
    return load_toy_world()


def test_rate_and_coherence_against_hand_computation(world):
    m = world.model
    tokens = sample(m, n=4, seed=1, max_new_tokens=10)  # [4, 11]
    assert tokens.shape == (4, 11) and (tokens[:, 0] == m.tokenizer.bos_token_id).all()
    members = world.taxonomy["animal"]
    words = token_words(m, tokens[:, 1:].flatten())
    assert category_rate(m, tokens, members) == sum(w in set(members) for w in words) / 40
    logits = m(tokens)  # [4, 11, V]
    expect = F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()).item()
    assert coherence_loss(m, tokens) == pytest.approx(expect, rel=1e-5)
    torch.testing.assert_close(sample(m, n=4, seed=1, max_new_tokens=10), tokens)  # seeded


def test_amplifying_raises_and_suppressing_lowers_a_category(world):
    m, sae = world.model, world.saes[HOOK]
    members = world.taxonomy["body"]
    reads, purity = category_feature(m, top_records(m, sae, world.corpus), members)
    writes, gain = output_feature(m, sae, members)
    assert purity >= 0.9 and gain > 0

    def measure(features):
        with steer(m, features):
            tokens = sample(m, n=128, seed=0)
        return category_rate(m, tokens, members), coherence_loss(m, tokens)

    base, base_loss = measure([])
    up, up_loss = measure([(sae, writes, 4.0)])
    down, _ = measure([(sae, writes, -4.0)])
    read_up, _ = measure([(sae, reads, 4.0)])
    assert up > 2.0 * base and down < 0.6 * base and read_up > 1.3 * base
    assert up_loss > base_loss  # steering costs coherence
