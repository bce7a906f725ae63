"""One feature's section of the page: label, status, metrics beside the baselines, candidates, contexts,
and its plots. The plots' JSON goes into `figures` and the collapsed quantile sample's HTML into `html`,
both keyed by what the section's elements name; the page stores them compressed and shows them lazily."""

from __future__ import annotations

from html import escape
from typing import Any

from sae_gd_labeler.report import figures as figs
from sae_gd_labeler.report.contexts import context_list_html, quantiles_html
from sae_gd_labeler.report.fmt import (
    METRICS,
    STATUSES,
    WEAK_TEXT,
    baseline_name,
    css_word,
    feature_name,
    label_html,
    metric,
    number,
    status_html,
)
from sae_gd_labeler.report.load import FeatureData

# top contexts written into the page; the others travel compressed and are shown as the section nears the
# viewport (a 1,000-feature page is then about half the size)
INLINE_TOP_CONTEXTS = 4
NOT_AVAILABLE = '<p class="na">{} not available here.</p>'


def section_html(data: FeatureData, anchor: str, figures: dict[str, Any], html: dict[str, str],
                 labeler_config: dict | None) -> str:
    lab, ex = data.label, data.examples or {}
    status = lab.get("status")
    labeled = lab.get("label") is not None
    parts = [f'<section class="feature s-{css_word(str(status))}" id="{anchor}">',
             f'<h2><a href="#{anchor}">{escape(feature_name(lab.get("feature")))}</a> {label_html(lab.get("label"))} '
             f'{status_html(status)} <a class="up" href="#summary">summary &uarr;</a></h2>',
             _status_note(lab, labeler_config or {}), _meta(lab, ex)]
    if labeled:  # a dead or too rare feature has no metrics, candidates or search to show
        parts += ['<div class="cols"><div>', _metrics_table(lab), '</div><div>', _candidates(lab), '</div></div>']
    parts.append("<h3>Top activating contexts</h3>")
    max_act = number(ex.get("max_activation"))
    top = ex.get("top") or []
    if top:
        max_act = max_act or max((number(c.get("activation")) or 0.0 for c in top), default=None)
        parts.append('<div class="contexts-top">' + context_list_html(top[:INLINE_TOP_CONTEXTS], max_act))
        if len(top) > INLINE_TOP_CONTEXTS:  # the rest are filled in when the section comes into view
            html[anchor + ":top"] = context_list_html(top[INLINE_TOP_CONTEXTS:], max_act,
                                                      start=INLINE_TOP_CONTEXTS + 1)
            parts.append(f'<div class="lazy" data-html="{anchor}:top"></div>')
        parts.append("</div>")
    else:
        parts.append(NOT_AVAILABLE.format("Top contexts are"))
    quantiles = ex.get("quantiles") or []
    if quantiles:
        html[anchor + ":q"] = quantiles_html(quantiles, max_act)
        parts.append(f'<details class="quantiles" data-html="{anchor}:q"><summary>Samples across activation '
                     f'quantiles ({len(quantiles)} contexts)</summary><div class="lazy"></div></details>')
    parts.append('<h3>Activations and search</h3><div class="plots">')
    hist = figs.histogram(ex.get("activation_sample") or [], ex.get("n_fired"))
    parts.append(_plot(anchor + ":hist", hist, figures) if hist else NOT_AVAILABLE.format("An activation sample is"))
    if labeled:
        parts += _search(lab, anchor, figures, labeler_config or {})
    parts.append("</div></section>")
    return "\n".join(p for p in parts if p)


def _status_note(lab: dict, cfg: dict) -> str:
    status = lab.get("status")
    if status == "weak":  # the run's own reason when it wrote one, else the numbers the weak rule looks at
        if lab.get("weak_reason"):
            return f'<p class="note weak">{WEAK_TEXT} {escape(str(lab["weak_reason"]))}.</p>'
        m = lab.get("metrics") or {}
        threshold = number(cfg.get("weak_threshold"))
        margin = number(cfg.get("weak_auroc_margin"))
        why = [f'held-out balanced accuracy {metric(m.get("balanced_accuracy"))}'
               + ("" if threshold is None else f" (weak below {threshold:.2f} in this run)"),
               f'held-out AUROC {metric(m.get("auroc"))}'
               + ("" if margin is None else f" (weak at or below {0.5 + margin:.2f})")]
        return f'<p class="note weak">{WEAK_TEXT} {"; ".join(why)}.</p>'
    if status not in ("ok", None):
        return f'<p class="note">{escape(str(status))}: {escape(STATUSES.get(str(status), "no label"))}.</p>'
    return ""


