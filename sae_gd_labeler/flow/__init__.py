"""Feature flow across layers (Laptev et al. 2025, arXiv 2502.03032): match SAE features of consecutive layers
by decoder cosine, tell where a residual feature comes from, chain the links into a flow graph, check them
by deactivation on real activations, label the graph's nodes and export or plot it.

    from sae_gd_labeler.flow import match, predecessors, flow_graph
    indices, scores = match(sae_a, sae_b, k=1)

Names load on first use, so the command line can parse arguments before torch is imported.
"""

from __future__ import annotations

from sae_gd_labeler.lazy_exports import lazy_exports

_PUBLIC = {
    "match": "matching",
    "decoder_rows": "matching",
    "predecessors": "origins",
    "OriginThresholds": "origins",
    "Origin": "origins",
    "Link": "origins",
    "ORIGINS": "origins",
    "Site": "sites",
    "flow_graph": "graph",
    "residual_chain": "graph",
    "to_attribution_graph": "export",
    "write_attribution_graph": "export",
    "plot_flow_graph": "plot",
    "deactivation_check": "deactivation",
    "DeactivationResult": "deactivation",
    "label_flow_graph": "labeling",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
