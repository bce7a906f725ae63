"""Cumulative steering over a flow graph: every node's feature, with a coefficient that depends on its layer.

    feats = graph_features(graph, saes, 8.0, schedule=Schedule("exponential", alpha=-0.05), layers=range(0, 13))
    with steer(model, feats): ...

The paper (Laptev et al. 2025, section 5) steers the flow graph's features at several layers at once
(cumulative: all layers up to l; single layer: only l) with a coefficient per layer:
constant `s`; exponential `s * exp(alpha * l)` (alpha = -0.05 in the paper; l the block index); linear from
`s` at the first steered layer to `end` (their s* = 1) at the last. With `threshold_scaling` each strength is
multiplied by the feature's JumpReLU threshold ("folding" the threshold into the decoder row), so one `s`
means a step of similar size relative to each feature's typical activation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "exponential", "linear")


@dataclass(frozen=True)
class Schedule:
    kind: str = "constant"
    alpha: float = -0.05  # exponential: s * exp(alpha * layer)
    end: float = 1.0  # linear: the coefficient at the last steered layer

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise ValueError(f"Schedule.kind must be one of {SCHEDULES}, got {self.kind!r}")

    def coefficient(self, s: float, layer: int, first: int, last: int) -> float:
        if self.kind == "constant":
            return s
        if self.kind == "exponential":
            return s * math.exp(self.alpha * layer)
        if last == first:
            return s
        return s + (self.end - s) * (layer - first) / (last - first)


def graph_features(graph, saes, strength: float, *, schedule: Schedule = Schedule(), layers=None,
                   kinds=("resid", "mlp", "attn"), threshold_scaling: bool = False) -> list[tuple]:
    """`(sae, feature, coefficient)` for every node of `graph` (a flow graph) whose block index is in `layers`
    (None: all) and whose kind is in `kinds`, ready for `steer`. `saes` maps hook names to SAEs."""
    layers = None if layers is None else set(layers)
    nodes = [(n, d) for n, d in graph.nodes(data=True)
             if d["kind"] in kinds and (layers is None or d["layer"] in layers)]
    if not nodes:
        raise ValueError(f"no node of the graph is at layers {sorted(layers) if layers else 'any'} with kinds {kinds}")
    first = min(d["layer"] for _, d in nodes)
    last = max(d["layer"] for _, d in nodes)
    out = []
    for _, d in sorted(nodes, key=lambda nd: nd[1]["position"]):
        if d["hook_name"] not in saes:
            raise ValueError(f"no SAE given for the graph's hook {d['hook_name']!r}")
        sae = saes[d["hook_name"]]
        c = schedule.coefficient(strength, d["layer"], first, last)
        if threshold_scaling:
            threshold = getattr(sae, "threshold", None)
            if threshold is None:
                raise ValueError(f"threshold_scaling needs JumpReLU SAEs; the SAE at {d['hook_name']!r} is "
                                 f"{type(sae).__name__}")
            c *= float(threshold[d["feature"]].detach())
        out.append((sae, d["feature"], c))
    return out
