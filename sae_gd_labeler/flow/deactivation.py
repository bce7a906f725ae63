"""The paper's deactivation check on real activations: does removing a predecessor switch its target off?

    results = deactivation_check(model, [(target_sae, 17, pred_sae, 203)], world.corpus)
    results[0].mean_relative_change, results[0].success_rate
    deactivation_check(model, [(target_sae, 17, [(res_sae, 203), (mlp_sae, 9)])], world.corpus)  # together

For each (target, predecessor) pair, occurrences where the target fires are sampled from the corpus (special
tokens excluded). At each, the predecessor's contribution is removed at its SAE's hook, at that token only
(`h <- h - a * d`, a its SAE activation there, d its decoder row: the paper's rescaling with r = 0), the model
runs on to the target's hook and the target is encoded again. Reported per pair, over its occurrences:
`mean_relative_change` = mean of (before - after) / before (1: switched off, 0: unchanged, negative:
strengthened), `success_rate` = share with a drop of at least `success_drop` (0.5 by default: our choice,
the paper does not state its criterion), `off_rate` = share where the target no longer fires at all,
`active_rate` = share where the predecessor was active there (where it is not, removing it changes nothing).
A pair may name several predecessors, `(target_sae, target_feature, [(sae, feature), ...])`: all are removed
at once (each read from the stream as it reaches its hook, so downstream of an earlier removal).
Laptev et al. (Table 1, Gemma-2-2B, top-1 cosine predecessors): mean change 0.75, success 65%.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch

from sae_gd_labeler.data.activations import feature_encoder
from sae_gd_labeler.data.corpus import iter_token_batches
from sae_gd_labeler.flow.sites import Site


@dataclass(frozen=True)
class DeactivationResult:
    target: tuple[str, int]  # (hook_name, feature)
    predecessors: tuple[tuple[str, int], ...]  # removed together
    n_occurrences: int
    mean_relative_change: float
    success_rate: float
    off_rate: float
    active_rate: float  # share of occurrences where a predecessor was active at all (else nothing to remove)

    @property
    def predecessor(self) -> tuple[str, int]:
        """The one predecessor of a single-predecessor check."""
        if len(self.predecessors) != 1:
            raise ValueError(f"this check removed {len(self.predecessors)} predecessors together: see .predecessors")
        return self.predecessors[0]


@torch.no_grad()
def deactivation_check(model, pairs, dataset, *, context_size: int | None = None, max_tokens: int | None = 50_000,
                       max_occurrences: int = 32, success_drop: float = 0.5, batch_rows: int = 128,
                       prepend_bos: bool | None = None, firing_threshold: float = 0.0,
                       seed: int = 0) -> list[DeactivationResult]:
    """One DeactivationResult per `(target_sae, target_feature, predecessor_sae, predecessor_feature)` (or
    `(target_sae, target_feature, [(predecessor_sae, predecessor_feature), ...])`) in `pairs`, in order.
    Occurrences are sampled where the target's activation is above `firing_threshold`.
    A target that never fires in the corpus gets n_occurrences 0 and NaN rates."""
    pairs = [_check_pair(model, *p) for p in pairs]  # (t_sae, t_f, ((p_sae, p_f), ...))
    meta = pairs[0][0].cfg.metadata if pairs else None
    context_size = context_size or (meta.context_size if meta else None) or model.cfg.n_ctx
    if prepend_bos is None:
        prepend_bos = meta.prepend_bos if meta is not None and meta.prepend_bos is not None else True
    tokens = torch.cat(list(iter_token_batches(dataset, model, context_size, 64, prepend_bos,
                                               max_tokens=max_tokens)))  # [N, T]
    special = torch.tensor(sorted(getattr(model.tokenizer, "all_special_ids", []) or []), dtype=torch.long)
    valid = ~torch.isin(tokens, special)  # [N, T]
    g = torch.Generator().manual_seed(seed)

    # Clean pass: where each target fires, and how strongly.
    occurrences = {}  # (target hook, feature) -> (seq [n], pos [n], act [n])
    targets = defaultdict(set)
    for t_sae, t_f, _ in pairs:
        targets[t_sae].add(t_f)
    for t_sae, feats in targets.items():
        feats = sorted(feats)
        acts = _encode_at_hook(model, t_sae, feats, tokens)  # [N, T, F]
        for j, f in enumerate(feats):
            seq, pos = torch.nonzero((acts[..., j] > firing_threshold) & valid, as_tuple=True)  # [n] each
            keep = torch.randperm(seq.numel(), generator=g)[:max_occurrences]
            occurrences[(t_sae.cfg.metadata.hook_name, f)] = (seq[keep], pos[keep], acts[seq[keep], pos[keep], j])

    results = []
    for t_sae, t_f, preds in pairs:
        seq, pos, before = occurrences[(t_sae.cfg.metadata.hook_name, t_f)]
        parts = [_ablated(model, t_sae, t_f, preds, tokens[seq[i:i + batch_rows]], pos[i:i + batch_rows])
                 for i in range(0, seq.numel(), batch_rows)]
        after = torch.cat([a for a, _ in parts]) if parts else torch.empty(0)  # [n]
        active = torch.cat([r for _, r in parts]) if parts else torch.empty(0, dtype=torch.bool)  # [n]
        change = (before - after) / before  # [n]
        n = int(seq.numel())
        nan = float("nan")
        results.append(DeactivationResult(
            (t_sae.cfg.metadata.hook_name, t_f), tuple((p.cfg.metadata.hook_name, f) for p, f in preds), n,
            change.mean().item() if n else nan, (change >= success_drop).float().mean().item() if n else nan,
            (after <= 0).float().mean().item() if n else nan, active.float().mean().item() if n else nan))
    return results


_RATES = ("mean_relative_change", "success_rate", "off_rate", "active_rate")


def summarize(results: list[DeactivationResult]) -> dict:
    """Means over the pairs that had occurrences (each pair counts once, as each feature does in the paper)."""
    done = [r for r in results if r.n_occurrences]
    if not done:
        return {"n_pairs": 0, **{k: float("nan") for k in _RATES}}
    return {"n_pairs": len(done), "n_occurrences": sum(r.n_occurrences for r in done),
            **{k: sum(getattr(r, k) for r in done) / len(done)
               for k in _RATES}}


def _check_pair(model, t_sae, t_f, *rest):
    preds = [tuple(p) for p in rest[0]] if len(rest) == 1 else [tuple(rest)]
    if not preds or any(len(p) != 2 for p in preds):
        raise ValueError("a pair is (target_sae, target_feature, predecessor_sae, predecessor_feature) or "
                         "(target_sae, target_feature, [(predecessor_sae, predecessor_feature), ...])")
    t_site = Site.of_sae(t_sae)
    for sae, f, role in ((t_sae, t_f, "target"), *((p, f, "predecessor") for p, f in preds)):
        if sae.cfg.metadata.hook_name not in model.hook_dict:
            raise ValueError(f"the model has no hook {sae.cfg.metadata.hook_name!r} (the {role} SAE's hook)")
        if not 0 <= int(f) < sae.cfg.d_sae:
            raise ValueError(f"{role} feature {f} is outside [0, {sae.cfg.d_sae})")
    for p_sae, _ in preds:
        p_site = Site.of_sae(p_sae)
        if p_site.position > t_site.position or (p_site.position == t_site.position and p_site.kind == "resid"):
            raise ValueError(f"the predecessor at {p_site.hook_name!r} is not upstream of the target at "
                             f"{t_site.hook_name!r}: removing it cannot change the target")
    return t_sae, int(t_f), tuple((p, int(f)) for p, f in preds)


def _encode_at_hook(model, sae, feats: list[int], tokens: torch.Tensor, batch: int = 64) -> torch.Tensor:
    hook = sae.cfg.metadata.hook_name
    encode = feature_encoder(sae, feats)
    out = []
    for i in range(0, tokens.shape[0], batch):
        _, cache = model.run_with_cache(tokens[i:i + batch].to(model.cfg.device), names_filter=[hook],
                                        stop_at_layer=Site.of(hook).layer + 1, return_cache_object=False)
        out.append(encode(cache[hook].to(sae.device)).float().cpu())  # [b, T, F]
    return torch.cat(out)  # [N, T, F]


def _ablated(model, t_sae, t_f: int, preds, tokens: torch.Tensor, pos: torch.Tensor):
    """The target's activation at `pos` of each row when the predecessors are removed there (rows: [R, T]),
    and whether any predecessor was active there; both [R]."""
    rows = torch.arange(tokens.shape[0])
    active = torch.zeros(tokens.shape[0], dtype=torch.bool)
    read = {}

    def remover(group):
        def remove(h, hook):  # h: [R, T, d_in]
            nonlocal active
            x = h[rows, pos]  # [R, d_in]
            delta = torch.zeros_like(x)
            for p_sae, p_f in group:  # all read from the stream as it reaches this hook
                a = p_sae.encode(x.to(p_sae.device))[:, p_f]  # [R]
                active = active | (a > 0).cpu()
                delta = delta + (a[:, None] * p_sae.W_dec[p_f]).to(h.dtype)  # [R, d_in]
            h = h.clone()
            h[rows, pos] = x - delta
            return h
        return remove

    def capture(h, hook):
        read["x"] = h[rows, pos]  # [R, d_in]

    by_hook = defaultdict(list)
    for p_sae, p_f in preds:
        by_hook[p_sae.cfg.metadata.hook_name].append((p_sae, p_f))
    t_hook = t_sae.cfg.metadata.hook_name
    fwd_hooks = [(hook, remover(group)) for hook, group in by_hook.items()] + [(t_hook, capture)]
    model.run_with_hooks(tokens.to(model.cfg.device), stop_at_layer=Site.of(t_hook).layer + 1, fwd_hooks=fwd_hooks)
    after = t_sae.encode(read["x"].to(t_sae.device))[:, t_f]  # [R]
    return after.float().cpu(), active
