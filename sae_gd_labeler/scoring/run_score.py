"""`sae-gd-labeler score RUN_DIR --labels FILE`: any labels (ours, Neuronpedia's, delphi's, a JSON file of
feature -> description) scored with the run's own discriminator on the run's own held-out examples, beside the
run's labels: held-out balanced accuracy, F1 and AUROC per feature and in summary.

Our own labels.jsonl is read with its token ids, so scoring a run's labels reproduces their held-out metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sae_gd_labeler.runs.reload import run_discriminator, run_examples
from sae_gd_labeler.runs.run_dir import RunDirectory
from sae_gd_labeler.scoring.label_files import read_label_file
from sae_gd_labeler.scoring.text_score import labeler_split, score_text_labels

METRICS = ("balanced_accuracy", "f1", "auroc")


def score_run(run_dir: Path | str, labels_path: Path | str, module: str | None = None,
              device: str | None = None) -> dict[str, Any]:
    run = RunDirectory(run_dir)
    examples = run_examples(run)
    given = read_label_file(labels_path, module=module)
    given_ids = _token_ids(Path(labels_path))
    disc, config = run_discriminator(run, device)
    scorable = [f for f in given if f in examples]
    split = labeler_split({f: examples[f][0] for f in scorable}, config,
                          heldout={f: examples[f][1] for f in scorable})
    labels = {f: given_ids.get(f) or given[f] for f in scorable if f in split}
    metrics = score_text_labels(disc, split, labels, config)
    ours = {r["feature"]: r for r in run.label_records()}
    rows = []
    for f in given:
        row = {"feature": f, "given": {"label": given[f], "metrics": _clean(metrics.get(f))}}
        if f in ours:
            row["ours"] = {"label": ours[f]["label"], "status": ours[f]["status"], "metrics": ours[f]["metrics"]}
        if f not in metrics:
            row["not_scored"] = "no examples of this feature in the run" if f not in examples else \
                "too few examples to score"
        rows.append(row)
    return {"run_dir": str(run.path), "labels": str(labels_path), "n_given": len(given), "n_scored": len(metrics),
            "summary": {"given": _means(r["given"]["metrics"] for r in rows if r["given"]["metrics"]),
                        "ours": _means(r["ours"]["metrics"] for r in rows if "ours" in r and r["given"]["metrics"])},
            "features": rows}


def _token_ids(path: Path) -> dict[int, tuple[int, ...]]:
    """Our own labels.jsonl carries each label's exact token ids: score those, not a re-tokenisation."""
    if path.is_dir():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return {}
        if not isinstance(record, dict):
            return {}
        if record.get("token_ids") and record.get("label") is not None and isinstance(record.get("feature"), int):
            out[record["feature"]] = tuple(record["token_ids"])
    return out


def _clean(metrics: dict[str, float] | None) -> dict[str, float | None] | None:
    if metrics is None:
        return None
    return {k: (None if v != v else v) for k, v in metrics.items()}


def _means(metric_dicts) -> dict[str, float | None]:
    metric_dicts = list(metric_dicts)
    out = {}
    for name in METRICS:
        values = [m[name] for m in metric_dicts if m.get(name) is not None]
        out[name] = sum(values) / len(values) if values else None
    out["n"] = len(metric_dicts)
    return out
