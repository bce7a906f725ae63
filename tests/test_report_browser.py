"""The feature page in a real browser: headless Chromium loads the page of a real toy-world run; its
JavaScript runs without console errors, every plot is drawn as it scrolls into view, the DOM holds each
feature's label and highlighted contexts, the summary table sorts, and hostile text never runs.

Needs the Debian package `chromium` and the PyPI package `playwright` (its own browser download is not
used); skipped, with the reason, without them.
"""

from __future__ import annotations

import json
import shutil

import pytest

from sae_gd_labeler.report import write_report
from tests.test_report import _hostile_run
from tests.test_report_toyrun import toy_run  # noqa: F401  (the shared real run)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_page(browser, path):
    """The page loaded and unpacked, with every console error and uncaught exception collected."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.goto(path.as_uri())
    page.evaluate("window.reportReady")  # plotly and the lazy data unpacked (a rejection raises here)
    return page, errors


def test_a_real_run_renders_without_errors_with_labels_contexts_and_plots(browser, toy_run, tmp_path):  # noqa: F811
    page, errors = open_page(browser, write_report(toy_run))
    labels = [json.loads(line) for line in (toy_run / "labels.jsonl").read_text().splitlines()]
    examples = {r["feature"]: r for r in map(json.loads, (toy_run / "examples.jsonl").read_text().splitlines())}

    plots = page.locator("div.plot")
    assert plots.count() >= 2
    for i in range(plots.count()):  # drawn lazily: only once scrolled near
        plots.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("d => d.classList.contains('js-plotly-plot')", arg=plots.nth(i).element_handle())
        assert plots.nth(i).locator("svg.main-svg").count() >= 1
        assert plots.nth(i).locator(".xtitle").text_content().strip()
        assert plots.nth(i).locator(".ytitle").text_content().strip()

    for record in labels:
        section = page.locator(f"section#f-{record['feature']}")
        assert section.count() == 1
        if record["label"] is None:
            assert "(no label)" in section.locator("h2").inner_text()
            continue
        assert section.locator("h2 q").inner_text() == record["label"]
        top = examples[record["feature"]]["top"]
        section.scroll_into_view_if_needed()  # the top contexts after the first few are filled in view
        page.wait_for_function("a => a[0].querySelectorAll('.contexts-top mark').length === a[1]",
                               arg=[section.element_handle(), len(top)])
        marks = section.locator(".contexts-top mark")
        assert marks.count() == len(top)
        assert marks.first.inner_text() == top[0]["tokens"][-1]
        strongest = marks.first.evaluate("m => getComputedStyle(m).backgroundColor")
        weakest = marks.last.evaluate("m => getComputedStyle(m).backgroundColor")
        assert strongest == "rgb(255, 140, 0)"  # alpha 1: activation / max activation
        if top[-1]["activation"] < 0.95 * top[0]["activation"]:
            assert weakest.startswith("rgba(255, 140, 0, 0.")  # weaker activation, lighter background
        details = section.locator("details.quantiles")
        if details.count():
            details.locator("summary").click()  # its contexts are filled in when opened
            page.wait_for_function("d => d.querySelectorAll('mark').length > 0", arg=details.element_handle())

    page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    assert errors == []


def test_the_summary_table_sorts_numbers_with_missing_values_last(browser, toy_run):  # noqa: F811
    page, errors = open_page(browser, write_report(toy_run))
    header = page.locator("table.summary thead th", has_text="held-out bal. acc.")
    column = page.locator("table.summary thead th").evaluate_all(
        "hs => hs.findIndex(h => h.textContent.includes('held-out bal. acc.'))")

    def values():
        return page.locator("table.summary tbody tr").evaluate_all(
            f"rows => rows.map(r => r.cells[{column}].dataset.v)")

    header.click()
    first = values()
    numbers = [float(v) for v in first if v]
    assert numbers == sorted(numbers, reverse=True) and first[len(numbers):] == [""] * (len(first) - len(numbers))
    assert header.get_attribute("aria-sort") == "descending"
    header.click()
    second = values()
    assert [float(v) for v in second if v] == sorted(numbers) and second[-1:] == first[-1:]
    assert errors == []


def test_hostile_labels_and_contexts_never_run(browser, tmp_path):
    page, errors = open_page(browser, write_report(_hostile_run(tmp_path)))
    page.evaluate("window.reportDrawAll()")
    for details in page.locator("details.quantiles").all():
        details.locator("summary").click()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("section#f-0 h2 q").inner_text() == "<script>window.__pwned = 1</script>"
    assert '<img src=x onerror="window.__pwned = 2">' in page.locator("section#f-0 ol.contexts").first.inner_text()
    assert errors == []
