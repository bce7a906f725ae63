"""Steering generation with SAE features (Laptev et al. 2025, and Neuronpedia's additive semantics): one
feature, or every feature of a flow graph with a per-layer coefficient schedule.

    from sae_gd_labeler.steering import steer
    with steer(model, [(sae, 17, 8.0)]):
        model.generate("the", max_new_tokens=20)

Names load on first use, so the command line can parse arguments before torch is imported.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "steer": "sae_gd_labeler.steering.context",
    "MODES": "sae_gd_labeler.steering.context",
    "Schedule": "sae_gd_labeler.steering.schedule",
    "graph_features": "sae_gd_labeler.steering.schedule",
    "run_steering_bench": "sae_gd_labeler.steering.bench",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
