"""Labels with the label-as-answer readout: every one-token candidate is scored exactly, all at once.

With an `AnswerTemplate` the label is what the discriminator is asked to produce after the example, so one
forward per example gives the score of every candidate token (its log-probability at the label slot,
minus that after a neutral filler). No search is needed: each candidate gets its own calibration (scale
and bias, see calibration) and its exact loss, and the lowest is the label. The loss is the same as the
other readouts' (class-balanced cross-entropy of the predicted firing, + kl_weight * naturalness), with
naturalness = -mean log q(label) over the positive examples: how readily the discriminator itself says the
label after the examples it should describe. A feature's own most frequent firing tokens challenge the label
on fit alone (see own_tokens).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import token_text
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.search.calibration import fit_calibration
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureData
from sae_gd_labeler.search.objective import targets_from_activations
from sae_gd_labeler.search.own_tokens import own_token_ids
from sae_gd_labeler.search.result import Candidate, FeatureLabel

N_REPORTED_CANDIDATES = 10


@torch.no_grad()
def answer_losses(data: FeatureData, log_p: torch.Tensor, neutral: torch.Tensor, config: LabelerConfig):
    """Exact losses of every candidate for one feature. log_p [n, C] at its training examples' label slots,
    neutral [C] after the neutral filler. -> (loss [C], Calibration); the calibration's own loss is the fit
    alone."""
    positive = torch.tensor([ex.activation > config.activation_threshold for ex in data.train], device=log_p.device)
    calibration = fit_calibration(log_p - neutral, target_of(data, config))  # [C]
    naturalness = -log_p[positive].mean(0)  # [C]
    return calibration.loss + config.kl_weight * naturalness, calibration


@torch.no_grad()
def label_batch_by_answer(disc: Discriminator, features: Sequence[FeatureData], candidate_ids: torch.Tensor,
                          config: LabelerConfig) -> dict[Hashable, FeatureLabel]:
    max_rows = config.max_rows_per_forward
    candidate_ids = candidate_ids.to(disc.device)
    n_vocab = len(candidate_ids)
    positives = {data.feature: [ex for ex in data.train if ex.activation > config.activation_threshold]
                 for data in features}
    own = {f: own_token_ids(disc, examples, config.own_token_candidates) for f, examples in positives.items()}
    # own tokens outside the candidate vocabulary become extra columns, read in the same forwards
    extra = sorted({t for ids in own.values() for t in ids} - set(candidate_ids.tolist()))
    candidate_ids = torch.cat([candidate_ids, torch.tensor(extra, dtype=candidate_ids.dtype, device=disc.device)])
    column = {t: i for i, t in enumerate(candidate_ids.tolist())}
    neutral = disc.label_slot_log_probs([], candidate_ids, neutral=True)[0]  # [C]
    train = disc.label_slot_log_probs([ex for f in features for ex in f.train], candidate_ids, max_rows)  # [N, C]
    heldout_examples = [ex for f in features for ex in f.heldout]
    heldout = disc.label_slot_log_probs(heldout_examples, candidate_ids, max_rows) if heldout_examples else None
    results, start, held_start = {}, 0, 0
    for data in features:
        log_p = train[start:start + len(data.train)]  # [n, C]
        start += len(data.train)
        loss, calibration = answer_losses(data, log_p, neutral, config)  # [C]
        # the vocabulary's ranking; the extra columns (own tokens) are judged below
        ranked = [(i, float(loss[i])) for i in loss[:n_vocab].argsort()[:N_REPORTED_CANDIDATES].tolist()]
        fit = calibration.loss  # [C]
        challenger = min((column[t] for t in own[data.feature]), key=lambda i: float(fit[i]), default=None)
        own_label = challenger is not None and bool(fit[challenger] < fit[ranked[0][0]])
        if own_label:  # an own token fits better than the vocabulary's label: it is the label, at its fit
            ranked = [(challenger, float(fit[challenger]))] + [r for r in ranked if r[0] != challenger]
            ranked = ranked[:N_REPORTED_CANDIDATES]
        order = [i for i, _ in ranked]
        best = order[0]
        ids = [int(candidate_ids[i]) for i in order]
        scale, bias = float(calibration.scale[best]), float(calibration.bias[best])
        metrics = {}
        if data.heldout:
            held = heldout[held_start:held_start + len(data.heldout), best] - neutral[best]  # [h]
            held_start += len(data.heldout)
            truth = torch.tensor([ex.activation > config.activation_threshold for ex in data.heldout])
            metrics = classification_metrics(scale * held + bias, truth)
        n_pos = len(positives[data.feature])
        results[data.feature] = FeatureLabel(
            feature=data.feature,
            label=token_text(disc, [ids[0]]),
            token_ids=(ids[0],),
            candidates=[Candidate(token_text(disc, [t]), (t,), value) for t, (_, value) in zip(ids, ranked)],
            metrics=metrics,
            n_positive=n_pos,
            n_negative=len(data.train) - n_pos,
            calibration={"scale": scale, "bias": bias},
            search_history={"method": "exhaustive", "n_candidates": n_vocab,
                            "own_tokens": [token_text(disc, [t]) for t in own[data.feature]],
                            "own_token_label": own_label},
        )
    return results


def target_of(data: FeatureData, config: LabelerConfig) -> torch.Tensor:
    """The calibration target of a feature's training examples, [n]."""
    acts = torch.tensor([ex.activation for ex in data.train], dtype=torch.float32)
    return targets_from_activations(acts, config.activation_threshold, config.soft_targets)


