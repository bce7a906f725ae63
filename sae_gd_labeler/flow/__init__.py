"""Feature flow across layers (Laptev et al. 2025, arXiv 2502.03032): match SAE features of consecutive layers
by decoder cosine, tell where a residual feature comes from, chain the links into a flow graph, check them
by deactivation on real activations, label the graph's nodes and export or plot it.

    from sae_gd_labeler.flow import match, predecessors, flow_graph
    indices, scores = match(sae_a, sae_b, k=1)

Names load on first use, so the command line can parse arguments before torch is imported.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "match": "sae_gd_labeler.flow.matching",
    "decoder_rows": "sae_gd_labeler.flow.matching",
    "predecessors": "sae_gd_labeler.flow.origins",
    "OriginThresholds": "sae_gd_labeler.flow.origins",
    "Origin": "sae_gd_labeler.flow.origins",
    "Link": "sae_gd_labeler.flow.origins",
    "ORIGINS": "sae_gd_labeler.flow.origins",
    "Site": "sae_gd_labeler.flow.sites",
    "flow_graph": "sae_gd_labeler.flow.graph",
    "residual_chain": "sae_gd_labeler.flow.graph",
    "to_attribution_graph": "sae_gd_labeler.flow.export",
    "write_attribution_graph": "sae_gd_labeler.flow.export",
    "plot_flow_graph": "sae_gd_labeler.flow.plot",
    "deactivation_check": "sae_gd_labeler.flow.deactivation",
    "DeactivationResult": "sae_gd_labeler.flow.deactivation",
    "label_flow_graph": "sae_gd_labeler.flow.labeling",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
