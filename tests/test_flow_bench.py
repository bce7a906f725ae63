"""The benchmarks of flow matching and deactivation, at reduced size (the full runs are commands, not tests)."""

from sae_gd_labeler.bench.flow_match import run_flow_match_bench
from sae_gd_labeler.flow.bench import run_deactivation_bench


def test_flow_match_bench_small():
    result = run_flow_match_bench(d_sae=1024, d_in=64, block_size=256, log=lambda *_: None)
    assert result["spot_check_ok"] and result["spot_check_same_index"] == 1.0
    assert result["seconds"] > 0 and result["peak_mb"] == result["peak_mb"]  # measured, not NaN


def test_deactivation_bench_small():
    result = run_deactivation_bench(range(0, 512, 64), max_occurrences=4, max_tokens=2000, log=lambda *_: None)
    assert set(result["sources"]) == {"residual", "mlp", "attention"}
    res = result["sources"]["residual"]
    assert res["top1"]["n_pairs"] >= 4 and 0.0 <= res["top1"]["success_rate"] <= 1.0
    assert result["together"]["n_pairs"] == res["top1"]["n_pairs"]
