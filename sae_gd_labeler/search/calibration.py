"""Per-label calibration: the affine map from a readout's raw score to the logit of "the feature fires".

A likelihood score (how much a label raises a log-probability) has no natural zero, so every (feature,
label) pair gets its own scale and bias, fitted by class-balanced logistic regression on the training
examples. The fit is vectorised over many labels at once (Newton's method on two parameters), so every
candidate label can be calibrated and ranked exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

RIDGE = 0.01  # L2 on the standardised slope: keeps a perfectly separating label's fit finite
NEWTON_STEPS = 25
TOLERANCE = 1e-5  # on the standardised parameters


@dataclass
class Calibration:
    scale: Tensor  # [C] logit = scale * score + bias
    bias: Tensor  # [C]
    loss: Tensor  # [C] class-balanced binary cross-entropy at the fit (+ the ridge term), in nats


def fit_calibration(scores: Tensor, target: Tensor, ridge: float = RIDGE, steps: int = NEWTON_STEPS) -> Calibration:
    """Fit logit = scale * score + bias for every column of scores [N, C] against target [N] in [0, 1].

    Rows are weighted so that positives (target > 0) and negatives carry half the weight each, as in the
    labeler's balanced loss. Scores are standardised per column first; the ridge acts on that slope.
    """
    scores, target = scores.float(), target.float().to(scores.device)
    positive = target > 0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"calibration needs positive and negative examples, got {n_pos} and {n_neg}")
    weight = balanced_weights(target)  # [N, 1], sums to 1
    mean = (weight * scores).sum(0)  # [C]
    std = ((weight * (scores - mean) ** 2).sum(0)).sqrt().clamp_min(1e-6)  # [C]
    z = (scores - mean) / std  # [N, C]
    y = target[:, None]
    w = torch.zeros_like(mean)  # [C] slope on z
    b = torch.zeros_like(mean)  # [C]
    for _ in range(steps):
        p = torch.sigmoid(w * z + b)  # [N, C]
        r = weight * (p - y)  # [N, C] gradient of the weighted BCE w.r.t. the logit
        h = weight * p * (1 - p)  # [N, C] its curvature
        g_w, g_b = (r * z).sum(0) + ridge * w, r.sum(0)
        h_ww, h_wb, h_bb = (h * z * z).sum(0) + ridge, (h * z).sum(0), h.sum(0) + 1e-9
        det = (h_ww * h_bb - h_wb * h_wb).clamp_min(1e-12)
        step_w, step_b = (h_bb * g_w - h_wb * g_b) / det, (h_ww * g_b - h_wb * g_w) / det
        w, b = w - step_w, b - step_b
        if max(step_w.abs().max(), step_b.abs().max()) < TOLERANCE:  # Newton converges in a few steps
            break
    logit = w * z + b
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, y.expand_as(logit), reduction="none")
    loss = (weight * bce).sum(0) + 0.5 * ridge * w * w
    return Calibration(scale=w / std, bias=b - w * mean / std, loss=loss)


def balanced_weights(target: Tensor) -> Tensor:
    """Row weights [N, 1] for target [N]: positives (target > 0) and negatives carry half the weight each."""
    positive = target > 0
    return torch.where(positive, 0.5 / positive.sum(), 0.5 / (~positive).sum())[:, None]
