"""Gradient-guided search over hard tokens (as in GCG): the gradient proposes, exact scoring decides.

From a hard label t, the gradient of the minibatch loss with respect to t's one-hot vector ranks every
candidate token by its first-order effect. The `discrete_topk` best replacements are scored exactly on
half of the feature's evaluation examples (screening), the `discrete_confirm` best of them on all, and
the best is kept while the exact loss on all evaluation examples falls; a restart stops after `PATIENCE`
iterations in a row without a better token (each iteration's gradient comes from a fresh minibatch, so
its proposals differ).

In a large vocabulary the gradient alone proposes badly: a first-order score is linear in the token's
embedding, and among tens of thousands of tokens that mean nothing for the feature, hundreds score higher
by chance than the right one does. So proposals are ranked by the gradient at the current label plus the
feature's `guide` (two more signals computed once: the gradient at the uniform label and the
discriminator's own prior contrast), each standardised over the candidates: a token that several
independent signals favour stands out of the chance high scores of any one of them.

A label of K tokens (`label_tokens`) is searched as GCG searches a suffix: the gradient with respect to each
of its K one-hot rows proposes `discrete_topk` replacements at that position, every proposal changes one
position, and all K * discrete_topk proposals are screened and confirmed as above. A label is a tuple of K
candidate indices throughout; K = 1 is the one-token search, computed exactly as before. Half the K-token
restarts start from pairs of the best one-token labels, scored exactly (see `starts`): the gradient ranks the
other word of a compound among the worst swaps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sae_gd_labeler.search.feature_batch import FeatureBatch

# iterations in a row without a better token after which a restart stops (1: at the first). With 50,000
# distractors, stopping at the first settled on a filler in 1-2 more runs of 68 (for ~10% more time)
PATIENCE = 3
# K-token labels: at most this many K-tuples of the best starting tokens are ranked to pick the starts
START_TUPLES = 64
# and at most this many K-tuples of the best one-token labels are scored exactly to pick the other starts
SINGLE_TUPLES = 144

Label = tuple[int, ...]  # a hard label: K candidate indices


@dataclass
class DiscreteResult:
    tokens: torch.Tensor  # [F, R] final labels, candidate indices ([F, R, K] for K-token labels)
    losses: torch.Tensor  # [F, R] their exact loss on the evaluation rows
    visited: list[set[Label]]  # per feature: every label scored exactly
    iterations: torch.Tensor  # [F] iterations until every restart of the feature stopped (see PATIENCE)
    # per iteration (0: the starts), the labels held (as tokens) and their exact losses [F, R] on the evaluation
    # rows, and which restarts were still searching in it [F, R] (a stopped restart holds its label)
    history: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def labels(self, feature: int) -> list[Label]:
        """The final label of each restart of one feature."""
        return [as_label(t) for t in self.tokens[feature]]

    def restart_histories(self, feature: int) -> list[tuple[list[Label], list[float]]]:
        """Per restart of one feature: (label held, exact loss) at its start and at every iteration it
        searched in."""
        out = []
        for r in range(self.tokens.shape[1]):
            steps = [(as_label(t[feature, r]), float(loss[feature, r])) for t, loss, live in self.history
                     if live[feature, r]]
            out.append(([t for t, _ in steps], [loss for _, loss in steps]))
        return out


def as_label(token: torch.Tensor) -> Label:
    """A label as a tuple of candidate indices, from one index (a one-token label) or [K] of them."""
    return tuple(token.reshape(-1).tolist())


def standardized(score: torch.Tensor) -> torch.Tensor:
    """Each row of score [..., C] in standard deviations from its mean over the candidates: signals of
    different scales can then be added. (Population spread: a single candidate gives 0, not NaN.)"""
    spread = score.std(-1, keepdim=True, correction=0).clamp_min(1e-12)
    return (score - score.mean(-1, keepdim=True)) / spread


def guide(batch: FeatureBatch) -> torch.Tensor:
    """[F, C] (one-token labels) or [F, K, C] (K tokens, one row per position): how strongly two signals that
    need no search favour each candidate, in standard deviations: the gradient at the uniform soft label (on
    the eval rows; per position for K tokens) and the prior contrast (how much more the discriminator expects
    the token in the label slot after positives than after negatives). Each alone ranks the right label
    hundreds down in a large vocabulary; their chance high scores are independent, the right label's are
    not."""
    cfg = batch.config
    n_feat, n_cand, k = len(batch), len(batch.candidate_ids), cfg.label_tokens
    uniform = torch.full((n_feat, k, n_cand), 1.0 / n_cand, device=batch.W_cand.device, requires_grad=True)
    rows = batch.fixed_rows("eval", cfg.eval_examples)  # [F, E]
    embeds = (uniform.view(-1, n_cand) @ batch.W_cand).view(n_feat, k, -1)  # [F, K, d_model]
    pred = batch.step_loss(torch.arange(n_feat), embeds, rows)  # [F]
    naturalness = -(uniform * batch.log_q[:, None]).sum(-1).mean(-1)  # [F], mean over positions
    (pred + cfg.kl_weight * naturalness).sum().backward()
    prior = batch.prior_contrast.to(uniform.device)
    guides = standardized(-uniform.grad) + standardized(prior)[:, None]  # [F, K, C]
    return guides[:, 0] if k == 1 else guides


def starts(batch: FeatureBatch, guides: torch.Tensor | None = None) -> torch.Tensor:
    """[F, R] start tokens (candidate indices; [F, R, K] for K-token labels): the R best, by separation, of a
    pool of the `start_guided` tokens that the `guide` favours most, the `start_prior` tokens that the
    discriminator itself expects in the label slot more after positives than after negatives, and
    `start_probes` random tokens (from each feature's own generator). Starting from decent, distinct tokens
    makes the local search far less likely to settle in a poor basin (such as the filler "a").

    K-token labels: R - R // 2 starts come from the same pool: its tokens are ranked as one-token labels, and
    these starts are the best, ranked the same way, of the K-tuples of its m best tokens (m^K <= START_TUPLES;
    repeats allowed, so "fruit fruit" competes with "red fruit"). The other R // 2 are the best K-tuples of the
    best one-token labels of the whole vocabulary, by exact loss (see _tuples_of_best_single_tokens): the two
    words of a compound are often good one-token labels that neither the pool nor the gradient proposes.
    """
    cfg = batch.config
    n_feat, n_cand, k = len(batch), len(batch.candidate_ids), cfg.label_tokens
    restarts = min(cfg.restarts, n_cand)
    n_guided = min(max(cfg.start_guided, restarts), n_cand)
    guides = guide(batch) if guides is None else guides  # [F, C] or [F, K, C]
    guided = guides.topk(n_guided, dim=-1).indices.reshape(n_feat, -1).cpu()  # [F, G] (every position's)
    prior = batch.prior_contrast.topk(min(cfg.start_prior, n_cand), dim=-1).indices.cpu()  # [F, P]
    probes = [torch.randperm(n_cand, generator=g)[:cfg.start_probes] for g in batch.generators]
    pools = [torch.cat([guided[f], prior[f], probes[f]]).unique() for f in range(n_feat)]
    ranked = _ranked_by_separation(batch, [p[:, None] for p in pools])  # per feature [P, 1], best first
    if k == 1:
        out = [r[:restarts, 0] for r in ranked]  # [R] each
        return torch.stack([_padded(o, cfg.restarts) for o in out])
    n_pairs = cfg.restarts // 2  # starts from tuples of the best one-token labels; the others as before
    width = max(1, int(START_TUPLES ** (1 / k) + 1e-9))  # tokens per position in the start tuples
    tuples = [torch.tensor(list(itertools.product(r[:width, 0].tolist(), repeat=k))) for r in ranked]
    out = [r[:cfg.restarts - n_pairs] for r in _ranked_by_separation(batch, tuples)]  # [<= R - n_pairs, K] each
    if n_pairs == 0:
        return torch.stack([_padded(o, cfg.restarts) for o in out])
    more = _tuples_of_best_single_tokens(batch, out, n_pairs)  # [<= n_pairs, K] each
    return torch.stack([torch.cat([_padded(o, cfg.restarts - n_pairs), _padded(m, n_pairs)])
                        for o, m in zip(out, more)])


def _padded(labels: torch.Tensor, n: int) -> torch.Tensor:
    """labels [Q, ...] (Q <= n) padded to [n, ...] with repeats of the first."""
    return torch.cat([labels, labels[:1].expand(n - len(labels), *labels.shape[1:])])


def _tuples_of_best_single_tokens(batch: FeatureBatch, taken: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """K-token labels, per feature [<= n, K]: the n best, by exact loss on the evaluation rows, of the K-tuples of
    its m best one-token labels (m^K <= SINGLE_TUPLES; repeats allowed), less those already in `taken` [Q_f, K].

    The one-token labels are ranked by exact loss on the probe rows over the whole candidate vocabulary (or
    `start_scan` random candidates of a larger one). The gradient does not find the second word of a compound:
    in a toy world with compounds (an earlier build), from "tool tool" it ranks "metal" (the swap to the name,
    "metal tool") about 550th of 679 tokens at the first position, and "sea" at "colour vehicle" 660th; nor does
    the guide put either among the start pool. As one-token labels both are among the few best ("metal" fifth,
    after "tool" and prepositions), and so are pairs of them."""
    cfg = batch.config
    n_cand, k = len(batch.candidate_ids), cfg.label_tokens
    scan = [torch.arange(n_cand) if n_cand <= cfg.start_scan
            else torch.randperm(n_cand, generator=g)[:cfg.start_scan].sort().values for g in batch.generators]
    feature = torch.cat([torch.full((len(s),), f) for f, s in enumerate(scan)])
    loss = batch.exact_loss(feature, torch.cat(scan), rowset="probe").split([len(s) for s in scan])
    width = max(1, int(SINGLE_TUPLES ** (1 / k) + 1e-9))  # tokens per position
    tuples = []
    for s, los in zip(scan, loss):
        best = sorted(range(len(s)), key=lambda i: (float(los[i]), i))[:width]
        tuples.append(list(itertools.product(s[best].tolist(), repeat=k)))
    feature = torch.cat([torch.full((len(t),), f) for f, t in enumerate(tuples)])
    loss = batch.exact_loss(feature, torch.tensor([t for ts in tuples for t in ts])).split([len(t) for t in tuples])
    out = []
    for ts, los, old in zip(tuples, loss, taken):
        old = set(map(tuple, old.tolist()))
        ranked = sorted((float(v), t) for v, t in zip(los, ts) if t not in old)
        out.append(torch.tensor([t for _, t in ranked[:n]] or [ts[0]]))
    return out


def _ranked_by_separation(batch: FeatureBatch, labels: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each feature's labels ([Q_f, K] candidate indices) ordered best first on its probe rows.

    By separation (AUROC), not loss: an uninformative token ("a") has a fair loss but separates nothing,
    while a near miss ("mammal" for animal) separates partly and sits next to the answer; on a few rows
    many tokens separate perfectly, and the loss orders those."""
    feature = torch.cat([torch.full((len(q),), f) for f, q in enumerate(labels)])
    every = torch.cat(labels)  # [Q, K]
    token = every[:, 0] if every.shape[1] == 1 else every  # one-token labels are scored as [Q], as ever
    answers = batch.hard_answers(feature, token, rowset="probe")
    sizes = [len(q) for q in labels]
    separation = batch.separation_of(answers).split(sizes)
    loss = batch.balanced_loss(feature, token, answers).split(sizes)
    out = []
    for pool, sep, los in zip(labels, separation, loss):
        order = sorted(range(len(pool)), key=lambda i: (-float(sep[i]), float(los[i])))
        out.append(pool[order])
    return out


def discrete_search(batch: FeatureBatch, start: torch.Tensor, guides: torch.Tensor | None = None) -> DiscreteResult:
    """Local search from start labels [F, R, K] (or [F, R] for one-token labels)."""
    cfg = batch.config
    tokens = (start[..., None] if start.dim() == 2 else start).clone()  # [F, R, K]
    n_feat, restarts, n_pos = tokens.shape
    n_cand = len(batch.candidate_ids)
    k = min(cfg.discrete_topk, n_cand - 1)
    feature_of = torch.arange(n_feat)[:, None].expand(n_feat, restarts)  # [F, R]
    scored: list[dict[Label, float]] = [{} for _ in range(n_feat)]  # per feature: label -> exact loss
    screened: list[dict[Label, tuple]] = [{} for _ in range(n_feat)]  # label -> (screen loss, rows, answers)
    losses = _exact(batch, scored, feature_of.reshape(-1), tokens.reshape(-1, n_pos)).view(n_feat, restarts)
    active = torch.ones(n_feat, restarts, dtype=torch.bool)
    misses = torch.zeros(n_feat, restarts, dtype=torch.long)  # iterations in a row without a better label
    iterations = torch.zeros(n_feat, dtype=torch.long)
    history = [(tokens.clone(), losses.clone(), active.clone())]  # a few ints per iteration
    if guides is None and k >= 1:  # [F, C] or [F, K, C]; the caller passes the one `starts` used
        guides = guide(batch)
    if guides is not None and guides.dim() == 2:
        guides = guides[:, None]  # [F, K, C]

    for _ in range(cfg.discrete_max_iters):
        if not active.any() or k < 1:
            break
        rows = batch.sample_rows()  # drawn for every feature each iteration: keeps draws batch-invariant
        f_idx, r_idx = active.nonzero(as_tuple=True)  # the labels still searching, [L]
        current = tokens[f_idx, r_idx]  # [L, K]
        one_hot = F.one_hot(current.to(batch.W_cand.device), n_cand).float()
        one_hot.requires_grad_(True)  # [L, K, C]
        embeds = (one_hot.view(-1, n_cand) @ batch.W_cand).view(len(f_idx), n_pos, -1)  # [L, K, d_model]
        pred = batch.step_loss(f_idx, embeds, rows)  # [L]
        # one-hot KL, mean over positions (see FeatureBatch.naturalness)
        naturalness = -(one_hot * batch.log_q[f_idx.to(batch.log_q.device)][:, None]).sum(-1).mean(-1)
        (pred + cfg.kl_weight * naturalness).sum().backward()
        # steepest descent directions at each position, with the feature's guide: see the module's docstring
        score = standardized(-one_hot.grad) + guides[f_idx.to(guides.device)]  # [L, K, C]
        score.scatter_(2, current[..., None].to(score.device), -float("inf"))  # never propose the current token
        top = score.topk(k, dim=-1).indices.cpu()  # [L, K, k]
        proposals = _single_swaps(current, top)  # [L, K * k, K]

        proposed = _screened(batch, scored, screened, f_idx, proposals)  # [L, K * k]
        best_loss, best = proposed.min(-1)
        improved = best_loss < losses[f_idx, r_idx] - 1e-6
        tokens[f_idx[improved], r_idx[improved]] = proposals[improved, best[improved]]
        losses[f_idx[improved], r_idx[improved]] = best_loss[improved]
        misses[f_idx, r_idx] = torch.where(improved, 0, misses[f_idx, r_idx] + 1)
        searched = torch.zeros_like(active)
        searched[f_idx, r_idx] = True
        history.append((tokens.clone(), losses.clone(), searched))
        active &= misses < PATIENCE
        iterations[f_idx.unique()] += 1

    if n_pos == 1:  # one-token labels keep the shapes of the one-token search: [F, R]
        tokens = tokens[..., 0]
        history = [(t[..., 0], loss, live) for t, loss, live in history]
    return DiscreteResult(tokens, losses, [set(d) for d in scored], iterations, history)


def _single_swaps(current: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """Every label that differs from current [L, K] at one position p, where it takes one of top[:, p]
    [L, K, k]: [L, K * k, K], position 0's k swaps first."""
    n_labels, n_pos, k = top.shape
    proposals = current[:, None, :].repeat(1, n_pos * k, 1)  # [L, K * k, K]
    for p in range(n_pos):
        proposals[:, p * k:(p + 1) * k, p] = top[:, p]
    return proposals


def _pairs(feature: torch.Tensor, labels: torch.Tensor) -> list[tuple[int, Label]]:
    """(feature, label) pairs of labels [L, P, K] of `feature` [L], in order."""
    return [(f, tuple(t)) for f, row in zip(feature.tolist(), labels.tolist()) for t in row]


def _as_tensors(pairs: list[tuple[int, Label]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(feature [Q], label [Q, K]) of (feature, label) pairs."""
    return torch.tensor([f for f, _ in pairs]), torch.tensor([t for _, t in pairs])


def _screened(batch: FeatureBatch, scored: list[dict[Label, float]], screened: list[dict[Label, tuple]],
              feature: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
    """Exact losses on all evaluation rows of proposals [L, P, K] of labels of `feature` [L]; inf for those
    screened out. Each label's proposals are scored on the screening half of the rows first and only its
    `discrete_confirm` best (by that partial loss) on the other half: most proposals are clearly worse,
    and half the rows show it."""
    n_labels, n_prop, n_pos = proposals.shape
    confirm = batch.config.discrete_confirm
    if confirm >= n_prop:  # nothing to screen out
        flat = proposals.reshape(-1, n_pos)
        return _exact(batch, scored, feature.repeat_interleave(n_prop), flat).view(n_labels, n_prop)
    pairs = _pairs(feature, proposals)
    new = sorted({(f, t) for f, t in pairs if t not in scored[f] and t not in screened[f]})
    if new:
        f_new, t_new = _as_tensors(new)
        answers = batch.hard_answers(f_new, t_new, "screen")
        for (f, t), loss, (rows, ans) in zip(new, batch.balanced_loss(f_new, t_new, answers).tolist(), answers):
            screened[f][t] = (loss, rows, ans)
    # per label, the `confirm` unconfirmed proposals with the lowest screening loss
    to_confirm = set()
    for f, row in zip(feature.tolist(), proposals.tolist()):
        open_ = sorted((screened[f][t][0], t) for t in set(map(tuple, row)) if t not in scored[f])
        to_confirm.update((f, t) for _, t in open_[:confirm])
    if to_confirm:
        pending = sorted(to_confirm)
        f_new, t_new = _as_tensors(pending)
        rest = batch.hard_answers(f_new, t_new, "confirm")
        joined = [(torch.cat([screened[f][t][1], rows]), torch.cat([screened[f][t][2], ans]))
                  for (f, t), (rows, ans) in zip(pending, rest)]
        for (f, t), loss in zip(pending, batch.balanced_loss(f_new, t_new, joined).tolist()):
            scored[f][t] = loss
            del screened[f][t]
    inf = float("inf")
    return torch.tensor([scored[f].get(t, inf) for f, t in pairs]).view(n_labels, n_prop)


def _exact(batch: FeatureBatch, scored: list[dict[Label, float]], feature: torch.Tensor,
           token: torch.Tensor) -> torch.Tensor:
    """Exact losses of (feature, label) pairs, feature [Q] and label token [Q, K], scoring only pairs not
    scored before (restarts and iterations propose the same labels often)."""
    pairs = _pairs(feature, token[:, None])
    new = sorted({(f, t) for f, t in pairs if t not in scored[f]})
    if new:
        f_new, t_new = _as_tensors(new)
        for (f, t), loss in zip(new, batch.exact_loss(f_new, t_new).tolist()):
            scored[f][t] = loss
    return torch.tensor([scored[f][t] for f, t in pairs])
