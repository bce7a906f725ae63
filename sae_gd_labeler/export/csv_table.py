"""One CSV row per feature of the run, every status (features without a label have an empty label).

UTF-8 without a byte-order mark; written by the csv module, so a label with a comma, a quote or a line
break is quoted and reads back exactly with any CSV reader. Undefined metrics are empty cells.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sae_gd_labeler.export.common import Run, output_file, write_atomic

DEFAULT_NAME = "labels.csv"
METRICS = ("balanced_accuracy", "f1", "auroc", "precision", "recall")
N_CANDIDATES = 3
COLUMNS = ("feature", "hook_name", "label", "status", "n_positive", "n_negative", *METRICS,
           *(f"candidate_{i}" for i in range(1, N_CANDIDATES + 1)))


def row(run: Run, r: dict) -> list:
    metrics = r.get("metrics") or {}
    candidates = [c["label"] for c in (r.get("candidates") or [])[:N_CANDIDATES]]
    candidates += [""] * (N_CANDIDATES - len(candidates))
    return [r["feature"], run.hook_name(r), _cell(r.get("label")), r["status"], r.get("n_positive"),
            r.get("n_negative"), *(_cell(metrics.get(m)) for m in METRICS), *candidates]


def export(run: Run, out: Path | str | None) -> Path:
    path = output_file(run, out, DEFAULT_NAME)
    text = io.StringIO(newline="")
    writer = csv.writer(text)  # quotes what needs it; a line break inside a label stays inside its cell
    writer.writerow(COLUMNS)
    writer.writerows(row(run, r) for r in run.records)
    write_atomic(path, text.getvalue().encode("utf-8"))
    return path


def _cell(value):
    return "" if value is None else value
