"""Time and peak memory of matching two whole SAE dictionaries by decoder cosine (flow.matching.match).

    python -m sae_gd_labeler.bench.flow_match --d-sae 65536 --d-in 2304 --block-size 8192 --json flow_match.json

Two random dictionaries of `d_sae` rows of width `d_in` (2304 is Gemma-2-2B's residual width, 65,536 a
Gemma Scope width) are matched top-1 in blocks. The peak is the
memory above what the two dictionaries themselves take (resident set on CPU, the allocator's counter on
GPU): the matcher's working set, which depends on `block_size`, not on `d_sae`. A few rows are checked
against a dense float64 computation so a fast wrong answer cannot pass as a result.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from sae_gd_labeler.bench.memory import PeakMemory
from sae_gd_labeler.flow.matching import match


def run_flow_match_bench(d_sae: int = 65536, d_in: int = 2304, *, block_size: int = 8192, k: int = 1,
                         dtype: torch.dtype = torch.float32, device: str = "cpu", n_check: int = 32,
                         seed: int = 0, log=print) -> dict:
    """Match two random `[d_sae, d_in]` dictionaries; return seconds, peak MB and a spot check."""
    g = torch.Generator().manual_seed(seed)
    w_a = torch.randn(d_sae, d_in, generator=g).to(device=device, dtype=dtype)  # [d_sae, d_in]
    w_b = torch.randn(d_sae, d_in, generator=g).to(device=device, dtype=dtype)  # [d_sae, d_in]
    input_mb = 2 * w_a.numel() * w_a.element_size() / 2**20
    log(f"matching {d_sae:,} x {d_sae:,} features of width {d_in} ({dtype}, {device}, block {block_size}); "
        f"the two dictionaries take {input_mb:,.0f} MB")
    with PeakMemory(device) as mem:
        start = time.perf_counter()
        indices, scores = match(w_a, w_b, k=k, block_size=block_size, dtype=dtype)
        seconds = time.perf_counter() - start

    # Spot check: a few rows against the dense computation in float64.
    rows = torch.randperm(d_sae, generator=g)[:n_check]
    a = F.normalize(w_a[rows].double(), dim=1)  # [n_check, d_in]
    ref = torch.cat([a @ F.normalize(w_b[j:j + 8192].double(), dim=1).T  # [n_check, <= 8192]
                     for j in range(0, d_sae, 8192)], dim=1)  # [n_check, d_sae], in chunks: no float64 copy
    ref_s, ref_i = ref.topk(k, dim=1)
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    score_err = (scores[rows].double() - ref_s.cpu()).abs().max().item()
    same_index = (indices[rows] == ref_i.cpu()).float().mean().item()
    result = {"d_sae": d_sae, "d_in": d_in, "k": k, "block_size": block_size, "dtype": str(dtype),
              "device": device, "threads": torch.get_num_threads(), "seconds": seconds,
              "peak_mb": mem.peak_mb, "input_mb": input_mb, "pairs_per_second": d_sae * d_sae / seconds,
              "spot_check_max_score_error": score_err, "spot_check_same_index": same_index,
              "spot_check_ok": score_err <= tol}
    log(f"{seconds:,.1f} s, peak {mem.peak_mb:,.0f} MB above the inputs; spot check on {n_check} rows: "
        f"max score error {score_err:.2e}, same index {same_index:.0%}")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Benchmark flow.match on two random dictionaries.")
    p.add_argument("--d-sae", type=int, default=65536)
    p.add_argument("--d-in", type=int, default=2304)
    p.add_argument("--block-size", type=int, default=8192)
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="write the result here as JSON")
    args = p.parse_args(argv)
    result = run_flow_match_bench(args.d_sae, args.d_in, block_size=args.block_size,
                                  dtype=getattr(torch, args.dtype), device=args.device)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result["spot_check_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
