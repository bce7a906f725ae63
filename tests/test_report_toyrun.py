"""A real run directory for the report's tests: the bulk writer (`label_run`) on a few features of the toy
world's SAE (content-word features, one dead), built once per test session; and checks that it keeps the
run-directory contract the report reads."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

HOOK = "blocks.1.hook_resid_post"
# features whose top tokens are places, people's names and plants (steering.measure.category_feature), and a dead one
FEATURES = "366,8,18,11"
_BUILT: dict[str, Path] = {}


def build_toy_run(path: Path) -> Path:
    from sae_gd_labeler.runs.bulk import label_run
    from sae_gd_labeler.runs.feature_spec import parse_feature_spec
    from sae_gd_labeler.runs.run_dir import FORMAT_VERSION, RunDirectory
    from sae_gd_labeler.runs.sources import toy_world_sources

    args = types.SimpleNamespace(toy_world=HOOK, release=None, sae_id=None, sae_path=None, model=None,
                                 discriminator=None, dataset=None)
    sources = toy_world_sources(args)
    spec = parse_feature_spec(FEATURES)
    label_run(RunDirectory(path), sources.sae, spec, model=sources.model, discriminator=sources.discriminator,
              dataset=sources.dataset, run_config={"format_version": FORMAT_VERSION, **sources.description,
                                                   "features": spec.text, "seed": 0},
              example_fn=sources.example_fn)
    return path


def toy_run_dir(tmp_path_factory) -> Path:
    """The run directory, built on first use (the report's test files share it)."""
    if "run" not in _BUILT:
        _BUILT["run"] = build_toy_run(tmp_path_factory.mktemp("report_toy") / "run")
    return _BUILT["run"]


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory) -> Path:
    return toy_run_dir(tmp_path_factory)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_toy_run_keeps_the_contract_the_report_reads(toy_run):
    config = json.loads((toy_run / "run_config.json").read_text())
    assert config["sae"]["hook_name"] == HOOK and config["format_version"] == 1
    labels = {r["feature"]: r for r in _lines(toy_run / "labels.jsonl")}
    examples = {r["feature"]: r for r in _lines(toy_run / "examples.jsonl")}
    assert sorted(labels) == sorted(map(int, FEATURES.split(","))) == sorted(examples)
    assert labels[11]["status"] == "dead" and labels[11]["label"] is None
    labeled = [f for f, r in labels.items() if r["label"] is not None]
    assert len(labeled) == 3
    for f in labeled:
        ex = examples[f]
        assert ex["top"] and ex["quantiles"] and ex["activation_sample"] and ex["heldout"]
        acts = [c["activation"] for c in ex["top"]]
        assert acts == sorted(acts, reverse=True) and acts[0] == pytest.approx(ex["max_activation"], rel=1e-5)
        assert all(c["tokens"] for c in ex["top"])
