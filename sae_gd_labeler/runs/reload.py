"""Rebuild a finished run's discriminator and its examples from its run directory (for `score`)."""

from __future__ import annotations

from typing import Any

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.runs.run_dir import RunDirectory, RunDirectoryError
from sae_gd_labeler.runs.sources import load_model, readout_template
from sae_gd_labeler.search.config import LabelerConfig


def run_discriminator(run: RunDirectory, device: str | None = None):
    """(Discriminator, LabelerConfig) as the run had them: the same model, template, readout and config."""
    from sae_gd_labeler.readout.discriminator import Discriminator

    config = run_config(run)
    labeler = LabelerConfig.from_dict(config["labeler_config"])
    model = load_model(config["discriminator"], device or config.get("device"), config.get("dtype"))
    return Discriminator(model, readout_template(model, labeler)), labeler


def run_examples(run: RunDirectory) -> dict[int, tuple[list[Example], list[Example]]]:
    """Per feature, the (train, heldout) examples the run gave the labeler."""
    return {f: ([Example.from_dict(e) for e in r["train"]], [Example.from_dict(e) for e in r["heldout"]])
            for f, r in run.example_records().items() if r.get("train") and r.get("heldout")}


def run_config(run: RunDirectory) -> dict[str, Any]:
    config = run.config()
    if config is None or not run.labels.path.exists() and not run.shards("labels"):
        raise RunDirectoryError(f"{run.path} is not a run directory (no run_config.json or labels.jsonl); give the "
                                "folder a `sae-gd-labeler label` run wrote (its --out)")
    return config
