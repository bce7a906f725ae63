"""K-token labels with the label-as-answer readout: exhaustive first token, then a beam that grows the label.

With an `AnswerTemplate` a label's score on an example is the log-probability of its tokens after the
example minus that after the neutral filler, the tokens' log-probs added up. One forward after an example
(and after a label's first j tokens) gives the next token's log-probs for every candidate at once, so:

1. every one-token label is scored exactly (as `answer_search` does for K = 1); the `answer_beam` best,
   by exact loss, are kept;
2. each kept label of j tokens is extended by every candidate token: one forward per (example, kept label)
   scores all of its extensions exactly (a fresh calibration and exact loss each); the `answer_beam` best
   of all extensions are kept; repeat until the labels have K tokens.

Every K-token label that is reported was scored exactly; the beam only decides which prefixes are grown (a
label whose first tokens are poor labels on their own can be missed). Naturalness is the mean over the
label's tokens of -log q(token | example, the label's earlier tokens) on the positive examples: the same
per-token weight at every K, and for K = 1 the one-token readout's term.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch

from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import round_trips, token_text
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.search.answer_search import N_REPORTED_CANDIDATES, label_score, target_of
from sae_gd_labeler.search.calibration import fit_calibration
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureData
from sae_gd_labeler.search.result import Candidate, FeatureLabel


@torch.no_grad()
def label_batch_by_answer_beam(disc: Discriminator, features: Sequence[FeatureData], candidate_ids: torch.Tensor,
                               config: LabelerConfig) -> dict[Hashable, FeatureLabel]:
    """Label each feature with a `config.label_tokens`-token label (K >= 2) by the beam described above."""
    candidate_ids = candidate_ids.to(disc.device)
    results = {}
    for data in features:
        ranked, calibrations = _beam(disc, data, candidate_ids, config)  # [(loss, ids)], best first
        readable = [item for item in ranked if round_trips(disc, item[1])]
        ranked = readable + [item for item in ranked if item not in readable]
        loss, best = ranked[0]
        scale, bias = calibrations[best]
        metrics = {}
        if data.heldout:
            held = label_score(disc, data.heldout, best)  # [h], teacher forcing as for a text label
            truth = torch.tensor([ex.activation > config.activation_threshold for ex in data.heldout])
            metrics = classification_metrics(scale * held + bias, truth)
        n_pos = sum(ex.activation > config.activation_threshold for ex in data.train)
        results[data.feature] = FeatureLabel(
            feature=data.feature,
            label=token_text(disc, best),
            token_ids=best,
            candidates=[Candidate(token_text(disc, ids), ids, loss) for loss, ids in ranked[:N_REPORTED_CANDIDATES]],
            metrics=metrics,
            n_positive=n_pos,
            n_negative=len(data.train) - n_pos,
            calibration={"scale": scale, "bias": bias},
            search_history={"method": "beam", "n_candidates": len(candidate_ids), "beam": config.answer_beam,
                            "label_tokens": config.label_tokens, "label_round_trips": bool(readable)},
        )
    return results


def answer_objective(total: torch.Tensor, total_neutral: torch.Tensor, target: torch.Tensor, positive: torch.Tensor,
                     n_tokens: int, kl_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The label-as-answer objective of C labels of n_tokens tokens from their summed log-probs: total [n, C] after
    each training example, total_neutral [C] after the filler, target [n], positive [n] -> (loss, scale, bias),
    [C] each: the calibration's fit of the score (total minus neutral) plus kl_weight times the naturalness, the
    mean over the label's tokens of -log p on the positive examples."""
    fit = fit_calibration(total - total_neutral[None], target.to(total.device))
    naturalness = -(total[positive.to(total.device)].mean(0) / n_tokens)  # [C]
    return fit.loss + kl_weight * naturalness, fit.scale, fit.bias


def exact_answer_loss(disc: Discriminator, data: FeatureData, label_ids: Sequence[int],
                      config: LabelerConfig) -> float:
    """The label-as-answer objective of any label (token ids) on all training rows, as the labeler computes it
    for its own (answer_search for K = 1, the beam for K >= 2), by teacher forcing its tokens."""
    ids = [int(t) for t in label_ids]
    total = disc.text_log_prob(data.train, ids).float()[:, None]  # [n, 1] the tokens' log-probs summed
    neutral = disc.text_log_prob([], ids, neutral=True).float()  # [1]
    positive = torch.tensor([ex.activation > config.activation_threshold for ex in data.train])
    loss, _, _ = answer_objective(total, neutral, target_of(data, config), positive, len(ids), config.kl_weight)
    return float(loss[0])


def _beam(disc: Discriminator, data: FeatureData, candidate_ids: torch.Tensor, config: LabelerConfig):
    """The final beam of one feature: [(exact loss, token ids)] best first, and each one's calibration
    {token ids: (scale, bias)}."""
    n_cand, width = len(candidate_ids), config.answer_beam
    target = target_of(data, config)  # [n]
    positive = torch.tensor([ex.activation > config.activation_threshold for ex in data.train])
    # the kept labels: their token ids, summed log-probs after each example [B, n] and after the filler [B]
    kept: list[tuple[int, ...]] = [()]
    log_p = torch.zeros(1, len(data.train), device=disc.device)
    log_neutral = torch.zeros(1, device=disc.device)
    for length in range(1, config.label_tokens + 1):
        after = disc.label_slot_log_probs_after(  # [n * B, C]: next token after example i and kept label b
            [ex for ex in data.train for _ in kept], [list(k) for _ in data.train for k in kept], candidate_ids,
            config.max_rows_per_forward)
        after = after.view(len(data.train), len(kept), n_cand).transpose(0, 1)  # [B, n, C]
        after_neutral = disc.label_slot_log_probs_after([], [list(k) for k in kept], candidate_ids,
                                                        neutral=True)  # [B, C]
        total = log_p[:, :, None] + after  # [B, n, C] summed log-probs of every extension
        total_neutral = log_neutral[:, None] + after_neutral  # [B, C]
        # one fit per kept label (its C extensions together): temporaries stay the size of the K = 1 readout's
        fits = [answer_objective(t, t_neutral, target, positive, length, config.kl_weight)
                for t, t_neutral in zip(total, total_neutral)]
        loss, scale, bias = (torch.cat([fit[i] for fit in fits]) for i in range(3))  # [B * C] each
        loss = loss.cpu()
        order = torch.argsort(loss, stable=True)  # ties keep the lower (kept label, candidate) index
        keep = order[:width] if length < config.label_tokens else order
        ids = candidate_ids.tolist()
        labels = [kept[int(i) // n_cand] + (ids[int(i) % n_cand],) for i in keep]
        if length == config.label_tokens:
            scale, bias = scale.cpu(), bias.cpu()
            keep = keep[:max(width, N_REPORTED_CANDIDATES)]
            labels = labels[:len(keep)]
            ranked = [(float(loss[i]), label) for i, label in zip(keep.tolist(), labels)]
            return ranked, {label: (float(scale[i]), float(bias[i])) for i, label in zip(keep.tolist(), labels)}
        rows = keep // n_cand  # [B'] the kept label each new one extends
        columns = (keep % n_cand).to(total.device)
        log_p = total[rows.to(total.device), :, columns]  # [B', n]
        log_neutral = total_neutral[rows.to(total.device), columns]  # [B']
        kept = labels
    raise AssertionError("unreachable: the loop returns at the last length")