@torch.no_grad()
def text_label_metrics(disc: Discriminator, data: FeatureData, label: str | Sequence[int],
                       config: LabelerConfig) -> dict[str, float]:
    """Held-out metrics of any text label (one or more tokens; or exactly these token ids) under the
    label-as-answer readout, calibrated on the training examples exactly as the labeler calibrates its own
    labels."""
    score = label_score(disc, data.train + data.heldout, label)  # [n + h], one read of both
    return calibrated_metrics(score[:len(data.train)], score[len(data.train):], data, config)


@torch.no_grad()
def one_token_label_metrics(disc: Discriminator, features: Sequence[FeatureData],
                            label_ids: Sequence[Sequence[int]], config: LabelerConfig) -> list[list[dict[str, float]]]:
    """text_label_metrics of one-token labels, several per feature (label_ids[i]: the token ids of feature i's
    labels), from one forward per example for all of them, as the labeler reads its candidates."""
    ids = torch.tensor(sorted({t for row in label_ids for t in row}), device=disc.device)  # [U]
    column = {t: i for i, t in enumerate(ids.tolist())}
    neutral = disc.label_slot_log_probs([], ids, neutral=True)[0]  # [U]
    examples = [ex for data in features for ex in data.train + data.heldout]
    scores = disc.label_slot_log_probs(examples, ids, config.max_rows_per_forward) - neutral  # [N, U]
    out, start = [], 0
    for data, row in zip(features, label_ids):
        n, h = len(data.train), len(data.heldout)
        block = scores[start:start + n + h]  # [n + h, U]
        start += n + h
        out.append([calibrated_metrics(block[:n, column[t]], block[n:, column[t]], data, config) for t in row])
    return out


def calibrated_metrics(train_score: torch.Tensor, held_score: torch.Tensor, data: FeatureData,
                       config: LabelerConfig) -> dict[str, float]:
    """Held-out metrics of a label from its raw scores on the training [n] and held-out [h] examples: the
    score is calibrated on the training examples (scale and bias, see calibration) as the labeler does."""
    calibration = fit_calibration(train_score[:, None], target_of(data, config))
    truth = torch.tensor([ex.activation > config.activation_threshold for ex in data.heldout])
    return classification_metrics(calibration.scale[0] * held_score + calibration.bias[0], truth)


def label_score(disc: Discriminator, examples: Sequence[Example], label: str | Sequence[int]) -> torch.Tensor:
    """disc.answer_score for a text label, or for a label given as discriminator token ids, [n]."""
    if isinstance(label, str):
        return disc.answer_score(examples, label)
    ids = [int(t) for t in label]
    if len(ids) == 1:  # a one-hot label is the hard one-token label exactly
        one_hot = torch.zeros(disc.d_vocab, device=disc.device)
        one_hot[ids[0]] = 1.0
        return disc.answer_score(examples, one_hot)
    # several tokens: their log-probs add up, after the example and after the neutral filler
    return disc.text_log_prob(examples, ids) - disc.text_log_prob([], ids, neutral=True)