def _meta(lab: dict, ex: dict) -> str:
    bits = []
    if lab.get("hook_name") or ex.get("hook_name"):
        bits.append(f'hook <code>{escape(str(lab.get("hook_name") or ex.get("hook_name")))}</code>')
    n_fired, n_tokens = ex.get("n_fired"), ex.get("n_tokens")
    if isinstance(n_fired, int) and isinstance(n_tokens, int) and n_tokens > 0:
        bits.append(f"fires on {n_fired:,} of {n_tokens:,} tokens ({100 * n_fired / n_tokens:.3g}%)")
    if number(ex.get("max_activation")) is not None:
        bits.append(f'max activation {number(ex["max_activation"]):.3g}')
    if lab.get("n_positive") or lab.get("n_negative"):
        bits.append(f'trained on {lab.get("n_positive", 0)} positive and {lab.get("n_negative", 0)} negative examples')
    if ex.get("heldout"):
        bits.append(f'scored on {len(ex["heldout"])} held-out examples')
    if lab.get("steps"):
        bits.append(f'{lab["steps"]} search steps')
    return f'<p class="meta">{" · ".join(bits)}</p>' if bits else ""


def _metrics_table(lab: dict) -> str:
    rows = [("this label", lab.get("label"), lab.get("metrics") or {}, "")]
    for key, base in (lab.get("baselines") or {}).items():
        if isinstance(base, dict):
            extra = base.get("top_tokens")
            tip = " ".join(map(str, extra)) if isinstance(extra, list) else ""
            rows.append((baseline_name(key), base.get("label"), base.get("metrics") or {}, tip))
    head = "".join(f"<th>{name}</th>" for _, name in METRICS)
    body = []
    for who, label, m, tip in rows:
        tip_html = f'<br><small title="top tokens">{escape(tip)}</small>' if tip else ""
        body.append(f"<tr><th>{escape(who)}</th><td>{label_html(label)}{tip_html}</td>"
                    + "".join(f"<td>{metric(m.get(k))}</td>" for k, _ in METRICS) + "</tr>")
    note = "" if lab.get("baselines") else '<p class="na">Baselines not available in this run.</p>'
    return (f'<h3>Held-out metrics</h3><table class="metrics"><tr><th></th><th>label</th>{head}</tr>'
            f'{"".join(body)}</table>{note}')


def _candidates(lab: dict) -> str:
    cands = [c for c in lab.get("candidates") or [] if isinstance(c, dict)]
    if not cands:
        return "<h3>Candidates</h3>" + NOT_AVAILABLE.format("Candidates are")
    best = number(cands[0].get("loss"))
    rows = []
    for i, c in enumerate(cands, 1):
        loss = number(c.get("loss"))
        gap = "" if loss is None or best is None or i == 1 else f"+{loss - best:.4f}"
        rows.append(f"<tr><td>{i}</td><td>{label_html(c.get('label'))}</td>"
                    f"<td>{'n/a' if loss is None else f'{loss:.4f}'}</td><td>{gap}</td></tr>")
    return ('<h3>Candidates</h3><table class="cands"><tr><th>#</th><th>label</th><th>exact loss (nats)</th>'
            f'<th>vs best</th></tr>{"".join(rows)}</table>')


def _search(lab: dict, anchor: str, figures: dict[str, Any], cfg: dict) -> list[str]:
    history = lab.get("search_history") if isinstance(lab.get("search_history"), dict) else {}
    method = history.get("method") or cfg.get("method")
    if history.get("method") == "exhaustive":
        n = history.get("n_candidates")
        count = f" {n:,}" if isinstance(n, int) else ""
        return [f'<p class="search">Exhaustive search: every one of the{count} candidates was scored exactly, '
                "so there is no search path to show.</p>"]
    out = []
    restarts = history.get("restarts")
    if isinstance(restarts, list) and (fig := figs.discrete_search(restarts, history.get("n_eval_examples"))):
        out.append(_plot(anchor + ":discrete", fig, figures))
    trajectory = history.get("trajectory") or lab.get("trajectory")
    if isinstance(trajectory, dict) and (fig := figs.soft_search(trajectory)):
        out.append(_plot(anchor + ":soft", fig, figures))
    if not out:
        how = f" ({escape(str(method))} search)" if method else ""
        out.append(NOT_AVAILABLE.format(f"The search history{how} is"))
    return out


def _plot(key: str, fig: figs.Figure, figures: dict[str, Any]) -> str:
    figures[key] = fig.figure
    return (f'<figure class="plot-box"><div class="plot" data-fig="{escape(key, quote=True)}"></div>'
            f"<figcaption>{escape(fig.caption)}</figcaption></figure>")
