"""The seed paper's relaxation: a label is p = softmax(v) over the candidate tokens; descend on v.

All features x restarts of a batch are optimised together. Losses are summed over labels (not
averaged), so each label's gradient, and AdamW's per-parameter update, is what it would be alone.
The step loop does not synchronise with the host: minibatches are drawn before it, and what it records
stays on the device until it ends.

A label of K tokens (`label_tokens`) is K distributions, one per position, optimised together; its entropy
and naturalness terms are the means over the positions. Its hard candidates are, at each checkpoint, the
argmax label and every label that differs from it at one position, where it takes one of that position's
`soft_candidates` top tokens (for K = 1: the top tokens of p, as ever).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sae_gd_labeler.search.feature_batch import FeatureBatch
from sae_gd_labeler.search.objective import entropy, entropy_weight_at, kl_to_prior

SNAPSHOT_TOP = 20  # tokens of p kept per restart at each recorded step, for the trajectory figure
N_SNAPSHOTS = 30


@dataclass
class SoftResult:
    candidates: list[list[tuple[int, ...]]]  # per feature: labels proposed (K candidate indices each)
    final_top: torch.Tensor  # [F, R, K] argmax of p at the end, candidate indices
    snapshot_steps: list[int]
    snapshots: list[tuple[torch.Tensor, torch.Tensor]]  # per recorded step: top values, indices [F, R, K, k]
    steps: int


def soft_search(batch: FeatureBatch) -> SoftResult:
    cfg = batch.config
    n_feat, n_cand = len(batch), len(batch.candidate_ids)
    restarts, n_pos = cfg.restarts, cfg.label_tokens
    device = batch.W_cand.device
    # v ~ N(0, 1) as in the paper, drawn from each feature's own generator
    v = torch.stack([torch.randn(restarts, n_pos, n_cand, generator=g) for g in batch.generators]).to(device)
    v.requires_grad_(True)  # [F, R, K, C]
    opt = torch.optim.AdamW([v], lr=cfg.lr, weight_decay=cfg.weight_decay)
    checkpoints = {cfg.soft_steps * i // 4 for i in (1, 2, 3, 4)}
    record_every = max(1, cfg.soft_steps // N_SNAPSHOTS)
    snapshot_steps, snapshots, tops = [], [], []
    rows = batch.sample_steps(cfg.soft_steps)  # [S, F, B]

    for step in range(1, cfg.soft_steps + 1):
        loss = soft_loss(batch, v, rows[step - 1], step)  # [F, R]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()

        with torch.no_grad():
            if step % record_every == 0 or step == 1 or step == cfg.soft_steps:
                top = v.softmax(-1).topk(min(SNAPSHOT_TOP, n_cand), dim=-1)
                snapshot_steps.append(step)
                snapshots.append((top.values, top.indices))
            if step in checkpoints:
                tops.append(v.topk(min(cfg.soft_candidates, n_cand), dim=-1).indices)  # [F, R, K, k]

    return SoftResult(
        candidates=[sorted(set(_checkpoint_labels([top[f].cpu() for top in tops]))) for f in range(n_feat)],
        final_top=v.detach().argmax(-1).cpu(),
        snapshot_steps=snapshot_steps,
        snapshots=[(values.cpu(), indices.cpu()) for values, indices in snapshots],
        steps=cfg.soft_steps,
    )


def _checkpoint_labels(tops: list[torch.Tensor]) -> list[tuple[int, ...]]:
    """The hard labels one feature's checkpoints propose, from their top tokens [R, K, k] (best first): per
    restart and checkpoint, the labels that differ from the argmax label in at most one position, where they
    take one of that position's top tokens."""
    out = []
    for top in tops:
        for restart in top.tolist():  # [K][k]
            argmax = [position[0] for position in restart]
            for p, position in enumerate(restart):
                out += [tuple(argmax[:p] + [t] + argmax[p + 1:]) for t in position]
    return out


def soft_loss(batch: FeatureBatch, v: torch.Tensor, rows: torch.Tensor, step: int) -> torch.Tensor:
    """The paper's objective for label logits v [F, R, C] (or [F, R, K, C] for K-token labels) on minibatch
    rows [F, B] -> [F, R]: prediction loss + entropy_weight(step) * H(p) + kl_weight * KL(p || q),
    p = softmax(v); for K tokens the entropy and the KL are the means over the positions."""
    cfg = batch.config
    if v.dim() == 3:
        v = v[:, :, None]  # [F, R, 1, C]
    n_feat, restarts, n_pos, _ = v.shape
    p = v.softmax(-1)  # [F, R, K, C]
    embeds = (p @ batch.W_cand).reshape(n_feat * restarts, n_pos, -1)  # [F * R, K, d_model]
    feature_of_label = torch.arange(n_feat).repeat_interleave(restarts)  # [F * R]
    pred = batch.step_loss(feature_of_label, embeds, rows).view(n_feat, restarts)
    w_ent = entropy_weight_at(step, cfg.entropy_weight, cfg.entropy_warmup_steps)
    sharpness = entropy(p).mean(-1)  # [F, R]
    naturalness = kl_to_prior(p, batch.log_q[:, None, None, :]).mean(-1)  # [F, R]
    return pred + w_ent * sharpness + cfg.kl_weight * naturalness


def trajectory(result: SoftResult, feature: int, restart: int, n_tokens: int = 5) -> dict[tuple[int, int], list[float]]:
    """p over the recorded steps of the final top tokens of one restart, at every position:
    {(position, candidate index): [p, ...]}.

    A token outside the top SNAPSHOT_TOP at a step is recorded there as 0.
    """
    final_vals, final_idx = result.snapshots[-1]
    out: dict[tuple[int, int], list[float]] = {}
    for position, tokens in enumerate(final_idx[feature, restart, :, :n_tokens].tolist()):
        curves: dict[int, list[float]] = {t: [] for t in tokens}
        for values, indices in result.snapshots:
            row_vals = values[feature, restart, position].tolist()
            row_idx = indices[feature, restart, position].tolist()
            lookup = dict(zip(row_idx, row_vals))
            for t in tokens:
                curves[t].append(lookup.get(t, 0.0))
        out.update({(position, t): ps for t, ps in curves.items()})
    return out
