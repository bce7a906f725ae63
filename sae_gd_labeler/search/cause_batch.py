"""The label-as-cause readout under the labeler's searches: a FeatureBatch whose scores are cause scores.

With a `CauseTemplate` the label comes before the example ("Category: {label}\\nWord: {token}"), so no
forward scores every candidate at once (as label-as-answer does) and the soft / discrete / hybrid searches
are used as they are: `CauseBatch` gives them the interface of `FeatureBatch`, scoring with the
discriminator's `CauseScorer` (`disc.cause`) instead of cached example prefixes.

Loss. A cause score (log P(word | label) - log P(word | neutral label)) has no natural zero, so as for
label-as-answer each (feature, label) pair gets its own calibration (scale, bias; `calibration.fit_calibration`
on the rows it is scored on), and the prediction loss is that fit's class-balanced cross-entropy. The
differentiable `step_loss` is the same loss on the minibatch, with the calibration fitted there and held
fixed: at the fitted optimum the loss's gradient in the scores is exactly that of the loss with the
calibration re-fitted (the envelope theorem), so the gradient is the one of the loss the search ranks by.
The scale may not be negative: a label is a cause of the feature when it raises the feature's words, and
with any sign allowed, tokens that merely lower the positives' words fitted best (on SmolLM2, "Dover" for
the mammal feature, scale -1.9, on the 32 evaluation examples). A label whose best fit has a negative scale
gets the best fit with scale 0: the uninformative loss, and no gradient.

Naturalness. The other readouts read q, the discriminator's own guess at the label slot, after the example;
here the slot comes before any example, so the only guess is the one after the template's head, the same
for every feature. That guess is a poor prior: it favours the shots' own categories (copying) and generic
words. On SmolLM2-135M with the few-shot head and kl_weight 0.05, "month" (a shot) beat "mammal" for the
WordNet mammal feature although "mammal" predicts it best (prediction loss 0.47 against 0.68). So q is
uniform over the candidates: KL(p || q) = log C - H(p), a constant for every hard label (the ranking is the
prediction loss's) and, in the soft search, a small pull against the entropy term. The candidate vocabulary
("dictionary" words) is what keeps labels natural. For the same reason there is no prior contrast (q after
positives against q after negatives): it is zero, and the discrete search is guided by the gradient alone.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.search.calibration import RIDGE, Calibration, balanced_weights, fit_calibration
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import (
    FeatureBatch,
    FeatureData,
    feature_seed,
    float32_rows,
    label_rows,
)
from sae_gd_labeler.search.memory_budget import (
    PREFIX_SAMPLE,
    candidate_bytes,
    forward_bytes,
    logit_bytes,
    resident_with_grad,
    weight_copy_bytes,
)


class CauseBatch(FeatureBatch):
    """The training data of several features for the label-as-cause readout (one-token labels).

    Rows are indices into `examples` (every feature's training examples, one feature after another), as in
    FeatureBatch; minibatches, evaluation / screening / probe rows and naturalness are FeatureBatch's own.
    """

    def __init__(self, discriminator: Discriminator, features: Sequence[FeatureData], candidate_ids: Tensor,
                 config: LabelerConfig):
        # FeatureBatch.__init__ is not called: it caches example prefixes, which this readout has none of
        if discriminator.readout != "cause":
            raise ValueError(f"CauseBatch needs a discriminator with a CauseTemplate, got a "
                             f"{type(discriminator.template).__name__}")
        check_one_token(config)
        self.disc, self.config, self.features = discriminator, config, list(features)
        self.scorer = discriminator.cause
        device = discriminator.device
        self.candidate_ids = candidate_ids.to(device)  # [C] token ids a label may use
        self.W_cand = float32_rows(discriminator.W_E.detach(), self.candidate_ids)  # [C, d_model]
        self.full_vocab = False
        self.generators = [torch.Generator().manual_seed(feature_seed(config.seed, f.feature)) for f in features]
        self.examples = [ex for f in self.features for ex in f.train]  # row r is examples[r]

        self._index_rows(config, device)
        # [F, C] q uniform over the candidates: no label is preferred before the evidence (see the module's doc)
        n_cand = len(self.candidate_ids)
        self.log_q = torch.full((len(self.features), n_cand), -math.log(n_cand), device=device)
        self.prior_contrast = torch.zeros_like(self.log_q)  # [F, C] q never sees an example: no contrast
        self._choose_rows(config)

    # -- scoring ------------------------------------------------------------------------------------
    def step_loss(self, feature_of_label: Tensor, label_embeds: Tensor, rows: Tensor) -> Tensor:
        """Calibrated loss of each soft (or one-hot) label on its feature's minibatch (differentiable).

        feature_of_label [L], label_embeds [L, d_model] or [L, 1, d_model], rows [F, B] -> [L].
        """
        if label_embeds.dim() == 2:
            label_embeds = label_embeds[:, None]  # [L, 1, d_model]
        if label_embeds.shape[1] != 1:
            check_one_token(self.config.replace(label_tokens=label_embeds.shape[1]))
        feature = feature_of_label.cpu()
        rows = rows.cpu()[feature]  # [L, B]: the scorer lays its forward rows out on the host
        n_labels, b = rows.shape
        scores = self.scorer.pair_scores(self.examples, torch.arange(n_labels).repeat_interleave(b), rows.reshape(-1),
                                         label_embeds=label_embeds,
                                         max_rows=self.config.max_rows_per_forward).view(n_labels, b)  # [L, B]
        target = self.targets_host[rows]  # [L, B]
        losses = scores.new_zeros(n_labels)
        for f in feature.unique().tolist():  # a feature's labels share its minibatch, hence one target
            labels = (feature == f).nonzero().squeeze(1)  # [L_f]
            losses = losses.index_put((labels.to(losses.device),),
                                      calibrated_loss(scores[labels].T, target[labels[0]]))
        return losses

    @torch.no_grad()
    def hard_answers(self, feature_of_label: Tensor, token: Tensor, rowset: str = "eval") -> list[tuple]:
        """Raw cause scores of hard labels (candidate indices `token` [Q] or [Q, 1]) on each feature's fixed rows
        of `rowset` (see FeatureBatch.hard_answers): per query, in order, (rows, scores). A label proposed
        for several features is one label to the scorer, which shares its forward rows between them."""
        rowsets = self._rowsets(rowset)
        feature = feature_of_label.cpu()
        labels, label_of = label_rows(token).cpu().unique(dim=0, return_inverse=True)  # [U, 1], [Q]
        rows = [rowsets[f] for f in feature.tolist()]  # per query [n_q]
        sizes = [len(r) for r in rows]
        pair_label = label_of.repeat_interleave(torch.tensor(sizes))  # [P]
        label_tokens = self.candidate_ids[labels.to(self.candidate_ids.device)]  # [U, 1]
        scores = self.scorer.pair_scores(self.examples, pair_label, torch.cat(rows), label_tokens=label_tokens,
                                         max_rows=self.config.max_rows_per_forward).cpu()  # [P]
        return list(zip(rows, scores.split(sizes)))

    def balanced_loss(self, feature_of_label: Tensor, token: Tensor, answers: list[tuple]) -> Tensor:
        """Exact loss from per-query (rows, raw scores): each label calibrated on its own rows (its fit's
        class-balanced cross-entropy, see calibration) + kl_weight * naturalness. -> [Q]"""
        loss = torch.empty(len(answers))
        groups: dict[tuple[int, ...], list[int]] = {}  # queries scored on the same rows are fitted together
        for q, (rows, _) in enumerate(answers):
            groups.setdefault(tuple(rows.tolist()), []).append(q)
        for rows, queries in groups.items():
            scores = torch.stack([answers[q][1] for q in queries], dim=1)  # [n, Q_g]
            target = self.targets_host[list(rows)]
            loss[queries] = nonnegative_fit(scores, target).loss.cpu()
        return loss + self.config.kl_weight * self.naturalness(feature_of_label, token)

    @torch.no_grad()
    def heldout_metrics(self, best: Tensor) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        """Each feature's label (candidate indices best [F] or [F, 1]) calibrated on all its training examples
        and scored on its held-out ones: (metrics, {"scale", "bias"}) per feature."""
        token_ids = self.candidate_ids[label_rows(best)[:, :1].to(self.candidate_ids.device)]  # [F, 1]
        heldout = [ex for data in self.features for ex in data.heldout]
        held_rows, start = [], len(self.examples)  # held-out examples follow the training ones
        for data in self.features:
            held_rows.append(torch.arange(start, start + len(data.heldout)))
            start += len(data.heldout)
        rows = [torch.cat([train, held]) for train, held in zip(self.train_rows, held_rows)]
        sizes = [len(r) for r in rows]
        scores = self.scorer.pair_scores(self.examples + heldout, torch.arange(len(rows)).repeat_interleave(
            torch.tensor(sizes)), torch.cat(rows), label_tokens=token_ids,
            max_rows=self.config.max_rows_per_forward).cpu().split(sizes)
        metrics, calibrations = [], []
        for data, train, score in zip(self.features, self.train_rows, scores):
            fit = nonnegative_fit(score[:len(train), None], self.targets_host[train])
            scale, bias = float(fit.scale[0]), float(fit.bias[0])
            calibrations.append({"scale": scale, "bias": bias})
            truth = torch.tensor([ex.activation > self.config.activation_threshold for ex in data.heldout])
            metrics.append(classification_metrics(scale * score[len(train):] + bias, truth) if data.heldout else {})
        return metrics, calibrations


def nonnegative_fit(scores: Tensor, target: Tensor) -> Calibration:
    """fit_calibration of every column of scores [n, C], with a negative scale replaced by the best fit of scale
    0 (see the module's doc)."""
    fit = fit_calibration(scores, target)
    flat = fit_calibration(torch.zeros_like(scores[:, :1]), target)  # scale 0: only the bias is fitted
    negative = fit.scale <= 0
    return Calibration(scale=torch.where(negative, 0.0, fit.scale), bias=torch.where(negative, flat.bias, fit.bias),
                       loss=torch.where(negative, flat.loss, fit.loss))


def calibrated_loss(scores: Tensor, target: Tensor) -> Tensor:
    """The loss of nonnegative_fit of every column of scores [n, C] against target [n], differentiable in
    scores: the fit (scale, bias) is held fixed, which at the optimum gives the re-fitted loss's gradient. -> [C]"""
    with torch.no_grad():
        fit = nonnegative_fit(scores.detach(), target)
    target = target.float().to(scores.device)
    weight = balanced_weights(target)  # [n, 1], as in fit_calibration
    logit = fit.scale * scores + fit.bias  # [n, C]
    bce = F.binary_cross_entropy_with_logits(logit, target[:, None].expand_as(logit), reduction="none")
    variance = (weight * (scores - (weight * scores).sum(0)) ** 2).sum(0)  # [C]
    # the ridge acts on the standardised slope, scale * std: its square is scale^2 * variance
    return (weight * bce).sum(0) + 0.5 * RIDGE * fit.scale ** 2 * variance


def check_one_token(config: LabelerConfig) -> None:
    if config.label_tokens != 1:
        raise ValueError(f"the label-as-cause readout labels with one-token labels only (label_tokens=1), got "
                         f"label_tokens={config.label_tokens!r}; use the 'answer' readout (an AnswerTemplate) for "
                         "longer labels")


def cause_batch_bytes(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                      n_candidates: int) -> tuple[float, float]:
    """(per feature, fixed) bytes of the cause readout (see memory_budget). Nothing is cached per example; a
    feature's share is its labels' forward with gradients (the guide's uniform label on eval_examples pairs, or a
    step's restarts on batch_examples pairs). A label's pairs share one forward row where their text before the
    word's last token is the same (every one-token word of a template without {context}); each other pair is
    a row of its own, and every read position (one per token of such a word) keeps full-vocabulary logits.
    Fixed: one no-gradient forward of max_rows_per_forward rows, or the weight copies of a forward with gradients
    where they are more, and the candidates' embedding rows. Forwards with gradients count what they hold
    resident (memory_budget.resident_with_grad)."""
    scorer = disc.cause
    stride = max(1, sum(len(f.train) for f in features) // PREFIX_SAMPLE)
    sample = [ex for f in features for ex in f.train][::stride][:PREFIX_SAMPLE]
    pieces = [scorer.example_ids(ex) for ex in sample]
    width = 1 + max(len(middle) + len(token) for middle, token in pieces)  # label + middle + word
    longest = max(len(token) for _, token in pieces)
    shared = Counter(tuple(middle) for middle, token in pieces if len(token) == 1).most_common(1)
    share = 0.0 if scorer.template.uses_context or not shared else shared[0][1] / len(pieces)

    def own_rows(n: int) -> int:  # pairs among n that need a row of their own: a binomial bound (mean + 3 sd)
        mean = (1 - share) * n
        return min(n, math.ceil(mean + 3 * math.sqrt(mean * share) + 1))

    head = len(scorer.head_ids)
    n_train = max(len(f.train) for f in features)
    parts = []
    for labels, pairs in ((1, min(config.eval_examples, n_train)), (config.restarts, min(config.batch_examples,
                                                                                             n_train))):
        own = own_rows(pairs)
        rows, reads = labels * (1 + own), labels * (1 + own * longest)
        parts.append(forward_bytes(disc, rows, width, head, grad=True, past_copied=False)
                     + logit_bytes(disc, reads, grad=True))
    rows = config.max_rows_per_forward
    scoring = forward_bytes(disc, rows, width, head, grad=False, past_copied=False) + logit_bytes(disc, rows, False)
    weights = resident_with_grad(disc, weight_copy_bytes(disc))
    return resident_with_grad(disc, max(parts)), max(scoring, weights) + candidate_bytes(disc, n_candidates)
