"""The feature pages without a browser: every feature is there, nothing from the run is markup, missing
parts are said to be missing, large runs paginate, and a 1,000-feature page stays small."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import plotly.graph_objects as go
import pytest

from sae_gd_labeler.report import report_html, write_report
from sae_gd_labeler.report.load import FeatureData, load_run
from sae_gd_labeler.report.packing import unpacked
from sae_gd_labeler.report.section import INLINE_TOP_CONTEXTS
from tests.test_report_synthetic import write_synthetic_run
from tests.test_report_toyrun import toy_run  # noqa: F401  (the shared real run)

HOSTILE = '<script>window.__pwned = 1</script>'
HOSTILE_TOKEN = '<img src=x onerror="window.__pwned = 2">'


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append(dict(attrs))


def lazy_part(page: str) -> dict:
    """The compressed block the page's script unpacks: {"template", "figures", "html"}."""
    blob = re.search(r'<script type="application/gzip" id="lazy-gz">([^<]*)</script>', page).group(1)
    return json.loads(unpacked(blob))


def sections(page: str) -> dict[str, str]:
    """Each feature section's HTML by its anchor."""
    return dict(re.findall(r'<section class="feature[^"]*" id="([^"]+)">(.*?)</section>', page, re.S))


def _write_lines(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


# -- a real run ------------------------------------------------------------------------------------------------

def test_every_feature_of_a_real_run_is_on_the_page_with_its_contexts(toy_run):  # noqa: F811
    page_path = write_report(toy_run)
    assert page_path == toy_run / "report.html"
    page = page_path.read_text(encoding="utf-8")
    labels = [json.loads(line) for line in (toy_run / "labels.jsonl").read_text().splitlines()]
    examples = {r["feature"]: r for r in map(json.loads, (toy_run / "examples.jsonl").read_text().splitlines())}
    found = sections(page)
    assert sorted(found) == sorted(f"f-{r['feature']}" for r in labels)
    summary_rows = re.findall(r'<tr class="s-[^"]*"><td data-v="(\d+)"><a href="#f-(\d+)">', page)
    assert sorted(int(a) for a, b in summary_rows if a == b) == sorted(r["feature"] for r in labels)
    for record in labels:
        section = found[f"f-{record['feature']}"]
        assert f'{record["status"]}</span>' in section
        if record["label"] is None:
            assert "(no label)" in section
            continue
        assert f"<q>{record['label']}</q>" in section  # toy-world labels are plain words
        top = examples[record["feature"]]["top"]
        marks = re.findall(r'<ol class="contexts">(.*?)</ol>', section, re.S)[0]
        deferred = lazy_part(page)["html"].get(f"f-{record['feature']}:top", "")
        assert marks.count("<mark") == min(len(top), INLINE_TOP_CONTEXTS)  # the rest come compressed
        assert marks.count("<mark") + deferred.count("<mark") == len(top)
        # the firing token is the marked one, the strongest context fully highlighted
        assert re.search(r'<mark style="--a:1\.00">' + re.escape(top[0]["tokens"][-1]) + "</mark>", marks)
        if record["status"] == "weak":
            assert 'class="note weak"' in section
    lazy = lazy_part(page)
    assert all(k.startswith("f-") for k in lazy["figures"]) and lazy["figures"]
    for key, fragment in lazy["html"].items():  # the quantile samples: highest quantile first, each highest first
        feature = int(key[2:].split(":")[0])
        assert fragment.count("<mark") == len(examples[feature]["quantiles"])
        groups = re.findall(r"<h4>Quantile (\d+) of \d+.*?</h4><ol[^>]*>(.*?)</ol>", fragment)
        assert [int(q) for q, _ in groups] == sorted((int(q) for q, _ in groups), reverse=True)
        for _, items in groups:
            acts = [float(a) for a in re.findall(r"<li><span>([^<]+)</span>", items)]
            assert acts == sorted(acts, reverse=True)


def test_every_plot_is_valid_plotly_with_titles_and_a_caption(toy_run):  # noqa: F811
    page = write_report(toy_run).read_text(encoding="utf-8")
    lazy = lazy_part(page)
    keys = re.findall(r'<div class="plot" data-fig="([^"]+)"></div><figcaption>([^<]+)</figcaption>', page)
    assert len(keys) == len(lazy["figures"]) >= 2
    for key, caption in keys:
        fig = lazy["figures"][key]
        go.Figure(fig)  # raises on any property plotly.js does not know
        layout = fig["layout"]
        assert layout["title"]["text"] and layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
        assert "(" in layout["xaxis"]["title"]["text"] + layout["yaxis"]["title"]["text"]  # a unit or a range
        assert len(caption) > 30
    go.layout.Template(lazy["template"])


def test_plotly_is_inlined_once_and_unpacks_to_plotly(tmp_path):
    import plotly.offline

    page = write_report(write_synthetic_run(tmp_path / "run", 12)).read_text(encoding="utf-8")
    blobs = re.findall(r'id="plotly-gz">([^<]*)<', page)
    assert len(blobs) == 1 and unpacked(blobs[0]) == plotly.offline.get_plotlyjs()
    assert page.count("plotly.js v") == 0  # not also inlined unpacked
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # offline


# -- escaping --------------------------------------------------------------------------------------------------

def _hostile_run(tmp_path: Path) -> Path:
    run = write_synthetic_run(tmp_path / "run", 3)
    labels = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    examples = [json.loads(line) for line in (run / "examples.jsonl").read_text().splitlines()]
    labels[0].update(label=HOSTILE, candidates=[{"label": HOSTILE, "token_ids": [1], "loss": 0.5}])
    labels[0]["search_history"]["restarts"][0]["tokens"][-1] = HOSTILE_TOKEN
    labels[0]["baselines"]["output_projection"]["top_tokens"] = [HOSTILE_TOKEN]
    for record in examples:
        for c in record["top"] + record["quantiles"]:
            c["tokens"] = ["a & b ", HOSTILE_TOKEN, " </script><!--", HOSTILE]
    _write_lines(run / "labels.jsonl", labels)
    _write_lines(run / "examples.jsonl", examples)
    return run


def test_labels_and_contexts_are_text_never_markup(tmp_path):
    page = write_report(_hostile_run(tmp_path)).read_text(encoding="utf-8")
    assert HOSTILE not in page and HOSTILE_TOKEN not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "a &amp; b " in page
    parsed = Elements(page)
    # the page's own three scripts only (two of them data), and no event handler anywhere
    assert [s.get("id") for s in parsed.scripts] == ["plotly-gz", "lazy-gz", None]
    assert not [a for _, attrs in parsed.tags for a in attrs if a.startswith("on")]
    assert not [t for t, _ in parsed.tags if t == "img"]
    lazy = lazy_part(page)
    for fragment in lazy["html"].values():  # what the page's script puts in with innerHTML
        assert HOSTILE not in fragment and HOSTILE_TOKEN not in fragment
        inner = Elements(fragment)
        assert not inner.scripts and not [t for t, _ in inner.tags if t == "img"]
    # plotly renders names and hover text as a small HTML subset: they are entity-escaped too
    assert "<img" not in json.dumps(lazy["figures"]) and "<script" not in json.dumps(lazy["figures"])


# -- missing parts ---------------------------------------------------------------------------------------------

def test_a_run_with_only_labels_still_makes_a_page_that_says_what_is_missing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _write_lines(run / "labels.jsonl", [
        {"feature": 3, "label": "river", "status": "ok"},  # the bare minimum
        {"feature": 4, "label": None, "status": "dead", "metrics": {}, "candidates": []},
        {"feature": 5, "label": "x", "status": "weak", "metrics": {"balanced_accuracy": None, "auroc": None},
         "baselines": None, "search_history": None, "trajectory": None},
        {"feature": 6, "label": "y", "status": "ok", "search_history": {"method": "exhaustive", "n_candidates": 1234}},
    ])
    page = write_report(run).read_text(encoding="utf-8")
    found = sections(page)
    assert sorted(found) == ["f-3", "f-4", "f-5", "f-6"]
    assert "Top contexts are not available" in found["f-3"]
    assert "An activation sample is not available" in found["f-3"]
    assert "Baselines not available" in found["f-3"] and "Candidates are not available" in found["f-3"]
    assert "The search history is not available" in found["f-3"]
    assert "never fired" in found["f-4"]  # the labeler's own words for "dead"
    assert 'class="note weak"' in found["f-5"] and "n/a" in found["f-5"]
    assert "every one of the 1,234 candidates was scored exactly" in found["f-6"]
    assert "summary.json is absent" in page
    assert '<div class="plot"' not in page  # nothing to plot, and no error for it


def test_a_cut_line_is_reported_and_the_last_record_of_a_feature_wins(tmp_path):
    run = write_synthetic_run(tmp_path / "run", 3)
    labels = (run / "labels.jsonl").read_text()
    first = json.loads(labels.splitlines()[0])
    with (run / "labels.jsonl").open("a") as fh:
        fh.write(json.dumps({**first, "label": "resumed"}) + "\n")  # a crash and resume wrote it again
        fh.write('{"feature": 9, "label": "cut sh')  # a line cut short
    loaded = load_run(run)
    assert [f.label["feature"] for f in loaded.features] == [0, 1, 2]
    assert loaded.features[0].label["label"] == "resumed"
    assert any("labels.jsonl: 1 lines skipped" in p and "line 5" in p for p in loaded.problems)
    page = write_report(run).read_text(encoding="utf-8")
    assert "<q>resumed</q>" in sections(page)["f-0"] and "line 5" in page


def test_not_a_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.jsonl"):
        write_report(tmp_path)


def test_soft_search_plot_says_the_label_is_not_the_soft_argmax():
    label = {"feature": "animal", "label": "animal", "status": "ok",
             "trajectory": {"_steps": [0.0, 10.0, 20.0], "place": [0.1, 0.6, 0.9], "animal": [0.1, 0.3, 0.05]},
             "search_history": {"method": "hybrid", "soft_steps": 20,
                                "restarts": [{"tokens": ["place", "animal"], "losses": [0.5, None]}]}}
    page = report_html([FeatureData(label)], "t")
    lazy = lazy_part(page)
    assert set(lazy["figures"]) == {"f-animal:soft", "f-animal:discrete"}
    assert "not the soft argmax" in page
    assert lazy["figures"]["f-animal:discrete"]["data"][0]["y"] == [0.5, None]  # NaN -> a gap, never invalid JSON


# -- pagination and size ---------------------------------------------------------------------------------------

def test_pages_hold_every_feature_once_and_link_to_each_other(tmp_path):
    run = write_synthetic_run(tmp_path / "run", 25)
    first = write_report(run, out=tmp_path / "out" / "r.html", max_features_per_page=10)
    pages = [tmp_path / "out" / name for name in ("r.html", "r-2.html", "r-3.html")]
    assert first == pages[0] and all(p.exists() for p in pages) and not (tmp_path / "out" / "r-4.html").exists()
    seen = []
    for k, path in enumerate(pages, 1):
        page = path.read_text(encoding="utf-8")
        seen += sorted(int(a[2:]) for a in sections(page))
        others = {p.name for p in pages} - {path.name}
        assert all(f'href="{name}"' in page for name in others) and f'page {k} (' in page
        assert "25 (" in page  # the run-wide counts on every page
    assert seen == list(range(25))
    assert len(sections(pages[2].read_text(encoding="utf-8"))) == 5
    with pytest.raises(ValueError, match="max_features_per_page"):
        write_report(run, max_features_per_page=0)


def test_a_single_page_has_no_page_links(tmp_path):
    page = write_report(write_synthetic_run(tmp_path / "run", 4)).read_text(encoding="utf-8")
    assert '<nav class="pages">' not in page and len(sections(page)) == 4


def test_a_thousand_features_fit_in_a_few_megabytes(tmp_path):
    run = write_synthetic_run(tmp_path / "run", 1000)
    path = write_report(run)
    size = path.stat().st_size
    assert len(sections(path.read_text(encoding="utf-8"))) == 1000
    # measured 7.0 MB: plotly 2.0 MB (compressed), ~3.2 kB of HTML (4 of the 16 top contexts inline) and
    # ~1.5 kB of compressed plots and deferred contexts per feature
    assert size < 7_500_000, f"{size / 1e6:.1f} MB"
