"""A synthetic run directory of any size, shaped as a bulk run writes it (16 top contexts of 32 tokens,
4 x 3 quantile samples, 128 sampled activations, 96 + 32 examples, 10 candidates, 4 restarts, 3 baselines),
for the report's size, pagination and robustness tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = ["the", "cat", "sat", "on", "a", "mat", "with", "seven", "red", "apples", "in", "paris", "and",
         "dog", "ran", "to", "market", "blue", "hammer", "river", "ate", "bread", "slowly", "green"]


def _tokens(rng: random.Random, n: int = 32) -> list[str]:
    return [" " + rng.choice(WORDS) for _ in range(n)]


def label_record(rng: random.Random, feature: int, status: str = "ok") -> dict:
    losses = sorted(rng.uniform(0.2, 0.9) for _ in range(10))
    restarts = []
    for _ in range(4):
        n = rng.randint(3, 12)
        start = rng.uniform(0.6, 1.2)
        restarts.append({"tokens": [rng.choice(WORDS) for _ in range(n)],
                         "losses": [round(start * 0.9 ** i, 6) for i in range(n)]})
    metrics = {k: round(rng.uniform(0.4, 1.0), 6) for k in ("balanced_accuracy", "precision", "recall", "f1", "auroc")}
    base = lambda: {k: round(rng.uniform(0.4, 0.9), 6) for k in metrics}  # noqa: E731
    return {
        "feature": feature, "label": rng.choice(WORDS), "token_ids": [rng.randrange(50000)],
        "candidates": [{"label": rng.choice(WORDS), "token_ids": [rng.randrange(50000)], "loss": loss}
                       for loss in losses],
        "metrics": metrics, "n_positive": 48, "n_negative": 48, "steps": 30, "status": status,
        "trajectory": None, "calibration": None, "hook_name": "blocks.8.hook_resid_pre",
        "baselines": {"most_frequent_token": {"label": "the", "metrics": base()},
                      "output_projection": {"label": "cat", "top_tokens": WORDS[:10], "metrics": base()},
                      "uninformative": {"label": "(uniform mixture of all candidate tokens)", "metrics": base()}},
        "search_history": {"method": "discrete", "restarts": restarts},
    }


def examples_record(rng: random.Random, feature: int) -> dict:
    top_acts = sorted((rng.uniform(1, 10) for _ in range(16)), reverse=True)
    example = lambda: {"context": "".join(_tokens(rng)).strip(), "token": "cat",  # noqa: E731
                       "activation": round(rng.uniform(0, 5), 6)}
    return {
        "feature": feature, "hook_name": "blocks.8.hook_resid_pre", "n_tokens": 1_000_000,
        "n_fired": rng.randint(100, 5000), "max_activation": top_acts[0],
        "top": [{"tokens": _tokens(rng), "activation": round(a, 6)} for a in top_acts],
        "quantiles": [{"tokens": _tokens(rng), "activation": round(rng.uniform(q, q + 1), 6), "quantile": q}
                      for q in range(4) for _ in range(3)],
        "activation_sample": [round(rng.expovariate(0.5), 6) for _ in range(128)],
        "train": [example() for _ in range(96)], "heldout": [example() for _ in range(32)],
    }


def write_synthetic_run(path: Path, n_features: int, seed: int = 0, summary: bool = True) -> Path:
    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    config = {"format_version": 1, "package_version": "0.1.0",
              "sae": {"release": "gpt2-small-res-jb", "sae_id": "blocks.8.hook_resid_pre", "path": None,
                      "toy_world": None, "hook_name": "blocks.8.hook_resid_pre", "d_sae": 24576,
                      "architecture": "standard", "neuronpedia_id": "gpt2-small/8-res-jb"},
              "model": "gpt2", "discriminator": "gpt2", "dataset": "synthetic", "n_tokens": 1_000_000,
              "features": f"0-{n_features - 1}", "seed": seed, "dtype": "float32",
              "labeler_config": {"method": "discrete", "weak_threshold": 0.7, "weak_auroc_margin": 0.05},
              "activation_config": {}}
    (path / "run_config.json").write_text(json.dumps(config))
    statuses = ["ok", "ok", "ok", "weak", "dead"]
    with (path / "labels.jsonl").open("w") as lab, (path / "examples.jsonl").open("w") as ex:
        for f in range(n_features):
            status = statuses[f % len(statuses)]
            record = label_record(rng, f, status)
            if status == "dead":
                record.update(label=None, token_ids=[], candidates=[], metrics={}, baselines=None, search_history=None)
            lab.write(json.dumps(record) + "\n")
            ex.write(json.dumps(examples_record(rng, f)) + "\n")
    if summary:
        (path / "summary.json").write_text(json.dumps({"n_requested": n_features, "counts": {}, "mean_metrics": {},
                                                       "seconds": 12.5}))
    return path


def test_the_synthetic_run_reads_back_whole(tmp_path):
    from sae_gd_labeler.report.load import load_run

    run = load_run(write_synthetic_run(tmp_path / "run", 7))
    assert [f.label["feature"] for f in run.features] == list(range(7)) and run.problems == []
    assert all(f.examples is not None and len(f.examples["top"]) == 16 for f in run.features)
