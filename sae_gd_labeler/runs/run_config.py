"""run_config.json: what a run records so that it can be reproduced and resumed, built in one place for the
command line and the examples (a run started by one can be resumed by the other)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sae_gd_labeler.runs.run_dir import FORMAT_VERSION


def describe_sae(sae, *, release: str | None = None, sae_id: str | None = None, path: str | None = None,
                 toy_world: str | None = None, neuronpedia_id: str | None = None) -> dict[str, Any]:
    return {"release": release, "sae_id": sae_id, "path": path, "toy_world": toy_world,
            "neuronpedia_id": neuronpedia_id or sae.cfg.metadata.neuronpedia_id,
            "hook_name": sae.cfg.metadata.hook_name, "d_sae": sae.cfg.d_sae, "architecture": sae.cfg.architecture()}


def build_run_config(sources: dict[str, Any], *, features: str, seed: int, config, activation_config, sampling,
                     text_column: str | None = None, n_tokens: int | None = None, dtype: str | None = None,
                     device: str | None = None, command: list[str] | None = None,
                     baselines: bool = True) -> dict[str, Any]:
    """`sources`: {"sae": describe_sae(...), "model": name, "discriminator": name, "dataset": name}."""
    return {"format_version": FORMAT_VERSION, "package_version": package_version(), **sources,
            "text_column": text_column, "n_tokens": n_tokens, "features": features, "seed": seed, "dtype": dtype,
            "device": device, "labeler_config": config.to_dict(),
            "activation_config": dataclasses.asdict(activation_config),
            "sampling_config": dataclasses.asdict(sampling), "baselines": baselines, "command": list(command or [])}


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sae-gd-labeler")
    except PackageNotFoundError:
        return "unknown"
