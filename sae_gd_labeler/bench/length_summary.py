"""The K = 1 / K = 2 / auto comparison that the compound and multi-token-category benchmarks both report."""

from __future__ import annotations

from collections.abc import Sequence


def summarize_lengths(runs: Sequence) -> dict:
    """What K = 1, K = 2 and auto did, over runs with `ceiling_ok`, `recovered_k2` / `_auto` and
    `balanced_accuracy_k1` / `_k2` / `_auto` (compound and multi-token-category runs alike)."""
    fair = [r for r in runs if r.ceiling_ok]
    return {
        "runs": len(runs),
        "ceiling_ok_runs": len(fair),
        "exact_recovery_k2_where_ceiling_ok": sum(r.recovered_k2 for r in fair),
        "exact_recovery_auto_where_ceiling_ok": sum(r.recovered_auto for r in fair),
        **{f"mean_heldout_balanced_accuracy_{k}": mean([getattr(r, f"balanced_accuracy_{k}") for r in runs])
           for k in ("k1", "k2", "auto")},
    }


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")
