"""An interactive plotly figure of a flow graph: residual chain in the middle lane, MLP and attention nodes
beside it, edges drawn with their cosine, and each node's label and held-out score in its hover.

    fig = plot_flow_graph(graph, labels)     # labels: {(hook_name, feature): FeatureLabel-like}, optional
    fig.write_html("flow.html")
"""

from __future__ import annotations

import networkx as nx
import plotly.graph_objects as go

from sae_gd_labeler.flow.labels import node_label

LANES = {"attn": 1.0, "resid": 0.0, "mlp": -1.0}
COLOURS = {"attn": "#e45756", "resid": "#4c78a8", "mlp": "#54a24b"}


def plot_flow_graph(graph: nx.DiGraph, labels=None, *, title: str | None = None) -> go.Figure:
    target = graph.graph.get("target")
    pos = {n: (d["position"], LANES[d["kind"]]) for n, d in graph.nodes(data=True)}
    fig = go.Figure()
    for u, v, e in graph.edges(data=True):
        (x0, y0), (x1, y1) = pos[u], pos[v]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip", showlegend=False,
                                 line={"width": 1 + 6 * max(e["weight"], 0.0), "color": "#bbbbbb"}))
        fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=f"{e['weight']:.2f}", showarrow=False,
                           font={"size": 10})
    for kind in LANES:
        nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == kind]
        if not nodes:
            continue
        hover, text = [], []
        for n in nodes:
            d = graph.nodes[n]
            label, score = node_label(graph, n, labels)
            text.append(label or f"#{d['feature']}")
            lines = [f"<b>{d['hook_name']}</b> #{d['feature']}", f"label: {label if label else '(none)'}"]
            if score is not None:
                lines.append(f"held-out balanced accuracy: {score:.3f}")
            for key in ("cut_backward", "cut_forward"):
                if key in d:
                    lines.append(f"{key.replace('_', ' ')} at cosine {d[key]:.2f}")
            hover.append("<br>".join(lines))
        fig.add_trace(go.Scatter(
            x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text", name=kind,
            text=text, textposition="top center", hovertext=hover, hoverinfo="text",
            marker={"size": [22 if n == target else 14 for n in nodes], "color": COLOURS[kind],
                    "line": {"width": [3 if n == target else 0 for n in nodes], "color": "black"}}))
    name = f"{target[0]} #{target[1]}" if target else ""
    fig.update_layout(title=title or f"Feature flow of {name}", xaxis_title="position on the residual stream",
                      yaxis={"tickvals": list(LANES.values()), "ticktext": list(LANES), "range": [-1.6, 1.6]},
                      plot_bgcolor="white", hovermode="closest")
    return fig
