"""Where a residual feature comes from: its best match in the residual one block earlier and in the block's MLP
and attention outputs, and the origin class these scores imply (Laptev et al. 2025, section 3).

    origins = predecessors(sae_l, [14548], residual=sae_prev, mlp=sae_mlp, attention=sae_attn)
    origins[0].origin        # "translated", "processed_by_mlp", "newborn_in_attention", ...
    origins[0].residual      # Link(hook_name, feature, score): the top-1 match in the previous residual

The paper names the classes but gives no numbers ("specific for each layer"): the thresholds here are ours
and configurable. A score is only meaningful against chance: a random direction's best cosine among n random
directions of width d is about sqrt(2 ln n / d) (`chance_score`): 0.13 for Gemma Scope's 16k features of
width 2304, 0.31 for the toy world's 512 of width 128. Set the thresholds above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sae_gd_labeler.flow.matching import match
from sae_gd_labeler.flow.sites import Site, check_predecessor, check_residual

ORIGINS = {
    "translated": "carried over from the previous residual; neither module adds a matching direction",
    "processed_by_mlp": "in the previous residual, and the MLP writes a matching direction too",
    "processed_by_attention": "in the previous residual, and attention writes a matching direction too",
    "newborn_in_mlp": "not in the previous residual; the MLP writes it",
    "newborn_in_attention": "not in the previous residual; attention writes it",
    "unexplained": "no source scores above its threshold",
}


@dataclass(frozen=True)
class OriginThresholds:
    """A link counts when its cosine is at least this.

    residual: the previous residual's match (the paper cuts flow graphs where it falls below 0.5).
    module: the MLP / attention match (the paper keeps module nodes above 0.15 in steering graphs and used
        0.25 for MLP nodes in a displayed graph; 0.25 is the default here, safer against chance).
    """

    residual: float = 0.5
    module: float = 0.25

    def __post_init__(self):
        for name in ("residual", "module"):
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"OriginThresholds.{name} must be a cosine in [-1, 1], got {value!r}")


@dataclass(frozen=True)
class Link:
    hook_name: str
    feature: int
    score: float  # decoder cosine


@dataclass(frozen=True)
class Origin:
    hook_name: str
    feature: int
    residual: Link | None  # None: no previous-residual SAE given
    mlp: Link | None
    attention: Link | None
    origin: str  # a key of ORIGINS


def chance_score(d_in: int, d_sae: int) -> float:
    """About the best cosine a random direction reaches among `d_sae` random directions of width `d_in`."""
    return math.sqrt(2 * math.log(max(d_sae, 2)) / d_in)


def classify(residual: float | None, mlp: float | None, attention: float | None,
             thresholds: OriginThresholds = OriginThresholds()) -> str:
    """The origin class of one feature from its three scores (None: that SAE was not given)."""
    in_residual = residual is not None and residual >= thresholds.residual
    modules = {name: s for name, s in (("mlp", mlp), ("attention", attention))
               if s is not None and s >= thresholds.module}
    if not modules:
        return "translated" if in_residual else "unexplained"
    best = max(modules, key=modules.get)  # both high: the stronger one names the class
    return f"processed_by_{best}" if in_residual else f"newborn_in_{best}"


def predecessors(target, features=None, *, residual=None, mlp=None, attention=None,
                 thresholds: OriginThresholds = OriginThresholds(), block_size: int = 4096) -> list[Origin]:
    """The top-1 predecessor of each feature of the residual SAE `target` (all features, or `features`) in
    each given source SAE, and its origin class. Sources are checked against the target's hook: the residual
    one block earlier, the MLP / attention output of the block in between."""
    site = Site.of_sae(target)
    check_residual(site, "target")
    sources = {"resid": residual, "mlp": mlp, "attn": attention}
    if all(s is None for s in sources.values()):
        raise ValueError("give at least one source SAE: residual=, mlp= or attention=")
    features = list(range(target.cfg.d_sae)) if features is None else list(features)
    links: dict[str, list[Link | None]] = {}
    for role, sae in sources.items():
        if sae is None:
            links[role] = [None] * len(features)
            continue
        src = Site.of_sae(sae)
        check_predecessor(site, src, role)
        idx, score = match(target, sae, k=1, features=features, block_size=block_size)  # [n, 1] each
        links[role] = [Link(src.hook_name, int(i), float(s)) for i, s in zip(idx[:, 0], score[:, 0])]
    out = []
    for n, f in enumerate(features):
        r, m, a = links["resid"][n], links["mlp"][n], links["attn"][n]
        kind = classify(r and r.score, m and m.score, a and a.score, thresholds)
        out.append(Origin(site.hook_name, int(f), r, m, a, kind))
    return out
