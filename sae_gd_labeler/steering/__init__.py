"""Steering generation with SAE features (Laptev et al. 2025, and Neuronpedia's additive semantics): one
feature, or every feature of a flow graph with a per-layer coefficient schedule.

    from sae_gd_labeler.steering import steer
    with steer(model, [(sae, 17, 8.0)]):
        model.generate("the", max_new_tokens=20)

Names load on first use, so the command line can parse arguments before torch is imported.
"""

from __future__ import annotations

from sae_gd_labeler.lazy_exports import lazy_exports

_PUBLIC = {
    "steer": "context",
    "MODES": "context",
    "Schedule": "schedule",
    "graph_features": "schedule",
    "run_steering_bench": "bench",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
