"""A self-contained HTML page of optimisation trajectories (the seed paper's figure): p of the top tokens
over the soft phase's steps, one small SVG chart per feature. No plotting library needed."""

from __future__ import annotations

import html
from collections.abc import Sequence

from sae_gd_labeler.result import FeatureLabel

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
W, H, PAD = 420, 220, 36


def trajectory_svg(title: str, trajectory: dict[str, list[float]]) -> str:
    steps = trajectory["_steps"]
    curves = [(tok, ps) for tok, ps in trajectory.items() if tok != "_steps"]
    last = max(steps[-1], 1.0)
    x = lambda s: PAD + (W - 2 * PAD) * s / last
    y = lambda p: H - PAD - (H - 2 * PAD) * p
    parts = [f'<svg width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" '
             f'font-size="11"><text x="{PAD}" y="16" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{PAD}" y1="{y(0)}" x2="{W - PAD}" y2="{y(0)}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="{y(0)}" x2="{PAD}" y2="{y(1)}" stroke="#888"/>',
             f'<text x="4" y="{y(1) + 4}">1.0</text><text x="4" y="{y(0) + 4}">0.0</text>',
             f'<text x="{W - PAD - 40}" y="{H - 8}">step {int(last)}</text>']
    for i, (tok, ps) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{x(s):.1f},{y(p):.1f}" for s, p in zip(steps, ps))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{W - PAD + 2 - 60}" y="{30 + 13 * i}" fill="{colour}">{html.escape(tok)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def trajectories_html(labels: Sequence[tuple[str, FeatureLabel]]) -> str:
    """labels: (title, FeatureLabel) pairs; features without a trajectory are skipped."""
    charts = [trajectory_svg(f"{title} -> {lab.label}", lab.trajectory) for title, lab in labels if lab.trajectory]
    return ("<!doctype html><meta charset='utf-8'><title>sae-gd-labeler trajectories</title>"
            "<h2>Probability of the top tokens of p over the soft phase</h2>"
            "<p>A token outside the top 20 at a step is drawn at 0 there.</p>" + "\n".join(charts))
