"""Neuronpedia explanations as JSON lines, one per labeled feature, with the fields of its Explanation table.

    {"modelId": "gpt2-small", "layer": "6-res-jb", "index": "12", "description": "animal",
     "typeName": "sae-gd-labeler", "explanationModelName": "smollm2-135m-instruct",
     "sae_gd_labeler_status": "ok", "sae_gd_labeler_metrics": {"balanced_accuracy": 0.91, ...}}

- modelId / layer: the SAE's `neuronpedia_id` ("model/source", e.g. "gpt2-small/6-res-jb") when sae_lens
  knows it. Otherwise modelId is the run's model name (its last "/" part, lower-cased: Neuronpedia's ids
  are lower case) and layer is made from the hook name, "<block>-<rest of the hook>" without "hook_"
  (`blocks.6.hook_resid_pre` -> "6-resid-pre", `blocks.3.attn.hook_z` -> "3-attn-z"): such an SAE is not on
  Neuronpedia yet, so its source id is whatever it is registered under; rename before uploading.
- index: a string, as Neuronpedia stores it (its feature keys are strings).
- typeName: "sae-gd-labeler", the method; explanationModelName: the run's discriminator (the model that
  judged the labels; no LM wrote them).
- Our held-out scores under our own keys: sae_gd_labeler_status ("ok", or "weak": a label kept but below the
  trust threshold; filter on it) and sae_gd_labeler_metrics (balanced_accuracy, precision, recall, f1,
  auroc; null when undefined). Features without a label (dead, too rare, ...) have no line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sae_gd_labeler.export.common import Run, output_file, write_atomic

DEFAULT_NAME = "neuronpedia.jsonl"
TYPE_NAME = "sae-gd-labeler"


def source_ids(run: Run, hook_name: str) -> tuple[str, str]:
    """(modelId, layer) of the run's SAE on Neuronpedia."""
    neuronpedia_id = (run.config.get("sae") or {}).get("neuronpedia_id")
    if neuronpedia_id and "/" in neuronpedia_id:
        model_id, layer = neuronpedia_id.split("/", 1)
        return model_id, layer
    model_id = str(run.config.get("model") or "unknown-model").rsplit("/", 1)[-1].lower()
    return model_id, layer_from_hook(hook_name)


def layer_from_hook(hook_name: str) -> str:
    parts = re.sub(r"(^|\.)hook_", r"\1", hook_name).split(".")
    if len(parts) > 1 and parts[0] == "blocks":
        parts = parts[1:]  # "blocks.6.x" -> "6.x": Neuronpedia source ids start with the layer
    return "-".join(p.replace("_", "-") for p in parts if p)


def record(run: Run, r: dict) -> dict:
    model_id, layer = source_ids(run, run.hook_name(r))
    return {"modelId": model_id, "layer": layer, "index": str(r["feature"]), "description": r["label"],
            "typeName": TYPE_NAME, "explanationModelName": run.config.get("discriminator"),
            "sae_gd_labeler_status": r["status"], "sae_gd_labeler_metrics": r.get("metrics") or {}}


def export(run: Run, out: Path | str | None) -> Path:
    path = output_file(run, out, DEFAULT_NAME)
    lines = "".join(json.dumps(record(run, r), ensure_ascii=False, allow_nan=False) + "\n" for r in run.labeled)
    write_atomic(path, lines.encode("utf-8"))
    return path
