"""A flow graph as the attribution-graph JSON that circuit-tracer writes and Neuronpedia's graph viewer reads.

    data = to_attribution_graph(graph, labels, slug="toy-res1-17")
    write_attribution_graph(graph, "graph.json", labels)

The layout follows circuit-tracer's `frontend/graph_models.py`: top-level `metadata` (slug, scan,
transcoder_list, prompt_tokens, prompt, node_threshold, schema_version), `qParams` (pinnedIds, supernodes,
linkType, clickedId, sg_pos), `nodes` (node_id, feature, layer, ctx_idx, feature_type, jsNodeId, clerp,
influence, activation, ...) and `links` (source, target, weight). A flow graph has no prompt, so the three
"token positions" are the three kinds of site: ctx_idx 0 = attention output, 1 = MLP output, 2 = residual,
and the viewer draws them as three columns per layer. A node's `layer` is the block whose output it is part
of (resid_post L, mlp_out L, attn_out L -> "L"; resid_pre L -> "L-1", resid_pre 0 -> "E"). `clerp` is the
node's label; `sae_hook` (ours, ignored by the viewer) keeps the exact hook.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import networkx as nx

from sae_gd_labeler.flow.labels import node_label

COLUMNS = {"attn": 0, "mlp": 1, "resid": 2}


def to_attribution_graph(graph: nx.DiGraph, labels=None, *, slug: str | None = None, scan: str | None = None) -> dict:
    """The JSON-ready dict of `graph`; `labels` maps (hook_name, feature) to a FeatureLabel-like value
    (or the nodes carry `label` attributes from `label_flow_graph`)."""
    target = graph.graph.get("target")
    if slug is None:
        slug = f"flow-{target[0]}-{target[1]}" if target else "flow"
    ids = {n: _node_id(graph.nodes[n]) for n in graph.nodes}
    nodes = []
    for n, d in graph.nodes(data=True):
        label, score = node_label(graph, n, labels)
        nodes.append({
            "node_id": ids[n], "feature": d["feature"], "layer": _layer(d["position"]), "ctx_idx": COLUMNS[d["kind"]],
            "feature_type": "cross layer transcoder", "token_prob": 0.0, "is_target_logit": False,
            "run_idx": 0, "reverse_ctx_idx": 0, "jsNodeId": ids[n].rsplit("_", 1)[0] + f"-{COLUMNS[d['kind']]}",
            "clerp": label or "", "influence": None, "activation": None,
            "sae_hook": d["hook_name"], "heldout_balanced_accuracy": score,
        })
    links = [{"source": ids[u], "target": ids[v], "weight": float(e["weight"])} for u, v, e in graph.edges(data=True)]
    hooks = sorted({d["hook_name"] for _, d in graph.nodes(data=True)}, key=lambda h: (len(h), h))
    metadata = {
        "slug": slug, "scan": scan or "sae-gd-labeler-flow", "transcoder_list": hooks,
        "prompt_tokens": list(COLUMNS), "prompt": f"feature flow of {target[0]} #{target[1]}" if target else "",
        "node_threshold": graph.graph.get("residual_threshold"), "schema_version": 1,
    }
    qparams = {"pinnedIds": [ids[target]] if target in ids else [], "supernodes": [], "linkType": "both",
               "clickedId": ids.get(target, ""), "sg_pos": ""}
    return {"metadata": metadata, "qParams": qparams, "nodes": nodes, "links": links}


def write_attribution_graph(graph: nx.DiGraph, path, labels=None, **kwargs) -> Path:
    """Write `to_attribution_graph(...)` as JSON at `path`, through a temporary file (no half-written file)."""
    path = Path(path)
    data = to_attribution_graph(graph, labels, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, allow_nan=False)
    os.replace(tmp, path)
    return path


def _layer(position: float) -> str:
    layer = math.ceil(position) - 1
    return "E" if layer < 0 else str(layer)


def _node_id(d: dict) -> str:
    # circuit-tracer's feature node id is "{layer}_{feature}_{ctx_idx}"
    return f"{_layer(d['position'])}_{d['feature']}_{COLUMNS[d['kind']]}"
