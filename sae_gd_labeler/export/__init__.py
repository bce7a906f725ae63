"""Exports of a bulk-run directory for the tools people already use (`sae-gd-labeler export`).

    from sae_gd_labeler.export import export_run
    export_run("label_runs/gpt2", "delphi")        # -> RUN_DIR/export/delphi/explanations/<hook>_latent<i>.txt
    export_run("label_runs/gpt2", "neuronpedia")   # -> RUN_DIR/export/neuronpedia.jsonl
    export_run("label_runs/gpt2", "csv", out="labels.csv")

delphi and neuronpedia hold the labeled features (status "ok" or "weak"), csv every feature. Each file is
written to a temporary name and renamed into place, so a failed export leaves the old file whole. Every
bad input (not a run directory, an unknown format, an output that cannot be written) is a ValueError with
a one-line message naming the problem and the fix. Pure Python: nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

from sae_gd_labeler.export import csv_table, delphi, neuronpedia
from sae_gd_labeler.export.common import ExportError, load_run

FORMATS = {"delphi": delphi, "neuronpedia": neuronpedia, "csv": csv_table}
__all__ = ["FORMATS", "ExportError", "export_run"]


def export_run(run_dir: Path | str, fmt: str, out: Path | str | None = None) -> Path:
    """Export the run in `run_dir` as `fmt`; returns the file written (delphi: the explanations folder).

    `out`: a folder (the export's usual name goes inside), or for csv / neuronpedia a file path ending in
    .csv / .jsonl; by default RUN_DIR/export/ (delphi: RUN_DIR/export/delphi/).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt].export(load_run(run_dir), out)
