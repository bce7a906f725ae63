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
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sae_gd_labeler.feature_batch import FeatureBatch

# iterations in a row without a better token after which a restart stops (1: at the first). With 50,000
# distractors, stopping at the first settled on a filler in 1-2 more runs of 68 (for ~10% more time)
PATIENCE = 3


@dataclass
class DiscreteResult:
    tokens: torch.Tensor  # [F, R] final candidate indices
    losses: torch.Tensor  # [F, R] their exact loss on the evaluation rows
    visited: list[set[int]]  # per feature: every candidate index scored exactly
    iterations: torch.Tensor  # [F] iterations until every restart of the feature stopped (see PATIENCE)
    # per iteration (0: the starts), the tokens held [F, R] and their exact losses [F, R] on the evaluation
    # rows, and which restarts were still searching in it [F, R] (a stopped restart holds its token)
    history: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def restart_histories(self, feature: int) -> list[tuple[list[int], list[float]]]:
        """Per restart of one feature: (candidate index held, exact loss) at its start and at every
        iteration it searched in."""
        out = []
        for r in range(self.tokens.shape[1]):
            steps = [(int(t[feature, r]), float(loss[feature, r])) for t, loss, live in self.history
                     if live[feature, r]]
            out.append(([t for t, _ in steps], [loss for _, loss in steps]))
        return out


def standardized(score: torch.Tensor) -> torch.Tensor:
    """Each row of score [..., C] in standard deviations from its mean over the candidates: signals of
    different scales can then be added. (Population spread: a single candidate gives 0, not NaN.)"""
    spread = score.std(-1, keepdim=True, correction=0).clamp_min(1e-12)
    return (score - score.mean(-1, keepdim=True)) / spread


def guide(batch: FeatureBatch) -> torch.Tensor:
    """[F, C] how strongly two signals that need no search favour each candidate, in standard deviations:
    the gradient at the uniform soft label (on the eval rows) and the prior contrast (how much more the
    discriminator expects the token in the label slot after positives than after negatives). Each alone
    ranks the right label hundreds down in a large vocabulary; their chance high scores are independent,
    the right label's are not."""
    cfg = batch.config
    n_feat, n_cand = len(batch), len(batch.candidate_ids)
    uniform = torch.full((n_feat, n_cand), 1.0 / n_cand, device=batch.W_cand.device, requires_grad=True)
    rows = batch.fixed_rows("eval", cfg.eval_examples)  # [F, E]
    pred = batch.step_loss(torch.arange(n_feat), uniform @ batch.W_cand, rows)  # [F]
    naturalness = -(uniform * batch.log_q).sum(-1)
    (pred + cfg.kl_weight * naturalness).sum().backward()
    prior = batch.prior_contrast.to(uniform.device)
    return standardized(-uniform.grad) + standardized(prior)  # [F, C]


def starts(batch: FeatureBatch, guides: torch.Tensor | None = None) -> torch.Tensor:
    """[F, R] start tokens (candidate indices): the R best, by separation, of a pool of the `start_guided`
    tokens that the `guide` favours most, the `start_prior` tokens that the discriminator itself expects in
    the label slot more after positives than after negatives, and `start_probes` random tokens (from each
    feature's own generator). Starting from decent, distinct tokens makes the local search far less likely
    to settle in a poor basin (such as the filler "a").
    """
    cfg = batch.config
    n_feat, n_cand = len(batch), len(batch.candidate_ids)
    restarts = min(cfg.restarts, n_cand)
    n_guided = min(max(cfg.start_guided, restarts), n_cand)
    guides = guide(batch) if guides is None else guides  # [F, C]
    guided = guides.topk(n_guided, dim=-1).indices.cpu()  # [F, G]
    prior = batch.prior_contrast.topk(min(cfg.start_prior, n_cand), dim=-1).indices.cpu()  # [F, P]
    probes = [torch.randperm(n_cand, generator=g)[:cfg.start_probes] for g in batch.generators]
    pools = [torch.cat([guided[f], prior[f], probes[f]]).unique() for f in range(n_feat)]
    feature = torch.cat([torch.full((len(p),), f) for f, p in enumerate(pools)])
    # rank by separation (AUROC), not loss: an uninformative token ("a") has a fair loss but separates
    # nothing, while a near miss ("mammal" for animal) separates partly and sits next to the answer;
    # on a few rows many tokens separate perfectly, and the loss orders those
    answers = batch.hard_answers(feature, torch.cat(pools), rowset="probe")
    sizes = [len(p) for p in pools]
    separation = batch.separation_of(answers).split(sizes)
    loss = batch.balanced_loss(feature, torch.cat(pools), answers).split(sizes)
    out = []
    for pool, sep, los in zip(pools, separation, loss):
        order = sorted(range(len(pool)), key=lambda i: (-float(sep[i]), float(los[i])))
        out.append(pool[order[:restarts]])
    return torch.stack([torch.cat([o, o[:1].expand(cfg.restarts - len(o))]) for o in out])  # pad if C < R


