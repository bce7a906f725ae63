"""Small formatting helpers shared by the page's parts: numbers, feature names, status words."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from sae_gd_labeler.search.result import STATUSES  # the labeler's own words for each status

METRICS = (("balanced_accuracy", "bal. acc."), ("precision", "precision"), ("recall", "recall"),
           ("f1", "F1"), ("auroc", "AUROC"))
BASELINE_NAMES = {
    "most_frequent_token": "most frequent activating token",
    "output_projection": "output projection (top tokens of W_dec · W_U)",
    "uninformative": "uninformative label",
}
WEAK_TEXT = "Weak: the label is kept, but its held-out scores say it should not be believed:"


def number(value: Any) -> float | None:
    """A finite float, or None (null, NaN, missing, not a number)."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def metric(value: Any, digits: int = 3) -> str:
    v = number(value)
    return "n/a" if v is None else f"{v:.{digits}f}"


def feature_name(feature: Any) -> str:
    """#12 for an SAE feature id, the name itself for a named (synthetic) feature."""
    if isinstance(feature, int) and not isinstance(feature, bool):
        return f"#{feature}"
    if isinstance(feature, list):
        return "#" + ".".join(map(str, feature))
    return str(feature)


def label_html(label: Any) -> str:
    if label is None:
        return '<span class="nolabel">(no label)</span>'
    return f"<q>{escape(str(label))}</q>"


def status_html(status: Any) -> str:
    status = str(status or "unknown")
    title = escape(STATUSES.get(status, ""), quote=True)
    return f'<span class="status s-{css_word(status)}" title="{title}">{escape(status)}</span>'


def baseline_name(key: str) -> str:
    return BASELINE_NAMES.get(key, key.replace("_", " "))


def css_word(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in text.replace("_", "-"))
