"""SAEs with a known flow between them, for tests and demonstrations: the truth is planted, so a matcher's
answer can be checked exactly.

    sae = planted_sae(w_dec, "blocks.3.hook_resid_post")      # a StandardSAE whose decoder is w_dec
    w_b, truth = permuted_copy(w_a, noise=0.2, seed=0)         # w_b[truth[i]] is w_a[i], moved a little
"""

from __future__ import annotations

import torch
from sae_lens import JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig
from sae_lens.saes.sae import SAEMetadata


def planted_sae(w_dec: torch.Tensor, hook_name: str, *, jumprelu: bool = False, **metadata) -> StandardSAE:
    """An sae_lens SAE at `hook_name` whose decoder is `w_dec` `[d_sae, d_in]` and whose encoder is its
    transpose (so `encode` reads each direction back); JumpReLU with unit thresholds if `jumprelu`."""
    d_sae, d_in = w_dec.shape
    meta = SAEMetadata(hook_name=hook_name, **metadata)
    if jumprelu:
        sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=d_in, d_sae=d_sae, metadata=meta))
    else:
        sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=d_sae, metadata=meta))
    with torch.no_grad():
        sae.W_dec.copy_(w_dec)
        sae.W_enc.copy_(w_dec.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
        if jumprelu:
            sae.threshold.fill_(1.0)
    return sae.eval()


def random_directions(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """`[n, d]` random unit rows (Gaussian, normalised)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, d, generator=g)
    return w / w.norm(dim=1, keepdim=True)


def permuted_copy(w: torch.Tensor, *, noise: float = 0.2, rotation: float = 0.05, seed: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """A second dictionary holding every row of `w` at a new, random index, each moved a little.

    Returns `(w_b, truth)` with `w_b[truth[i]]` the image of `w[i]`: the rows are turned together by a small
    random rotation (exp of a skew-symmetric matrix scaled by `rotation`), get Gaussian noise of relative norm
    about `noise`, and are rescaled by a random factor in [0.5, 2] (cosine must not care about norms).
    """
    g = torch.Generator().manual_seed(seed)
    n, d = w.shape
    skew = torch.randn(d, d, generator=g)
    q = torch.linalg.matrix_exp(rotation * (skew - skew.T) / d**0.5)  # [d, d], orthogonal, near identity
    moved = w @ q  # [n, d]
    moved = moved + noise * moved.norm(dim=1, keepdim=True) * torch.randn(n, d, generator=g) / d**0.5
    moved = moved * (0.5 + 1.5 * torch.rand(n, 1, generator=g))
    truth = torch.randperm(n, generator=g)  # feature i of w lands at index truth[i]
    w_b = torch.empty_like(moved)
    w_b[truth] = moved
    return w_b, truth
