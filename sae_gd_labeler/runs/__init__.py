"""Bulk runs: label whole SAE dictionaries into a resumable run directory (`sae-gd-labeler label`).

    from sae_gd_labeler.runs import RunDirectory, label_run, parse_feature_spec

See run_dir (the files), bulk (the loop), distributed (torchrun), sources (where SAEs and models come
from) and command (the command line). Names load on first use, so the command line parses first.
"""

from __future__ import annotations

from sae_gd_labeler.lazy_exports import lazy_exports

_PUBLIC = {"RunDirectory": "run_dir", "RunDirectoryError": "run_dir", "label_run": "bulk",
           "parse_feature_spec": "feature_spec", "FeatureSpec": "feature_spec"}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