def discrete_search(batch: FeatureBatch, start: torch.Tensor, guides: torch.Tensor | None = None) -> DiscreteResult:
    cfg = batch.config
    n_feat, restarts = start.shape
    n_cand = len(batch.candidate_ids)
    k = min(cfg.discrete_topk, n_cand - 1)
    feature_of = torch.arange(n_feat)[:, None].expand(n_feat, restarts)  # [F, R]
    tokens = start.clone()
    scored: list[dict[int, float]] = [{} for _ in range(n_feat)]  # per feature: token -> exact loss
    screened: list[dict[int, tuple]] = [{} for _ in range(n_feat)]  # token -> (screen loss, rows, answers)
    losses = _exact(batch, scored, feature_of.reshape(-1), tokens.reshape(-1)).view(n_feat, restarts)
    active = torch.ones(n_feat, restarts, dtype=torch.bool)
    misses = torch.zeros(n_feat, restarts, dtype=torch.long)  # iterations in a row without a better token
    iterations = torch.zeros(n_feat, dtype=torch.long)
    history = [(tokens.clone(), losses.clone(), active.clone())]  # [F, R] each: a few ints per iteration
    if guides is None and k >= 1:  # [F, C]; the caller passes the one `starts` used (a gradient pass)
        guides = guide(batch)

    for _ in range(cfg.discrete_max_iters):
        if not active.any() or k < 1:
            break
        rows = batch.sample_rows()  # drawn for every feature each iteration: keeps draws batch-invariant
        f_idx, r_idx = active.nonzero(as_tuple=True)  # the labels still searching, [L]
        one_hot = F.one_hot(tokens[f_idx, r_idx].to(batch.W_cand.device), n_cand).float()
        one_hot.requires_grad_(True)  # [L, C]
        pred = batch.step_loss(f_idx, one_hot @ batch.W_cand, rows)  # [L]
        naturalness = -(one_hot * batch.log_q[f_idx.to(batch.log_q.device)]).sum(-1)  # one-hot KL
        (pred + cfg.kl_weight * naturalness).sum().backward()
        # steepest descent directions, with the feature's guide: see the module's docstring
        score = standardized(-one_hot.grad) + guides[f_idx.to(guides.device)]  # [L, C]
        current = tokens[f_idx, r_idx][:, None].to(score.device)
        score.scatter_(1, current, -float("inf"))  # never propose the current token
        proposals = score.topk(k, dim=-1).indices.cpu()  # [L, k]

        proposed = _screened(batch, scored, screened, f_idx, proposals)  # [L, k]
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

    return DiscreteResult(tokens, losses, [set(d) for d in scored], iterations, history)


def _screened(batch: FeatureBatch, scored: list[dict[int, float]], screened: list[dict[int, tuple]],
              feature: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
    """Exact losses on all evaluation rows of proposals [L, k] of labels of `feature` [L]; inf for those
    screened out. Each label's proposals are scored on the screening half of the rows first and only its
    `discrete_confirm` best (by that partial loss) on the other half: most proposals are clearly worse,
    and half the rows show it."""
    n_labels, k = proposals.shape
    confirm = batch.config.discrete_confirm
    if confirm >= k:  # nothing to screen out
        return _exact(batch, scored, feature.repeat_interleave(k), proposals.reshape(-1)).view(n_labels, k)
    pairs = [(f, t) for f, row in zip(feature.tolist(), proposals.tolist()) for t in row]
    new = sorted({(f, t) for f, t in pairs if t not in scored[f] and t not in screened[f]})
    if new:
        f_new, t_new = torch.tensor(new).T
        answers = batch.hard_answers(f_new, t_new, "screen")
        for (f, t), loss, (rows, ans) in zip(new, batch.balanced_loss(f_new, t_new, answers).tolist(), answers):
            screened[f][t] = (loss, rows, ans)
    # per label, the `confirm` unconfirmed proposals with the lowest screening loss
    to_confirm = set()
    for f, row in zip(feature.tolist(), proposals.tolist()):
        open_ = sorted((screened[f][t][0], t) for t in set(row) if t not in scored[f])
        to_confirm.update((f, t) for _, t in open_[:confirm])
    if to_confirm:
        pending = sorted(to_confirm)
        f_new, t_new = torch.tensor(pending).T
        rest = batch.hard_answers(f_new, t_new, "confirm")
        joined = [(torch.cat([screened[f][t][1], rows]), torch.cat([screened[f][t][2], ans]))
                  for (f, t), (rows, ans) in zip(pending, rest)]
        for (f, t), loss in zip(pending, batch.balanced_loss(f_new, t_new, joined).tolist()):
            scored[f][t] = loss
            del screened[f][t]
    inf = float("inf")
    return torch.tensor([scored[f].get(t, inf) for f, t in pairs]).view(n_labels, k)


def _exact(batch: FeatureBatch, scored: list[dict[int, float]], feature: torch.Tensor,
           token: torch.Tensor) -> torch.Tensor:
    """Exact losses of (feature, token) pairs [Q], scoring only pairs not scored before (restarts and
    iterations propose the same tokens often)."""
    pairs = list(zip(feature.tolist(), token.tolist()))
    new = sorted({(f, t) for f, t in pairs if t not in scored[f]})
    if new:
        f_new, t_new = torch.tensor(new).T
        for (f, t), loss in zip(new, batch.exact_loss(f_new, t_new).tolist()):
            scored[f][t] = loss
    return torch.tensor([scored[f][t] for f, t in pairs])
