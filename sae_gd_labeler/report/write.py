"""Write a run directory's feature pages: report.html, and report-2.html ... when the run has more
features than one page should hold (each page is self-contained; the pages link to each other)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from sae_gd_labeler.report.load import FeatureData, Run, load_run
from sae_gd_labeler.report.page import anchors_for, page_html


def write_report(run_dir: Path | str, out: Path | str | None = None, max_features_per_page: int = 1000) -> Path:
    """Write the report of `run_dir` (default `run_dir/report.html`); returns the first page's path."""
    if max_features_per_page < 1:
        raise ValueError(f"max_features_per_page must be >= 1, got {max_features_per_page}")
    run = load_run(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    chunks = [run.features[i:i + max_features_per_page]
              for i in range(0, len(run.features), max_features_per_page)] or [[]]
    paths = [page_path(out, k) for k in range(1, len(chunks) + 1)]
    title = f"Feature labels: {_run_name(run)}"
    for k, (chunk, path) in enumerate(zip(chunks, paths), 1):
        nav = _nav(paths, chunks, k) if len(chunks) > 1 else ""
        path.write_text(page_html(run, chunk, anchors_for(chunk), title=title, nav=nav), encoding="utf-8")
    return out


def report_html(features: list[FeatureData], title: str, config: dict | None = None, intro: str = "") -> str:
    """One page for features held in memory (e.g. the demo's), as a run directory's would look."""
    run = Run(config, features)
    return page_html(run, features, anchors_for(features), title=title, intro=intro)


def page_path(out: Path, k: int) -> Path:
    """Page k of the report whose first page is `out`: report.html, report-2.html, ..."""
    return out if k == 1 else out.with_name(f"{out.stem}-{k}{out.suffix}")


def _nav(paths: list[Path], chunks: list[list[FeatureData]], here: int) -> str:
    links = []
    for k, (path, chunk) in enumerate(zip(paths, chunks), 1):
        span = f"{len(chunk):,} features"
        if k == here:
            links.append(f'<span class="here">page {k} ({span})</span>')
        else:
            links.append(f'<a href="{escape(path.name, quote=True)}">page {k}</a> ({span})')
    return f'<nav class="pages">Pages: {" ".join(links)}</nav>'


def _run_name(run: Run) -> str:
    sae = (run.config or {}).get("sae") or {}
    if sae.get("toy_world"):
        return f'the toy world\'s SAE on {sae.get("hook_name") or sae["toy_world"]}'
    parts = [sae.get("release") or sae.get("path"), sae.get("sae_id") or sae.get("hook_name")]
    return " / ".join(str(p) for p in parts if p) or "run"
