"""Bulk runs: label whole SAE dictionaries into a resumable run directory (`sae-gd-labeler label`).

    from sae_gd_labeler.runs import RunDirectory, label_run, parse_feature_spec

See run_dir (the files), bulk (the loop), distributed (torchrun), sources (where SAEs and models come
from) and command (the command line). Names load on first use, so the command line parses first.
"""

from __future__ import annotations

import importlib

_PUBLIC = {"RunDirectory": "run_dir", "RunDirectoryError": "run_dir", "label_run": "bulk",
           "parse_feature_spec": "feature_spec", "FeatureSpec": "feature_spec"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"sae_gd_labeler.runs.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'sae_gd_labeler.runs' has no attribute {name!r}")
