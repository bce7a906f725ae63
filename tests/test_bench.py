"""The benchmark's measuring pieces on a tiny model (the benchmark itself is a command, not a test)."""

import json

import pytest
import torch

from sae_gd_labeler import LabelerConfig
from sae_gd_labeler.bench.run import known_peak_tflops
from sae_gd_labeler.bench.speed import engine_speedup, step_flops
from sae_gd_labeler.bench.synthetic import PAPER_STYLE, TEMPLATE_WORDS, random_feature, synthetic_words
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from tests.builders import tiny_model


def _disc() -> Discriminator:
    return Discriminator(tiny_model("gpt2", synthetic_words(2000 + len(TEMPLATE_WORDS)), n_ctx=128), PAPER_STYLE)


def test_step_flops_counts_the_step_loop_matrix_work():
    disc = _disc()
    cfg = LabelerConfig(method="soft", restarts=1, batch_examples=8)
    feats = [FeatureData(i, random_feature(disc, 16, 6, seed=i), []) for i in range(4)]
    cand = torch.arange(disc.d_vocab)
    with disc.frozen():
        one = step_flops(FeatureBatch(disc, feats[:2], cand, cfg))
        two = step_flops(FeatureBatch(disc, feats, cand, cfg))
    # every matrix product of a step is per feature: twice the features, twice the work
    assert two == 2 * one
    # at least the model's forward and input-gradient over 2 features x 8 rows x (label + suffix) tokens
    n_tokens = 2 * 8 * (1 + len(disc.suffix_ids))
    block = 4 * 32 * 32 + 2 * 32 * 64  # attention q, k, v, o + MLP in, out weights per token, d_model 32
    assert one >= 2 * 2 * n_tokens * block * disc.model.cfg.n_layers


def test_engine_speedup_reports_both_paths():
    disc = _disc()
    features = [random_feature(disc, 16, 6, seed=i) for i in range(2)]
    result = engine_speedup(disc, features, steps=2, batch_examples=8, feature_batch=2)
    for path in ("engine", "reference"):
        assert result[path]["feature_steps_per_s"] > 0
    assert result["engine"]["loop_tflops_per_s"] > 0 and result["engine"]["dtype"] == "float32"
    assert result["engine_speedup"] == (result["engine"]["feature_steps_per_s"]
                                       / result["reference"]["feature_steps_per_s"])


def test_known_peak_is_only_for_known_gpus():
    assert known_peak_tflops("cpu", torch.bfloat16) is None


@pytest.mark.slow
def test_bench_command_quick_run_writes_its_figures(tmp_path):
    from sae_gd_labeler.cli import main

    out = tmp_path / "speed.json"
    assert main(["bench", "--quick", "--no-toy-world", "--dtype", "bfloat16", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    gpt2 = result["gpt2_small"]
    assert result["dtype"] == "bfloat16" and "toy_world" not in result and "scaling" not in result
    assert gpt2["engine"]["dtype"] == "bfloat16" and gpt2["engine_float32"]["dtype"] == "float32"
    assert gpt2["engine_speedup"] > 0 and result["summary"]["engine_speedup_gpt2_small"] == gpt2["engine_speedup"]
