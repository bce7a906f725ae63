"""The top of the page: what the run was, its counts and means, and a table of every feature on the page,
sortable by clicking a column header (see assets.SCRIPT), each row linking to its feature's section."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from sae_gd_labeler.report.fmt import css_word, feature_name, label_html, metric, number, status_html
from sae_gd_labeler.report.load import FeatureData

SHOWN_METRICS = (("balanced_accuracy", "bal. acc."), ("f1", "F1"), ("auroc", "AUROC"))
SHORT_BASELINE = {"most_frequent_token": "most frequent token", "output_projection": "output projection"}


def run_info_html(config: dict | None, summary: dict | None, features: list[FeatureData]) -> str:
    """The run's settings, and counts / means over every feature of the report (all pages)."""
    rows: list[tuple[str, Any]] = []
    if config:
        sae = config.get("sae") if isinstance(config.get("sae"), dict) else {}
        where = " / ".join(str(sae[k]) for k in ("release", "sae_id", "path", "toy_world") if sae.get(k))
        rows += [("SAE", where), ("hook", sae.get("hook_name")), ("features in the SAE", sae.get("d_sae")),
                 ("architecture", sae.get("architecture")), ("subject model", config.get("model")),
                 ("discriminator", config.get("discriminator")), ("dataset", config.get("dataset")),
                 ("corpus tokens", config.get("n_tokens")),
                 ("search", (config.get("labeler_config") or {}).get("method")), ("seed", config.get("seed")),
                 ("dtype", config.get("dtype")), ("package version", config.get("package_version"))]
    counts = Counter(str(f.label.get("status")) for f in features)
    rows.append(("features", f"{len(features):,} (" + ", ".join(f"{n:,} {s}" for s, n in counts.most_common()) + ")"))
    labeled = [f.label.get("metrics") or {} for f in features if f.label.get("label") is not None]
    for key, name in SHOWN_METRICS:
        values = [v for v in (number(m.get(key)) for m in labeled) if v is not None]
        if values:
            rows.append((f"mean held-out {name}", f"{sum(values) / len(values):.3f} over {len(values):,} labels"))
    if summary:
        if summary.get("n_requested") is not None:
            rows.append(("features requested", summary.get("n_requested")))
        if number(summary.get("seconds")) is not None:
            rows.append(("run time", f'{number(summary["seconds"]):,.0f} s'))
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(f'{v:,}' if isinstance(v, int) else str(v))}</td></tr>"
                    for k, v in rows if v not in (None, ""))
    return f'<table class="run">{cells}</table>'


def baseline_keys(features: list[FeatureData]) -> list[str]:
    """Every baseline any feature has, known ones first (a stable column order across pages)."""
    keys = {k for f in features for k in (f.label.get("baselines") or {})}
    return [k for k in SHORT_BASELINE if k in keys] + sorted(keys - set(SHORT_BASELINE))


def summary_table_html(entries: list[tuple[FeatureData, str]], baselines: list[str]) -> str:
    """entries: (feature, href of its section). Cells carry data-v, the value the sort uses."""
    numeric = all(_is_number(d.label.get("feature")) for d, _ in entries)  # SAE ids, not the demo's names
    heads = [("feature", "num" if numeric else "text"), ("label", "text"), ("status", "text")]
    heads += [(f"held-out {name}", "num") for _, name in SHOWN_METRICS]
    heads += [(f"{SHORT_BASELINE.get(k, k.replace('_', ' '))}: bal. acc.", "num") for k in baselines]
    head = "".join(f'<th data-type="{t}" tabindex="0">{escape(n)}</th>' for n, t in heads)
    rows = []
    for data, href in entries:
        lab = data.label
        feature = lab.get("feature")
        key = feature if _is_number(feature) else feature_name(feature)
        cells = [f'<td data-v="{escape(str(key))}"><a href="{escape(href, quote=True)}">'
                 f"{escape(feature_name(feature))}</a></td>",
                 f'<td data-v="{escape(str(lab.get("label") or ""), quote=True)}">{label_html(lab.get("label"))}</td>',
                 f'<td data-v="{escape(str(lab.get("status")), quote=True)}">{status_html(lab.get("status"))}</td>']
        metrics = lab.get("metrics") or {}
        cells += [_num_cell(metrics.get(k)) for k, _ in SHOWN_METRICS]
        for k in baselines:
            base = (lab.get("baselines") or {}).get(k)
            cells.append(_num_cell(((base or {}).get("metrics") or {}).get("balanced_accuracy")))
        rows.append(f'<tr class="s-{css_word(str(lab.get("status")))}">{"".join(cells)}</tr>')
    return (f'<table class="summary sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _num_cell(value: Any) -> str:
    v = number(value)
    return f'<td data-v="{"" if v is None else f"{v:.6g}"}">{metric(v)}</td>'
