"""One self-contained HTML page: run info, a sortable summary table, then one section per feature; what
is shown lazily (plots, collapsed samples) sits in one compressed block the page's script unpacks."""

from __future__ import annotations

import re
from html import escape

from sae_gd_labeler.report.load import FeatureData, Run
from sae_gd_labeler.report.packing import lazy_packed, plotly_js_packed
from sae_gd_labeler.report.script import SCRIPT
from sae_gd_labeler.report.section import section_html
from sae_gd_labeler.report.style import CSS
from sae_gd_labeler.report.summary import baseline_keys, run_info_html, summary_table_html


def anchors_for(features: list[FeatureData]) -> list[str]:
    """A distinct, HTML-id-safe anchor per feature: f-12 for feature 12, f-animal for a named one."""
    used: set[str] = set()
    out = []
    for data in features:
        base = "f-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", str(data.label.get("feature"))).strip("-")
        anchor, n = base, 2
        while anchor in used:
            anchor, n = f"{base}-{n}", n + 1
        used.add(anchor)
        out.append(anchor)
    return out


def page_html(run: Run, features: list[FeatureData], anchors: list[str], *, title: str,
              nav: str = "", intro: str = "") -> str:
    """A page holding `features` (a slice of run.features) with the run-wide header.

    nav: HTML linking the pages (empty for a single page); intro: an HTML paragraph under the title.
    """
    labeler_config = (run.config or {}).get("labeler_config") if run.config else None
    figures: dict = {}
    lazy_html: dict = {}
    sections = [section_html(f, a, figures, lazy_html, labeler_config) for f, a in zip(features, anchors)]
    problems = "".join(f"<li>{escape(p)}</li>" for p in run.problems)
    head = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>", intro, nav,
        f'<ul class="problems">{problems}</ul>' if problems else "",
        run_info_html(run.config, run.summary, run.features),
        '<h2 id="summary">Features on this page</h2>',
        '<p class="caption">Click a column header to sort; click a feature to go to its section. '
        "Metrics are on held-out examples; a weak label is kept but should not be believed.</p>",
        summary_table_html(list(zip(features, ["#" + a for a in anchors])), baseline_keys(run.features)),
    ]
    tail = [
        nav,
        # not JavaScript (the type says so): the page's script unpacks both
        f'<script type="application/gzip" id="plotly-gz">{plotly_js_packed()}</script>',
        f'<script type="application/gzip" id="lazy-gz">{lazy_packed(figures, lazy_html)}</script>',
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in head + sections + tail if p)
