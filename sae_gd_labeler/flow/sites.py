"""Where an SAE sits in the model, read from its TransformerLens hook name, and which sites may feed which.

    site = Site.of("blocks.7.hook_mlp_out")   # Site(layer=7, kind="mlp", ...)

The residual stream is a line of positions: `blocks.L.hook_resid_pre` is at L, `hook_resid_mid` at L + 0.5,
`hook_resid_post` at L + 1 (= `blocks.L+1.hook_resid_pre`). Block L's attention adds its output between L
and L + 0.5, its MLP between L + 0.5 and L + 1. A residual feature at position p can come from the residual
one step before (p - 1) and from the modules that write into (p - 1, p]: for `blocks.L.hook_resid_post`,
`blocks.L-1.hook_resid_post` (or `blocks.L.hook_resid_pre`), `blocks.L.hook_attn_out` and
`blocks.L.hook_mlp_out`, as in the paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(r"^blocks\.(\d+)\.(hook_resid_pre|hook_resid_mid|hook_resid_post|hook_attn_out|hook_mlp_out"
                      r"|attn\.hook_z)$")
_KIND = {"hook_resid_pre": "resid", "hook_resid_mid": "resid", "hook_resid_post": "resid",
         "hook_attn_out": "attn", "attn.hook_z": "attn", "hook_mlp_out": "mlp"}
# Residual position of each hook (residuals) or of the point where the module's output is added (modules).
_OFFSET = {"hook_resid_pre": 0.0, "hook_resid_mid": 0.5, "hook_resid_post": 1.0,
           "hook_attn_out": 0.5, "attn.hook_z": 0.5, "hook_mlp_out": 1.0}
KINDS = ("resid", "mlp", "attn")


@dataclass(frozen=True)
class Site:
    hook_name: str
    layer: int  # the block index in the hook name
    kind: str  # "resid", "mlp" or "attn"
    position: float  # on the residual line (see the module docstring)

    @classmethod
    def of(cls, hook_name: str) -> Site:
        m = _PATTERN.match(hook_name or "")
        if m is None:
            raise ValueError(f"unknown hook {hook_name!r} for feature flow: expected blocks.L.hook_resid_pre / "
                             "hook_resid_mid / hook_resid_post / hook_attn_out / hook_mlp_out / attn.hook_z")
        layer, point = int(m.group(1)), m.group(2)
        return cls(hook_name, layer, _KIND[point], layer + _OFFSET[point])

    @classmethod
    def of_sae(cls, sae) -> Site:
        return cls.of(sae.cfg.metadata.hook_name)


def check_residual(site: Site, role: str) -> None:
    if site.kind != "resid":
        raise ValueError(f"the {role} SAE must be on the residual stream, got {site.hook_name!r}")


def check_predecessor(target: Site, source: Site, role: str) -> None:
    """Refuse a source that cannot feed `target` directly (see the module docstring)."""
    if source.kind == "resid":
        ok = source.position == target.position - 1
        want = "the residual one block earlier (e.g. blocks.L-1.hook_resid_post for blocks.L.hook_resid_post)"
    else:
        ok = target.position - 1 < source.position <= target.position
        want = "a module of the block that writes into the target's residual (blocks.L.hook_mlp_out / " \
               "hook_attn_out for blocks.L.hook_resid_post)"
    if source.kind != role:
        raise ValueError(f"the {role} SAE is on {source.hook_name!r}, which is a {source.kind} site")
    if not ok:
        raise ValueError(f"{source.hook_name!r} cannot feed {target.hook_name!r} directly: expected {want}")
