"""label_tokens="auto": the shortest label that is not meaningfully worse, on held-out examples, than a longer one.

Each feature is labeled with K = 1, ..., `max_label_tokens` tokens, on the same training / held-out split. For
each K, the label's prediction loss (the labeler's objective less naturalness: binary cross-entropy of its
answer, calibrated for the label-as-answer readout) is computed on every held-out example. The K with the lowest
class-balanced held-out loss is the reference; the label is the shortest K whose loss exceeds the reference's by
at most one standard error of the paired, class-balanced difference (the one-standard-error rule of model
selection: a longer label must beat a shorter one by more than the noise of the held-out set), or by at most
`NEGLIGIBLE` nats (where both labels are nearly perfect the standard error is ~0, and "mammal mammal" would
win over "mammal" by 0.001 nats). A single-word
concept, which a longer label only restates ("animal" / "animal animal"), keeps its one-token label; a compound
that no single token names gets the longer label once it is clearly better on examples it was not fitted to.

The held-out examples choose K and then measure the chosen label; with a few lengths to choose from the
optimism this adds is small, but it is not zero. A feature without held-out examples of both classes keeps
K = 1 (there is nothing to decide on).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch

from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.answer_search import label_score
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureData
from sae_gd_labeler.search.objective import prediction_loss, targets_from_activations
from sae_gd_labeler.search.result import FeatureLabel

RULE = "one standard error"
NEGLIGIBLE = 0.01  # nats of held-out loss (a 1% change in the likelihood of the answers) that never matter


def choose_label_length(disc: Discriminator, data: FeatureData | None,
                        by_length: Mapping[int, FeatureLabel], config: LabelerConfig,
                        heldout_answers) -> FeatureLabel:
    """One feature's label among its labels of every length {K: FeatureLabel}, by the rule above.

    data: its split (None when it had too few examples: every length then has the same status);
    heldout_answers: `labeler.heldout_answers` (passed in: the labeler imports this module)."""
    shortest = by_length[min(by_length)]
    if data is None or not all(label.labeled for label in by_length.values()):
        return shortest
    truth = torch.tensor([ex.activation > config.activation_threshold for ex in data.heldout], dtype=torch.bool)
    if truth.all() or not truth.any():
        return shortest
    losses = {k: heldout_losses(disc, data, label, config, heldout_answers) for k, label in by_length.items()}
    mean = {k: balanced_mean(loss, truth) for k, loss in losses.items()}
    reference = min(mean, key=lambda k: (mean[k], k))
    excess, error = {}, {}
    for k in sorted(losses):
        excess[k], error[k] = paired_excess(losses[k], losses[reference], truth)
    chosen = min(k for k in losses if excess[k] <= max(error[k], NEGLIGIBLE))  # the reference always qualifies
    label = by_length[chosen]
    label.search_history = {**(label.search_history or {}), "label_length": {
        "rule": RULE, "negligible": NEGLIGIBLE, "chosen": chosen, "lengths": sorted(losses),
        "heldout_loss": [mean[k] for k in sorted(losses)],
        "excess": [excess[k] for k in sorted(losses)],
        "standard_error": [error[k] for k in sorted(losses)]}}
    return label


def heldout_losses(disc: Discriminator, data: FeatureData, label: FeatureLabel, config: LabelerConfig,
                   heldout_answers) -> torch.Tensor:
    """The label's prediction loss on each held-out example, [h] (float32, on the host)."""
    acts = torch.tensor([ex.activation for ex in data.heldout], dtype=torch.float32)
    target = targets_from_activations(acts, config.activation_threshold, config.soft_targets)
    if config.readout == "answer":  # the calibrated score is the logit of "the feature fires"
        raw = label_score(disc, data.heldout, label.token_ids).cpu()  # [h]
        logit = label.calibration["scale"] * raw + label.calibration["bias"]
        return prediction_loss(logit, target)
    tokens = torch.tensor([label.token_ids], device=disc.device)  # [1, K]
    answers = heldout_answers(disc, [data], config, tokens)[0]  # [h] (full_vocab: [h, 2])
    return prediction_loss(answers.float(), target)


def balanced_mean(values: torch.Tensor, positive: torch.Tensor) -> float:
    """Half the mean over the positive examples plus half over the negative ones (the labeler's weighting)."""
    return float(0.5 * values[positive].mean() + 0.5 * values[~positive].mean())


def paired_excess(loss: torch.Tensor, reference: torch.Tensor, positive: torch.Tensor) -> tuple[float, float]:
    """How much higher loss [h] is than reference [h] on the same examples (class-balanced mean of the
    differences), and the standard error of that mean (each class's sample variance of the differences)."""
    diff = loss - reference
    error = 0.0
    for mask in (positive, ~positive):
        d = diff[mask]
        if len(d) > 1:
            error += 0.25 * float(d.var(correction=1)) / len(d)
    return balanced_mean(diff, positive), error ** 0.5


def label_length_results(disc: Discriminator, splits: Mapping[Hashable, FeatureData | None],
                         by_length: Mapping[int, Mapping[Hashable, FeatureLabel]], config: LabelerConfig,
                         heldout_answers, features: Sequence[Hashable]) -> dict[Hashable, FeatureLabel]:
    """choose_label_length for every feature, in the input order."""
    return {f: choose_label_length(disc, splits[f], {k: labels[f] for k, labels in by_length.items()}, config,
                                   heldout_answers) for f in features}
