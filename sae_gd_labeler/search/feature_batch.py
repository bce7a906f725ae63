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

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.scoring.metrics import auroc
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.objective import prediction_loss, targets_from_activations

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
        candidate_ids = candidate_ids.to(discriminator.device)
        self.candidate_ids = candidate_ids  # [C] token ids a label may use
        self.W_cand = float32_rows(discriminator.W_E.detach(), candidate_ids)  # [C, d_model]
        self.full_vocab = config.readout == "full_vocab"
        device = discriminator.device
        self.generators = [torch.Generator().manual_seed(feature_seed(config.seed, f.feature)) for f in features]

        examples = [ex for f in self.features for ex in f.train]
        # log q (the model's next-token guess at the label slot) costs one unembedding per prefix: cheap
        self.cache = discriminator.cache_prefixes(examples, with_log_q=True, max_rows=config.max_rows_per_forward)
        self._index_rows(config, device)
        log_q, contrast, start = [], [], 0
        for f in self.features:
            feature_log_q = self.cache.log_q[start:start + len(f.train)].index_select(1, candidate_ids)  # [n, C]
            log_q.append(feature_log_q.mean(0))  # KL(p||q) averaged over examples is linear in mean log q
            pos_mask = self.positive_host[start:start + len(f.train)].to(feature_log_q.device)
            contrast.append(feature_log_q[pos_mask].mean(0) - feature_log_q[~pos_mask].mean(0))
            start += len(f.train)
        self.log_q = torch.stack(log_q)  # [F, C] mean log q over each feature's training examples
        # [F, C] how much more the model expects each token in the label slot after positives than after
        # negatives: its own guess at what the positives share, a source of starting tokens
        self.prior_contrast = torch.stack(contrast)
        self.cache.log_q = None  # [N, d_vocab] is large; only the per-feature means are needed
        self._choose_rows(config)
        self._layouts: dict[tuple, tuple] = {}  # step_loss's grid layout for the latest set of labels

    def _index_rows(self, config: LabelerConfig, device) -> None:
        """Row r is the r-th training example of all features, one feature after another: each feature's positive
        and negative rows, and the targets [N] and positives [N] of all rows, on the device and the host."""
        self.pos_rows, self.neg_rows, targets, start = [], [], [], 0
        for f in self.features:
            rows = torch.arange(start, start + len(f.train))
            acts = torch.tensor([ex.activation for ex in f.train], dtype=torch.float32)
            positive = acts > config.activation_threshold
            self.pos_rows.append(rows[positive])
            self.neg_rows.append(rows[~positive])
            targets.append(targets_from_activations(acts, config.activation_threshold, config.soft_targets))
            start += len(f.train)
        # host copies: exact scoring reads them per query on the host, where a device read would sync
        self.targets_host = torch.cat(targets)  # [N]
        self.positive_host = self.targets_host > 0  # [N]
        self.targets, self.positive = self.targets_host.to(device), self.positive_host.to(device)

    def _choose_rows(self, config: LabelerConfig) -> None:
        """Each feature's evaluation rows (screen and confirm halves), probe rows and training rows."""
        self.eval_rows = [self._balanced_subset(f, config.eval_examples) for f in range(len(self.features))]
        halves = [self._halves(rows) for rows in self.eval_rows]
        self.screen_rows = [h[0] for h in halves]  # half the eval rows, balanced: where proposals are screened
        self.confirm_rows = [h[1] for h in halves]  # the other half
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

    def _halves(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Split rows into two halves with (as near as possible) the same number of positives."""
        positive = self.positive_host[rows]
        pos, neg = rows[positive], rows[~positive]
        n_pos, n_neg = (len(pos) + 1) // 2, (len(neg) + 1) // 2
        return torch.cat([pos[:n_pos], neg[:n_neg]]), torch.cat([pos[n_pos:], neg[n_neg:]])

    def sample_rows(self) -> Tensor:
        """A balanced minibatch per feature, [F, B]: B/2 positives then B/2 negatives."""
        half = self.config.batch_examples // 2
        out = []
        for gen, pos, neg in zip(self.generators, self.pos_rows, self.neg_rows):
            out.append(torch.cat([_draw(pos, half, gen), _draw(neg, half, gen)]))
        return torch.stack(out)

    def sample_steps(self, n_steps: int) -> Tensor:
        """The minibatches of n_steps steps at once, [n_steps, F, B], on the discriminator's device: the
        step loop then never waits for the host. The draws are those of n_steps sample_rows() calls."""
        return torch.stack([self.sample_rows() for _ in range(n_steps)]).to(self.disc.device)

    def fixed_rows(self, rowset: str, n: int) -> Tensor:
        """[F, n]: each feature's first n rows of `rowset` (see hard_answers), cycled if it has fewer; a
        minibatch that draws nothing from the features' generators."""
        return torch.stack([rows[torch.arange(n) % len(rows)] for rows in self._rowsets(rowset)])

    def _rowsets(self, name: str) -> list[Tensor]:
        return {"eval": self.eval_rows, "train": self.train_rows, "probe": self.probe_rows,
                "screen": self.screen_rows, "confirm": self.confirm_rows}[name]

    # -- scoring ------------------------------------------------------------------------------------
    def step_loss(self, feature_of_label: Tensor, label_embeds: Tensor, rows: Tensor) -> Tensor:
        """Mean prediction loss of each label on its feature's minibatch (differentiable).

        feature_of_label [L], label_embeds [L, d_model] (one-token labels) or [L, K, d_model] (K tokens),
        rows [F, B] -> [L]. The labels of one feature (its restarts) share its minibatch, so they are scored
        side by side on each of its prefixes (`Discriminator.answer_grid`); a feature with fewer labels than
        others gets zero padding.
        """
        rows = rows.to(self.disc.device)  # no-op for sample_steps' rows, which are there already
        if label_embeds.dim() == 2:
            label_embeds = label_embeds[:, None]  # [L, 1, d_model]
        features, where, slot, n_slots = self._layout(feature_of_label)
        n_feat, b = len(features), rows.shape[1]
        k = label_embeds.shape[1]
        padded = label_embeds.new_zeros(n_feat, n_slots, k, label_embeds.shape[-1])  # [U, Q, K, d_model]
        padded = padded.index_put((where, slot), label_embeds)
        prefix_rows = rows[features].reshape(-1)  # [U * B]
        embeds = padded[:, None].expand(n_feat, b, n_slots, k, -1).reshape(n_feat * b, n_slots, k, -1)
        answers = self.disc.answer_grid(self.cache, label_embeds=embeds, full_vocab=self.full_vocab,
                                        rows=prefix_rows)  # [U * B, Q(, 2)]
        answers = answers.view(n_feat, b, n_slots, *answers.shape[2:]).transpose(1, 2)  # [U, Q, B(, 2)]
        answers = answers[where, slot]  # [L, B(, 2)]
        target = self.targets[rows[features[where]].to(self.targets.device)]  # [L, B]
        return prediction_loss(answers.reshape(-1, *answers.shape[2:]), target.reshape(-1)).view_as(target).mean(-1)

    def _layout(self, feature_of_label: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
        """Where each label goes in step_loss's grid: the distinct features [U], each label's feature index
        [L] and slot among its feature's labels [L] (on the device), and the number of slots. Worked out on
        the host once per set of labels, so a step loop with fixed labels never copies to the device."""
        key = tuple(feature_of_label.tolist())
        if key not in self._layouts:
            features, slot = _slots(feature_of_label.cpu())
            where = torch.searchsorted(features, feature_of_label.cpu())
            device = self.disc.device
            self._layouts = {key: (features.to(device), where.to(device), slot.to(device), int(slot.max()) + 1)}
        return self._layouts[key]

    @torch.no_grad()
    def hard_answers(self, feature_of_label: Tensor, token: Tensor, rowset: str = "eval") -> list[tuple]:
        """The discriminator's answers for hard labels (candidate indices `token` [Q], or [Q, K] for K-token
        labels) on a fixed set of each feature's training rows ("eval": at most eval_examples, "screen" and
        "confirm" its two halves; "train": all; "probe": PROBE_EXAMPLES):
        per query, in order, (rows, answers).

        All labels of one feature are scored against each of its rows in one block layout
        (`Discriminator.answer_grid`), so a row's cached prefix is read once, not once per label.
        """
        rowsets = self._rowsets(rowset)
        feature_of_label, token = feature_of_label.cpu(), label_rows(token).cpu()  # token [Q, K]
        features = feature_of_label.unique().tolist()
        queries = [(feature_of_label == f).nonzero().squeeze(1) for f in features]  # per feature [Q_f]
        rows = [rowsets[f] for f in features]  # per feature [n_f]
        n_labels = max(len(q) for q in queries)
        # grid [N, n_labels, K] of label tokens: each feature's labels on each of its rows, padded by repeating
        grid = torch.cat([token[q][torch.arange(n_labels).clamp(max=len(q) - 1)].expand(len(r), -1, -1)
                          for q, r in zip(queries, rows)])
        count = torch.cat([torch.full((len(r),), len(q)) for q, r in zip(queries, rows)])  # [N] real labels
        flat_rows = torch.cat(rows)  # [N]
        scores = torch.empty((len(flat_rows), n_labels) + ((2,) if self.full_vocab else ()))
        # rows with as many labels scored together, so padding wastes nothing
        for width in count.unique().tolist():
            chunk = (count == width).nonzero().squeeze(1)
            label_tokens = self.candidate_ids[grid[chunk, :width].to(self.candidate_ids.device)]  # [n, width, K]
            scores[chunk, :width] = self.disc.answer_grid(
                self.cache, label_tokens, full_vocab=self.full_vocab, rows=flat_rows[chunk],
                max_rows=self.config.max_rows_per_forward).cpu()
        out: list = [None] * len(token)
        offset = 0
        for q, r in zip(queries, rows):
            for j, query in enumerate(q.tolist()):
                out[query] = (r, scores[offset:offset + len(r), j])
            offset += len(r)
        return out

    def exact_loss(self, feature_of_label: Tensor, token: Tensor, rowset: str = "eval") -> Tensor:
        """Class-balanced loss of hard labels (token [Q] or [Q, K]) on fixed training rows (see hard_answers),
        plus the naturalness term, which for a one-hot label is KL = -log q(token) (see `naturalness`). -> [Q]
        """
        answers = self.hard_answers(feature_of_label, token, rowset)
        return self.balanced_loss(feature_of_label, token, answers)

    def balanced_loss(self, feature_of_label: Tensor, token: Tensor, answers: list[tuple]) -> Tensor:
        """exact_loss from per-query (rows, answers) as hard_answers returns them (on the host). -> [Q]"""
        n_queries = len(answers)
        rows = torch.cat([r for r, _ in answers])  # [M] all queries' rows, one after another
        query = torch.repeat_interleave(torch.arange(n_queries), torch.tensor([len(r) for r, _ in answers]))
        loss = prediction_loss(torch.cat([a for _, a in answers]), self.targets_host[rows])  # [M]
        positive = self.positive_host[rows]

        def mean_per_query(mask: Tensor) -> Tensor:  # [Q] mean loss over each query's rows in mask
            total = torch.zeros(n_queries).index_add_(0, query[mask], loss[mask])
            return total / torch.bincount(query[mask], minlength=n_queries)

        prediction = 0.5 * mean_per_query(positive) + 0.5 * mean_per_query(~positive)
        return prediction + self.config.kl_weight * self.naturalness(feature_of_label, token)

    def naturalness(self, feature_of_label: Tensor, token: Tensor) -> Tensor:
        """-log q of hard labels (token [Q] or [Q, K]) on the host, [Q]: q is the discriminator's guess at the
        label slot (mean over the feature's examples). A K-token label takes the mean over its tokens, each
        read against the slot's q: the same per-token weight at every K, and no extra forward for the
        guesses after the label's own first tokens."""
        feature = feature_of_label.to(self.log_q.device)
        token = token.to(self.log_q.device)
        if token.dim() == 1:
            return -self.log_q[feature, token].cpu()
        return -self.log_q[feature[:, None], token].mean(-1).cpu()

    def separation(self, feature_of_label: Tensor, token: Tensor) -> Tensor:
        """AUROC of each hard label's yes / no score on a few rows (PROBE_EXAMPLES): how well it ranks
        positives above negatives whatever its calibration; cheap, to pick starting tokens. -> [Q]"""
        return self.separation_of(self.hard_answers(feature_of_label, token, rowset="probe"))

    def separation_of(self, answers: list[tuple]) -> Tensor:
        """separation from per-query (rows, answers) as hard_answers returns them. -> [Q]"""
        out = []
        for rows, answer in answers:
            score = answer if answer.dim() == 1 else answer[:, 0] - answer[:, 1]
            out.append(auroc(score, self.positive_host[rows]))
        return torch.tensor(out)


def label_rows(token: Tensor) -> Tensor:
    """Hard labels as rows of candidate indices, [Q, K]: a 1-D token [Q] is Q one-token labels."""
    return token[:, None] if token.dim() == 1 else token


def _slots(feature_of_label: Tensor) -> tuple[Tensor, Tensor]:
    """The distinct features (sorted) and each label's index among the labels of its feature, in order."""
    features, inverse = feature_of_label.unique(return_inverse=True)
    order = torch.argsort(inverse, stable=True)
    counts = torch.bincount(inverse, minlength=len(features))
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(inverse)
    slot[order] = torch.arange(len(inverse), device=inverse.device) - starts[inverse[order]]
    return features, slot


def float32_rows(weight: Tensor, ids: Tensor, chunk: int = 16384) -> Tensor:
    """weight[ids] in float32 without a full-size copy in weight's own dtype first: the candidate embeddings
    of a 256k vocabulary are GBs, and soft labels are mixed in float32."""
    out = torch.empty((len(ids), weight.shape[1]), dtype=torch.float32, device=weight.device)
    for start in range(0, len(ids), chunk):
        out[start:start + chunk] = weight.index_select(0, ids[start:start + chunk].to(weight.device))
    return out


def _draw(rows: Tensor, n: int, gen: torch.Generator) -> Tensor:
    """n rows without replacement when there are enough, else with replacement."""
    if len(rows) >= n:
        return rows[torch.randperm(len(rows), generator=gen)[:n]]
    return rows[torch.randint(len(rows), (n,), generator=gen)]
