"""When a label should not be believed: the "weak" status.

A label (status "ok") becomes "weak" (kept, with its metrics, but not to be believed) when either holds:

1. its held-out balanced accuracy is below `LabelerConfig.weak_threshold`, or undefined (e.g. no held-out
   example of one class): the discriminator's answers about it do not predict where the feature fires;
2. its held-out AUROC is not above max(0.5, the uninformative label's held-out AUROC) by more than
   `LabelerConfig.weak_auroc_margin`: it ranks the examples no better than chance (0.5, a constant label)
   or than a label that names nothing. The uninformative label is the uniform mixture of every candidate
   token (p = 1/C over the candidate vocabulary, entered as a soft label), scored with the same readout on
   the same held-out examples (the label-as-answer readout calibrates it on the training examples as it
   does any label); what it separates is the discriminator's own bias about the examples (e.g. saying
   "yes" to every noun whatever the label). Its metrics are kept in
   `FeatureLabel.baselines["uninformative"]`; without them (a label built by hand) the floor is 0.5.

The defaults were chosen on the shipped toy world (`python -m sae_gd_labeler.scoring.weak_bench`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sae_gd_labeler.config import LabelerConfig
from sae_gd_labeler.result import FeatureLabel

UNINFORMATIVE = "uninformative"  # its key in FeatureLabel.baselines
UNINFORMATIVE_LABEL = "(uniform mixture of all candidate tokens)"  # what stands in its "label" field


def weak_reason(metrics: Mapping[str, float], config: LabelerConfig,
                uninformative: Mapping[str, float] | None = None) -> str | None:
    """Why a label with these held-out metrics is weak (one short sentence), or None if it is not.
    uninformative: the uninformative label's held-out metrics on the same examples, when known."""
    balanced = metrics.get("balanced_accuracy", math.nan)
    if not balanced >= config.weak_threshold:  # NaN too: no evidence is no reason to believe
        shown = "undefined" if math.isnan(balanced) else f"{balanced:.3f}"
        return f"held-out balanced accuracy {shown} is below weak_threshold {config.weak_threshold}"
    auroc = metrics.get("auroc", math.nan)
    floor, against = 0.5, "chance (0.5)"
    baseline = math.nan if uninformative is None else uninformative.get("auroc", math.nan)
    if baseline > floor:  # NaN (undefined) is not
        floor, against = baseline, f"the uninformative label's {baseline:.3f}"
    if not auroc > floor + config.weak_auroc_margin:
        return (f"held-out AUROC {auroc:.3f} is not above {against} by more than weak_auroc_margin "
                f"{config.weak_auroc_margin}")
    return None


def label_weak_reason(label: FeatureLabel, config: LabelerConfig) -> str | None:
    """weak_reason for a FeatureLabel (None for one without a label)."""
    if not label.labeled:
        return None
    uninformative = (label.baselines or {}).get(UNINFORMATIVE)
    return weak_reason(label.metrics, config, None if uninformative is None else uninformative.get("metrics"))


def apply_weak_rule(label: FeatureLabel, config: LabelerConfig) -> FeatureLabel:
    """Set a labeled FeatureLabel's status to "weak" or "ok" by the rule (in place; returned for chaining).
    Labels without a label (dead, too rare, ...) keep their status."""
    if label.labeled:
        label.status = "weak" if label_weak_reason(label, config) is not None else "ok"
    return label
