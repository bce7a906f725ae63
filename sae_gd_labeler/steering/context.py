"""Steer a model with SAE features while a context is open.

    with steer(model, [(sae, 4111, 40.0)]):              # add 40 * W_dec[4111] at sae's hook, every position
        text = model.generate("I think", max_new_tokens=30)
    with steer(model, [(sae, 4111, 0.0)], mode="rescale"):  # remove the feature where it is active
        ...

mode="add" adds `strength * W_dec[i]` to the activation at the SAE's hook at every position: Neuronpedia's
additive steering (strength times the decoder row, at the SAE's hook), so strengths carry across.
mode="rescale" multiplies the feature's own contribution by `strength` = r where it is active:
`h <- h + (r - 1) * a * d`, a = the SAE's activation of the feature at that token, d its decoder row
(r = 0 removes it, r < 0 reverses it, r > 1 amplifies it; the paper's suppression uses r in 0, -1, ..., -64).
Several features at one hook are applied together, each read from the unsteered activation. Hooks are
TransformerLens context hooks: they are gone when the context exits, by an error too.
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import torch

MODES = ("add", "rescale")


@contextmanager
def steer(model, features, *, mode: str = "add") -> Iterator:
    """Context manager: `features` is a list of `(sae, feature_index, strength)`; yields the model."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    by_hook = defaultdict(list)
    for item in features:
        sae, i, s = _check_feature(model, item)
        by_hook[sae.cfg.metadata.hook_name].append((sae, i, s))
    make = _adder if mode == "add" else _rescaler
    fwd_hooks = [(hook, make(items)) for hook, items in by_hook.items()]
    with model.hooks(fwd_hooks=fwd_hooks):
        yield model


def _check_feature(model, item):
    try:
        sae, i, s = item
    except (TypeError, ValueError):
        raise ValueError(f"each steering feature is a (sae, feature_index, strength) triple, got {item!r}") from None
    hook = sae.cfg.metadata.hook_name
    if hook not in model.hook_dict:
        raise ValueError(f"unknown hook {hook!r}: the model has no such hook point (is the SAE for this model?)")
    if not isinstance(i, numbers.Integral) or not 0 <= int(i) < sae.cfg.d_sae:
        raise ValueError(f"feature id {i!r} is outside [0, {sae.cfg.d_sae}) (d_sae of the SAE at {hook!r})")
    if not isinstance(s, numbers.Real) or not math.isfinite(float(s)):
        raise ValueError(f"strength must be a finite number, got {s!r}")
    return sae, int(i), float(s)


def _shape_like(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """A [..., d_in] tensor in the hook's layout: hook_z activations are [..., n_heads, d_head]."""
    return v.reshape(*v.shape[:-1], *h.shape[-2:]) if h.dim() == v.dim() + 1 else v


def _adder(items):
    vector = sum(s * sae.W_dec[i].detach() for sae, i, s in items)  # [d_in]

    def hook(h, hook):  # h: [B, T, d_in] (or [B, T, n_heads, d_head])
        return h + _shape_like(vector, h[0, 0]).to(h.dtype)

    return hook


def _rescaler(items):
    def hook(h, hook):  # h: [B, T, d_in] (or [B, T, n_heads, d_head])
        flat = h.flatten(2) if h.dim() == 4 else h  # [B, T, d_in]
        delta = torch.zeros_like(flat)
        for sae, i, r in items:  # each from the unsteered activation
            a = sae.encode(flat.to(sae.dtype))[..., i]  # [B, T]
            delta = delta + ((r - 1.0) * a[..., None] * sae.W_dec[i]).to(h.dtype)  # [B, T, d_in]
        return h + delta.reshape(h.shape)

    return hook
