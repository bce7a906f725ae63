"""The training data of several features, cached once, and the two ways to score labels on it.

`step_loss` is the differentiable loss of soft (or one-hot) label embeddings on a sampled minibatch;
`exact_loss` is the loss of hard label tokens on a fixed set of a feature's training examples. Each
feature draws its minibatches from its own generator, so its result does not depend on which other
features share the batch.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from sae_gd_labeler.config import LabelerConfig
from sae_gd_labeler.discriminator import Discriminator
from sae_gd_labeler.example import Example
from sae_gd_labeler.metrics import auroc
from sae_gd_labeler.objective import prediction_loss, targets_from_activations

PROBE_EXAMPLES = 16  # rows on which starting tokens are ranked (half positive, half negative)


def feature_seed(seed: int, feature: Hashable) -> int:
    """A seed for one feature that is stable across runs and processes (unlike hash())."""
    return zlib.crc32(f"{seed}:{feature!r}".encode())


@dataclass
class FeatureData:
    """One feature's examples after the held-out split."""

    feature: Hashable
    train: list[Example]
    heldout: list[Example]


class FeatureBatch:
    def __init__(self, discriminator: Discriminator, features: Sequence[FeatureData], candidate_ids: Tensor,
                 config: LabelerConfig):
        self.disc, self.config, self.features = discriminator, config, list(features)
        self.candidate_ids = candidate_ids  # [C] token ids a label may use
        self.W_cand = discriminator.W_E.detach().index_select(0, candidate_ids).float()  # [C, d_model]
        self.full_vocab = config.readout == "full_vocab"
        device = discriminator.device
        self.generators = [torch.Generator().manual_seed(feature_seed(config.seed, f.feature)) for f in features]

        examples = [ex for f in self.features for ex in f.train]
        need_q = config.kl_weight > 0
        self.cache = discriminator.cache_prefixes(examples, with_log_q=need_q,
                                                  max_rows=config.max_rows_per_forward)
        self.pos_rows, self.neg_rows, targets, log_q = [], [], [], []
        start = 0
        for f in self.features:
            rows = torch.arange(start, start + len(f.train))
            acts = torch.tensor([ex.activation for ex in f.train], dtype=torch.float32)
            positive = acts > config.activation_threshold
            self.pos_rows.append(rows[positive])
            self.neg_rows.append(rows[~positive])
            targets.append(targets_from_activations(acts, config.activation_threshold, config.soft_targets))
            if need_q:  # mean over examples of log q: KL(p||q) averaged over them is linear in it
                log_q.append(self.cache.log_q[start:start + len(f.train)].index_select(1, candidate_ids).mean(0))
            start += len(f.train)
        self.targets = torch.cat(targets).to(device)  # [N]
        self.positive = self.targets > 0  # [N]
        n_cand = len(candidate_ids)
        self.log_q = torch.stack(log_q) if need_q else torch.zeros(len(self.features), n_cand, device=device)
        self.cache.log_q = None  # [N, d_vocab] is large; only the per-feature mean is needed
        self.eval_rows = [self._balanced_subset(f, config.eval_examples) for f in range(len(self.features))]
        self.probe_rows = [self._balanced_subset(f, PROBE_EXAMPLES) for f in range(len(self.features))]
        self.train_rows = [torch.cat([p, n]) for p, n in zip(self.pos_rows, self.neg_rows)]

    def __len__(self) -> int:
        return len(self.features)

    def _balanced_subset(self, f: int, n: int) -> Tensor:
        """Up to n training rows of feature f, half positive, half negative where possible, fixed by seed."""
        gen = torch.Generator().manual_seed(feature_seed(self.config.seed + 1, self.features[f].feature))
        pos, neg = self.pos_rows[f], self.neg_rows[f]
        n_pos = min(len(pos), max(n // 2, n - len(neg)))
        n_neg = min(len(neg), n - n_pos)
        pos = pos[torch.randperm(len(pos), generator=gen)[:n_pos]]
        neg = neg[torch.randperm(len(neg), generator=gen)[:n_neg]]
        return torch.cat([pos, neg])

    def sample_rows(self) -> Tensor:
        """A balanced minibatch per feature, [F, B]: B/2 positives then B/2 negatives."""
        half = self.config.batch_examples // 2
        out = []
        for gen, pos, neg in zip(self.generators, self.pos_rows, self.neg_rows):
            out.append(torch.cat([_draw(pos, half, gen), _draw(neg, half, gen)]))
        return torch.stack(out)

    # -- scoring ------------------------------------------------------------------------------------
    def step_loss(self, feature_of_label: Tensor, label_embeds: Tensor, rows: Tensor) -> Tensor:
        """Mean prediction loss of each label on its feature's minibatch (differentiable).

        feature_of_label [L], label_embeds [L, d_model], rows [F, B] -> [L]
        """
        rows = rows[feature_of_label.cpu()]  # [L, B]
        n_labels, b = rows.shape
        prefixes = self.cache.select(rows.reshape(-1))
        embeds = label_embeds[:, None, None, :].expand(n_labels, b, 1, -1).reshape(n_labels * b, 1, -1)
        answer = self.disc.answer_logits(prefixes, label_embeds=embeds, full_vocab=self.full_vocab)
        target = self.targets[rows.reshape(-1).to(self.targets.device)]
        return prediction_loss(answer, target).view(n_labels, b).mean(-1)

    @torch.no_grad()
    def hard_answers(self, feature_of_label: Tensor, token: Tensor, rowset: str = "eval") -> list[tuple]:
        """The discriminator's answers for hard labels (candidate indices `token` [Q]) on a fixed set of each
        feature's training rows ("eval": at most eval_examples; "train": all): per query (rows, answers)."""
        rowsets = {"eval": self.eval_rows, "train": self.train_rows, "probe": self.probe_rows}[rowset]
        rows = [rowsets[f] for f in feature_of_label.tolist()]
        flat = torch.cat(rows)
        query = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor([len(r) for r in rows]))
        label_tokens = self.candidate_ids[token.to(self.candidate_ids.device)][query.to(self.candidate_ids.device)]
        answers = []
        step = self.config.max_rows_per_forward
        for s in range(0, len(flat), step):
            answers.append(self.disc.answer_logits(self.cache.select(flat[s:s + step]),
                                                   label_tokens=label_tokens[s:s + step, None],
                                                   full_vocab=self.full_vocab).cpu())
        return list(zip(rows, torch.cat(answers).split([len(r) for r in rows])))

    def exact_loss(self, feature_of_label: Tensor, token: Tensor, rowset: str = "eval") -> Tensor:
        """Class-balanced loss of hard labels on fixed training rows (see hard_answers), plus the
        naturalness term, which for a one-hot label is KL = -log q(token). -> [Q]
        """
        losses = []
        for rows, answer in self.hard_answers(feature_of_label, token, rowset):
            pos = self.positive[rows.to(self.positive.device)].cpu()
            loss = prediction_loss(answer, self.targets[rows.to(self.targets.device)].cpu())
            losses.append(0.5 * loss[pos].mean() + 0.5 * loss[~pos].mean())
        naturalness = -self.log_q[feature_of_label.to(self.log_q.device), token.to(self.log_q.device)].cpu()
        return torch.stack(losses) + self.config.kl_weight * naturalness

    def separation(self, feature_of_label: Tensor, token: Tensor) -> Tensor:
        """AUROC of each hard label's yes / no score on a few rows (PROBE_EXAMPLES): how well it ranks
        positives above negatives whatever its calibration; cheap, to pick starting tokens. -> [Q]"""
        out = []
        for rows, answer in self.hard_answers(feature_of_label, token, rowset="probe"):
            score = answer if answer.dim() == 1 else answer[:, 0] - answer[:, 1]
            out.append(auroc(score, self.positive[rows.to(self.positive.device)].cpu()))
        return torch.tensor(out)


def _draw(rows: Tensor, n: int, gen: torch.Generator) -> Tensor:
    """n rows without replacement when there are enough, else with replacement."""
    if len(rows) >= n:
        return rows[torch.randperm(len(rows), generator=gen)[:n]]
    return rows[torch.randint(len(rows), (n,), generator=gen)]
