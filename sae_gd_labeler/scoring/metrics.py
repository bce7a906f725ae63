"""Held-out quality of a hard label: how well its yes / no answers predict the feature."""

from __future__ import annotations

import math

from torch import Tensor


def classification_metrics(score: Tensor, positive: Tensor) -> dict[str, float]:
    """Metrics of predictions score > 0 against boolean truth; AUROC ranks the scores.

    score [N] float (logit(yes) - logit(no)), positive [N] bool. Undefined values are NaN.
    """
    score, positive = score.detach().float().cpu(), positive.bool().cpu()
    predicted = score > 0
    tp = (predicted & positive).sum().item()
    fp = (predicted & ~positive).sum().item()
    fn = (~predicted & positive).sum().item()
    tn = (~predicted & ~positive).sum().item()
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "balanced_accuracy": 0.5 * (recall + specificity),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auroc": auroc(score, positive),
    }


def auroc(score: Tensor, positive: Tensor) -> float:
    """P(score of a random positive > score of a random negative), ties counting one half."""
    pos, neg = score[positive], score[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    greater = (pos[:, None] > neg[None, :]).float().mean()
    ties = (pos[:, None] == neg[None, :]).float().mean()
    return float(greater + 0.5 * ties)


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan
