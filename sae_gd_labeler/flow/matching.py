"""Data-free feature matching: for every feature of one SAE, its nearest features in another by decoder cosine.

    indices, scores = match(sae_a, sae_b, k=1)        # [d_sae_a, k] each

A feature's direction is its decoder row (`W_dec` is `[d_sae, d_in]` in sae_lens), unit-normalised; the
score of a pair is the cosine of their directions (Laptev et al. 2025, "Analyze Feature Flow", and SAE Match
before it). The full similarity matrix of two 65,536-feature dictionaries is 16 GB in float32, so it is
never built: rows of `sae_a` are taken `block_size` at a time, columns of `sae_b` likewise, and each block's
top-k is merged into a running top-k. Peak extra memory is about `block_size**2` scores plus two blocks of
decoder rows, whatever the dictionaries' sizes, on CPU or GPU (rows are moved to `device` block by block).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch


def decoder_rows(sae_or_w_dec) -> torch.Tensor:
    """The decoder matrix `[d_sae, d_in]` of an sae_lens SAE (anything with `W_dec`) or a tensor."""
    w = getattr(sae_or_w_dec, "W_dec", sae_or_w_dec)
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        raise ValueError(f"expected an SAE with W_dec [d_sae, d_in] or a 2-D tensor, got {type(sae_or_w_dec).__name__}")
    return w.detach()


@torch.no_grad()
def match(sae_a, sae_b, k: int = 1, *, features: Sequence[int] | torch.Tensor | None = None,
          block_size: int = 4096, device: torch.device | str | None = None,
          dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k features of `sae_b` for every feature of `sae_a` (or only `features`), by decoder cosine.

    Returns `(indices, scores)`, both `[n, k]` on the CPU (n = d_sae_a, or len(features)), best first:
    `indices` int64 into sae_b's features, `scores` float32 cosines in [-1, 1]. The scores are signed: the
    paper keeps only positive links, which a caller gets by thresholding (`scores > 0`). A feature with a
    zero decoder row scores 0 against everything.

    `block_size` bounds memory (about `block_size**2 * 4` bytes of scores per block); `device` is where the
    products run (default: where sae_a's decoder lives); `dtype` the product's precision (float32, or
    bfloat16 / float16 on GPU for speed; scores are always returned in float32).
    """
    w_a, w_b = decoder_rows(sae_a), decoder_rows(sae_b)  # [n_a, d_in], [n_b, d_in]
    if w_a.shape[1] != w_b.shape[1]:
        raise ValueError(f"the SAEs' decoders have different widths (d_in {w_a.shape[1]} and {w_b.shape[1]}): "
                         "only features of the same space can be matched. Attention SAEs on hook_z live in "
                         "head space (n_heads * d_head), not in the residual stream's d_model")
    n_b = w_b.shape[0]
    if not isinstance(k, int) or not 1 <= k <= n_b:
        raise ValueError(f"k must be an integer in [1, {n_b}] (sae_b's d_sae), got {k!r}")
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    rows = _feature_index(features, w_a.shape[0])  # [n] or None for all
    device = torch.device(device) if device is not None else w_a.device
    n = w_a.shape[0] if rows is None else rows.numel()

    # Norms once, in float32; rows are normalised block by block so no normalised copy of a whole
    # dictionary is ever held.
    inv_a = 1.0 / torch.linalg.vector_norm(w_a.float(), dim=1).clamp_min(1e-12)  # [n_a]
    inv_b = 1.0 / torch.linalg.vector_norm(w_b.float(), dim=1).clamp_min(1e-12)  # [n_b]

    out_idx = torch.empty(n, k, dtype=torch.long)
    out_score = torch.empty(n, k, dtype=torch.float32)
    for i in range(0, n, block_size):
        sel = torch.arange(i, min(i + block_size, n)) if rows is None else rows[i:i + block_size]
        a = _unit_block(w_a, inv_a, sel, device, dtype)  # [ba, d_in]
        best_score = torch.full((a.shape[0], k), -float("inf"), device=device)  # [ba, k]
        best_idx = torch.zeros((a.shape[0], k), dtype=torch.long, device=device)  # [ba, k]
        for j in range(0, n_b, block_size):
            cols = torch.arange(j, min(j + block_size, n_b))
            b = _unit_block(w_b, inv_b, cols, device, dtype)  # [bb, d_in]
            sim = (a @ b.T).float()  # [ba, bb]
            kk = min(k, sim.shape[1])
            s, ix = sim.topk(kk, dim=1)  # [ba, kk]
            # Merge with the running top-k: the best k of (k kept) + (kk new) candidates.
            cand_s = torch.cat([best_score, s], dim=1)  # [ba, k + kk]
            cand_i = torch.cat([best_idx, ix + j], dim=1)  # [ba, k + kk]
            best_score, pos = cand_s.topk(k, dim=1)  # [ba, k]
            best_idx = cand_i.gather(1, pos)  # [ba, k]
        out_score[i:i + a.shape[0]] = best_score.cpu()
        out_idx[i:i + a.shape[0]] = best_idx.cpu()
    return out_idx, out_score


def _unit_block(w: torch.Tensor, inv_norm: torch.Tensor, sel: torch.Tensor, device, dtype) -> torch.Tensor:
    """Rows `sel` of `w`, unit-normalised in float32, then cast to `dtype` on `device`."""
    sel = sel.to(w.device)
    block = w[sel].float() * inv_norm[sel, None]  # [b, d_in]
    return block.to(device=device, dtype=dtype)


def _feature_index(features, d_sae: int) -> torch.Tensor | None:
    if features is None:
        return None
    if isinstance(features, torch.Tensor):
        if features.dim() != 1 or features.is_floating_point() or features.is_complex():
            raise ValueError(f"features must be a 1-D integer tensor of feature ids, got {features!r}")
        index = features.long().cpu()
    else:
        features = list(features)
        if not all(isinstance(f, numbers.Integral) and not isinstance(f, bool) for f in features):
            raise ValueError(f"features must be integer feature ids, got {features[:5]!r}")
        index = torch.tensor([int(f) for f in features], dtype=torch.long)
    bad = index[(index < 0) | (index >= d_sae)]
    if bad.numel():
        raise ValueError(f"feature ids {bad.tolist()[:5]} are outside [0, {d_sae}) (sae_a's d_sae)")
    return index
