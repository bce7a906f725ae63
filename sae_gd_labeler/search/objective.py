"""The loss terms: how well the answers predict the feature, how sharp and how natural the label is.

Per label: prediction loss + entropy_weight * H(p) + kl_weight * KL(p || q). All in nats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def prediction_loss(answer: Tensor, target: Tensor) -> Tensor:
    """Per-example loss of the discriminator's answer against the target in [0, 1].

    answer: logit(yes) - logit(no) [...] (the two-way readout; BCE on sigmoid of it), or the log-probs
    of yes and no over the full vocabulary [..., 2] (the seed paper's readout: cross-entropy of the
    right answer token in the full softmax, which for soft targets mixes both answers).
    """
    if answer.shape == target.shape:
        return F.binary_cross_entropy_with_logits(answer, target, reduction="none")
    log_yes, log_no = answer.unbind(-1)
    return -(target * log_yes + (1 - target) * log_no)


def entropy(p: Tensor) -> Tensor:
    """H(p) = -sum p log p over the last dim (0 log 0 = 0)."""
    return -torch.special.xlogy(p, p).sum(-1)


def kl_to_prior(p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p || q) = sum p (log p - log q) over the last dim; q is the discriminator's own guess."""
    return torch.special.xlogy(p, p).sum(-1) - (p * log_q).sum(-1)


def entropy_weight_at(step: int, weight: float, warmup_steps: int) -> float:
    """Linear warm-up of the entropy weight: p may stay spread out early, then is pushed to one token."""
    if warmup_steps <= 0:
        return weight
    return weight * min(1.0, step / warmup_steps)


def targets_from_activations(activations: Tensor, threshold: float, soft: bool) -> Tensor:
    """0/1 targets (activation above threshold), or activation / max activation clipped to [0, 1]."""
    positive = (activations > threshold).to(torch.float32)
    if not soft:
        return positive
    top = activations.max().clamp_min(1e-12)
    return (activations / top).clamp(0, 1) * positive
