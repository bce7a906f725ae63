"""The per-feature plots as plotly figures, each with axis titles (and units) and a one-line caption.

Figures are plain plotly.js JSON (data + layout) without a template: the page applies one shared
template, so its styling is stored once. Built as dicts, not through plotly.graph_objects, which takes
~30 ms a figure (half an hour for a 24k-feature SAE); the tests check every figure with go.Figure.
Numbers are rounded to what a reader can see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sae_gd_labeler.report.fmt import number

HEIGHT = 300
N_BINS = 30
MARGIN = {"l": 60, "r": 20, "t": 40, "b": 50}


@dataclass
class Figure:
    figure: dict[str, Any]  # {"data": [...], "layout": {...}} for Plotly.newPlot
    caption: str  # one line saying what the plot shows (plain text; escaped by the page)


def histogram(sample: list[float], n_fired: int | None) -> Figure | None:
    """Counts of the sampled firing activations, binned here (the page stores counts, not the sample)."""
    values = np.array([v for v in map(number, sample) if v is not None], dtype=float)
    if values.size == 0:
        return None
    counts, edges = np.histogram(values, bins=min(N_BINS, max(1, len(np.unique(values)))))
    centres, widths = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
    if widths.max() == 0:  # one value only: a visible bar all the same
        widths = np.ones_like(widths)
    hover = [f"{a:.3g} to {b:.3g}: {c} tokens" for a, b, c in zip(edges[:-1], edges[1:], counts)]
    bars = {"type": "bar", "x": _round(centres), "y": counts.tolist(), "width": _round(widths), "hovertext": hover,
            "hoverinfo": "text", "marker": {"color": "#f28e2b"}}
    layout = _layout("Activation histogram", "activation where the feature fires (SAE feature units)",
                     "tokens in the sample")
    of = f" of its {n_fired:,} firing tokens" if isinstance(n_fired, int) and n_fired > 0 else ""
    return Figure({"data": [bars], "layout": layout},
                  f"How strongly the feature fires: a uniform sample of {values.size:,}{of}.")


def discrete_search(restarts: list[dict[str, Any]], n_eval: int | None = None) -> Figure | None:
    """Each restart's exact loss over its iterations, the token it held in the hover. The search scores
    on `n_eval` of the training examples (its evaluation rows), the final ranking on all of them."""
    traces = []
    for r, run in enumerate(restarts):
        run = run if isinstance(run, dict) else {}
        tokens, losses = list(run.get("tokens") or []), list(run.get("losses") or [])
        n = min(len(tokens), len(losses))
        if n == 0:
            continue
        traces.append({"type": "scatter", "mode": "lines+markers", "x": list(range(n)), "y": _round(losses[:n]),
                       "name": f"restart {r + 1}: {_hover_safe(_short(tokens[n - 1]))}",
                       "text": [_hover_safe(t) for t in tokens[:n]],
                       "hovertemplate": f"restart {r + 1}, iteration %{{x}}<br>token %{{text}}"
                                        "<br>exact loss %{y:.4f} nats<extra></extra>"})
    if not traces:
        return None
    layout = _layout("Discrete search", "iteration (0 = the restart's starting token)", "exact loss (nats)")
    if max(len(t["x"]) for t in traces) <= 20:
        layout["xaxis"]["dtick"] = 1  # whole iterations
    rows = f"{n_eval} " if isinstance(n_eval, int) else ""
    return Figure({"data": traces, "layout": layout},
                  "One line per restart: the exact loss of the token it held (hover for it) after each iteration, "
                  f"on the {rows}training examples the search scores on. The label is the candidate with the lowest "
                  "loss on all training examples (the candidates' table).")


def soft_search(trajectory: dict[str, list[float]]) -> Figure | None:
    """p of the soft phase's final top tokens over its steps (the seed paper's figure)."""
    steps = trajectory.get("_steps") or trajectory.get("steps")
    curves = [(tok, ps) for tok, ps in trajectory.items() if tok not in ("_steps", "steps") and isinstance(ps, list)]
    if not steps or not curves:
        return None
    traces = []
    for tok, ps in curves:
        n = min(len(steps), len(ps))
        traces.append({"type": "scatter", "mode": "lines", "x": _round(steps[:n]), "y": _round(ps[:n], 4),
                       "name": _hover_safe(_short(tok)),
                       "hovertemplate": f"{_hover_safe(tok)}<br>step %{{x}}<br>p = %{{y:.3f}}<extra></extra>"})
    layout = _layout("Soft search", "optimisation step", "probability in p (0 to 1)")
    layout["yaxis"]["range"] = [0, 1.02]
    return Figure({"data": traces, "layout": layout},
                  "The soft phase's p over the vocabulary: its final top tokens' probability at each step. The "
                  "label is the best hard candidate by exact loss, not the soft argmax.")


def _layout(title: str, x_title: str, y_title: str) -> dict[str, Any]:
    return {"title": {"text": title, "x": 0.01}, "height": HEIGHT, "margin": dict(MARGIN), "hovermode": "closest",
            "legend": {"font": {"size": 10}}, "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}}}


def _round(values, digits: int = 5) -> list:
    """Rounded to `digits` significant digits; None for anything not a finite number (JSON has no NaN)."""
    out = []
    for v in values:
        v = _float(v)
        out.append(None if v is None or not math.isfinite(v) else float(f"{v:.{digits}g}"))
    return out


def _float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _short(token: Any, n: int = 24) -> str:
    text = str(token)
    return text if len(text) <= n else text[: n - 1] + "…"


def _hover_safe(text: Any) -> str:
    # plotly renders names and hover text as a small HTML subset (entities decoded) and %{...} in a
    # template as a placeholder: escape both so a token shows literally
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("%{", "%&#123;"))
