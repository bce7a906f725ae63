"""Contexts as text with the firing token highlighted, its background as strong as activation / max
activation (as Neuronpedia's dashboards do). Everything from the run is HTML-escaped here."""

from __future__ import annotations

import math
from html import escape
from typing import Any

# Shown: the firing token and at most this many before it (about a sentence); the run keeps the full
# context. This halves a 1,000-feature page (32-token contexts) and is enough to judge a label by eye.
MAX_CONTEXT_TOKENS = 15
MAX_CONTEXT_CHARS = 200  # and at most this many characters of them (a token may be long)


def context_html(tokens: list[str], activation: float | None, max_activation: float | None) -> str:
    """One context: the tokens joined without separators, the last one (the firing token) highlighted."""
    if not tokens:
        return '<span class="ctx-empty">(empty context)</span>'
    before = tokens[:-1][-MAX_CONTEXT_TOKENS:]
    prefix, token = "".join(map(str, before)), str(tokens[-1])
    cut = len(before) < len(tokens) - 1
    if len(prefix) > MAX_CONTEXT_CHARS:
        prefix, cut = prefix[-MAX_CONTEXT_CHARS:], True
    prefix = ("…" if cut else "") + prefix
    # markup kept short: a page holds tens of thousands of contexts
    level = intensity(activation, max_activation)
    return f'{_visible(prefix)}<mark style="--a:{level:.2f}">{_visible(token) or "&#9251;"}</mark>'


def intensity(activation: float | None, max_activation: float | None) -> float:
    """activation / max activation in [0, 1]; 1 when the maximum is unknown (the token is still marked)."""
    if activation is None or not math.isfinite(activation):
        return 0.0
    if not max_activation or not math.isfinite(max_activation) or max_activation <= 0:
        return 1.0
    return min(max(activation / max_activation, 0.0), 1.0)


def context_list_html(contexts: list[dict[str, Any]], max_activation: float | None, start: int = 1) -> str:
    """An ordered list of contexts, each after its activation, numbered from `start`."""
    items = []
    for c in contexts:
        act = _number(c.get("activation"))
        items.append(f'<li><span>{"n/a" if act is None else f"{act:.3g}"}</span>'
                     f'{context_html(list(c.get("tokens") or []), act, max_activation)}</li>')
    first = "" if start == 1 else f' start="{start}"'
    return f'<ol class="contexts"{first}>{"".join(items)}</ol>'


def quantiles_html(samples: list[dict[str, Any]], max_activation: float | None) -> str:
    """The quantile sample, highest quantile first, each group headed by its activation range."""
    groups: dict[int, list[dict]] = {}
    for s in samples:
        groups.setdefault(int(s.get("quantile", 0)), []).append(s)
    parts = []
    for q in sorted(groups, reverse=True):
        groups[q].sort(key=lambda s: -(_number(s.get("activation")) or 0.0))  # highest first, as the top list
        acts = [a for a in (_number(s.get("activation")) for s in groups[q]) if a is not None]
        span = f": activations {min(acts):.3g} to {max(acts):.3g}" if acts else ""
        parts.append(f'<h4>Quantile {q + 1} of {max(groups) + 1}{span}</h4>'
                     + context_list_html(groups[q], max_activation))
    return "".join(parts)


def _visible(text: str) -> str:
    # a newline would break the one-line layout: show it as a symbol, as dashboards do
    return escape(text).replace("\r\n", "↵").replace("\n", "↵").replace("\r", "↵")


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
