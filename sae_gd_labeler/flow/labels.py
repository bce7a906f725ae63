"""Labels on flow-graph nodes: read them from a mapping or from the nodes, in one shape for export and plots.

A label value may be a `FeatureLabel`, a dict in `FeatureLabel.to_dict()` form, or a plain string.
"""

from __future__ import annotations

import math


def label_info(value) -> tuple[str | None, float | None]:
    """(label, held-out balanced accuracy) of a FeatureLabel-like value; None where unknown."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict):
        label, metrics = value.get("label"), value.get("metrics") or {}
    else:
        label, metrics = getattr(value, "label", None), getattr(value, "metrics", None) or {}
    score = metrics.get("balanced_accuracy")
    score = None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score)
    return label, score


def node_label(graph, node, labels=None) -> tuple[str | None, float | None]:
    """The node's (label, held-out balanced accuracy): from `labels[node]` if given, else its attributes."""
    if labels is not None and node in labels:
        return label_info(labels[node])
    d = graph.nodes[node]
    return d.get("label"), d.get("heldout_balanced_accuracy")
