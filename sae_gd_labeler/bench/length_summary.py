"""The K = 1 / K = 2 / auto comparison that the compound and multi-token-category benchmarks both report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LENGTHS = {"k1": 1, "k2": 2, "auto": "auto"}  # the three ways each feature is labeled (label_tokens)


@dataclass
class LengthComparison:
    """One (concept, seed) labeled with K = 1, K = 2 and auto: the labels, whether K = 2 / auto returned the
    exact name, and each label's held-out balanced accuracy."""

    label_k1: str | None
    label_k2: str | None
    label_auto: str | None
    recovered_k2: bool
    recovered_auto: bool
    balanced_accuracy_k1: float
    balanced_accuracy_k2: float
    balanced_accuracy_auto: float


def summarize_lengths(runs: Sequence[LengthComparison]) -> dict:
    """What K = 1, K = 2 and auto did over the runs (each also with `ceiling_ok`: the name is the lowest-loss
    label checked), compound and multi-token-category runs alike."""
    fair = [r for r in runs if r.ceiling_ok]
    return {
        "runs": len(runs),
        "ceiling_ok_runs": len(fair),
        "exact_recovery_k2_where_ceiling_ok": sum(r.recovered_k2 for r in fair),
        "exact_recovery_auto_where_ceiling_ok": sum(r.recovered_auto for r in fair),
        **{f"mean_heldout_balanced_accuracy_{k}": mean([getattr(r, f"balanced_accuracy_{k}") for r in runs])
           for k in LENGTHS},
    }


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")
