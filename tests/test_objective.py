"""Each loss term against its formula on hand-computed numbers."""

import math

import pytest
import torch

from sae_gd_labeler.search.objective import (
    entropy,
    entropy_weight_at,
    kl_to_prior,
    prediction_loss,
    targets_from_activations,
)


def test_bce_on_logit_difference():
    # sigmoid(2) = 0.8808; target 1 -> -log 0.8808 = 0.12693; target 0 -> -log(1 - 0.8808) = 2.12693
    loss = prediction_loss(torch.tensor([2.0, 2.0]), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(loss, torch.tensor([0.126928, 2.126928]), atol=1e-5, rtol=0)


def test_full_vocab_cross_entropy_picks_the_right_answer():
    log_yes_no = torch.log(torch.tensor([[0.6, 0.1], [0.6, 0.1]]))  # the rest of the vocab has 0.3
    loss = prediction_loss(log_yes_no, torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(loss, torch.tensor([-math.log(0.6), -math.log(0.1)]))


def test_entropy_in_nats():
    p = torch.tensor([[0.5, 0.25, 0.25, 0.0], [1.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(entropy(p), torch.tensor([1.5 * math.log(2), 0.0]))


def test_kl_to_prior():
    p = torch.tensor([0.5, 0.5, 0.0])
    q = torch.tensor([0.25, 0.25, 0.5])
    # 0.5 log(0.5/0.25) * 2 = log 2
    torch.testing.assert_close(kl_to_prior(p, q.log()), torch.tensor(math.log(2)))
    # one-hot: KL = -log q(t)
    torch.testing.assert_close(kl_to_prior(torch.tensor([0.0, 0.0, 1.0]), q.log()), torch.tensor(-math.log(0.5)))


def test_entropy_warmup_is_linear():
    assert entropy_weight_at(0, 0.2, 50) == 0.0
    assert entropy_weight_at(25, 0.2, 50) == pytest.approx(0.1)
    assert entropy_weight_at(500, 0.2, 50) == pytest.approx(0.2)
    assert entropy_weight_at(3, 0.2, 0) == 0.2


def test_targets():
    acts = torch.tensor([0.0, 1.0, 4.0, -1.0])
    torch.testing.assert_close(targets_from_activations(acts, 0.0, soft=False), torch.tensor([0.0, 1.0, 1.0, 0.0]))
    torch.testing.assert_close(targets_from_activations(acts, 0.0, soft=True), torch.tensor([0.0, 0.25, 1.0, 0.0]))
