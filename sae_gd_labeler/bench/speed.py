"""Speed of our engine against the reference (the seed paper's method), measured in one process.

engine_speedup: feature-steps per second of the engine over the reference at identical work: the same
discriminator, template, examples, number of soft steps, batch of examples and one restart. The engine
batches features, caches each prompt up to the label, and reads two answer columns instead of the full
vocabulary; the reference runs one feature at a time exactly as the original code did.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from sae_gd_labeler.bench.memory import PeakMemory
from sae_gd_labeler.bench.reference import ReferenceSettings, reference_label
from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from sae_gd_labeler.search.soft_search import soft_loss, soft_search


def sync(device: torch.device | str) -> None:
    """Wait for the device's queued work, so that a host timer measures it (a no-op off CUDA)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def time_reference(disc: Discriminator, features: Sequence[Sequence[Example]], steps: int,
                   batch_examples: int) -> dict[str, float]:
    settings = ReferenceSettings(steps=steps, batch=batch_examples)
    sync(disc.device)
    with PeakMemory(disc.device) as mem:
        start = time.perf_counter()
        for examples in features:
            reference_label(disc, examples, settings)
        sync(disc.device)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "feature_steps_per_s": len(features) * steps / seconds, "peak_mb": mem.peak_mb}


def time_engine(disc: Discriminator, features: Sequence[Sequence[Example]], steps: int, batch_examples: int,
                feature_batch: int, candidate_vocab="all") -> dict[str, float]:
    """The engine's soft phase at the reference's settings (one restart, same steps and batch)."""
    cfg = LabelerConfig(method="soft", restarts=1, soft_steps=steps, batch_examples=batch_examples,
                        kl_weight=0.2, entropy_weight=0.2, entropy_warmup_steps=0, lr=0.1,
                        candidate_vocab=candidate_vocab, feature_batch_size=feature_batch,
                        examples_per_feature=max(len(f) for f in features))
    candidates = candidate_token_ids(disc, cfg.candidate_vocab)
    data = [FeatureData(i, list(f), []) for i, f in enumerate(features)]
    setup = loop = 0.0  # the one-off prefix pass, and the step loop
    loop_flops = 0
    sync(disc.device)
    with PeakMemory(disc.device) as mem, disc.frozen():
        for s in range(0, len(data), feature_batch):
            start = time.perf_counter()
            batch = FeatureBatch(disc, data[s:s + feature_batch], candidates, cfg)
            sync(disc.device)
            middle = time.perf_counter()
            soft_search(batch)
            sync(disc.device)
            setup, loop = setup + middle - start, loop + time.perf_counter() - middle
            loop_flops += steps * step_flops(batch)  # counted after the timing, outside it
    seconds = setup + loop
    return {"seconds": seconds, "feature_steps_per_s": len(features) * steps / seconds, "peak_mb": mem.peak_mb,
            "setup_seconds": setup, "loop_s_per_feature_step": loop / (len(features) * steps),
            "loop_tflops_per_s": loop_flops / loop / 1e12, "dtype": dtype_name(disc.W_E.dtype),
            "n_candidates": len(candidates)}


def step_flops(batch: FeatureBatch) -> int:
    """Floating-point operations of one soft step (forward and backward) on this batch, as torch's flop
    counter counts them: matrix products only, so the achieved rate it gives is comparable to a
    matrix-unit peak. Rows are not drawn from the features' generators, which would shift their draws."""
    cfg = batch.config
    rows = batch.fixed_rows("train", cfg.batch_examples)  # [F, B]
    v = torch.zeros(len(batch), cfg.restarts, len(batch.candidate_ids), device=batch.W_cand.device,
                    requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        soft_loss(batch, v, rows, step=1).sum().backward()
    return counter.get_total_flops()


def engine_speedup(disc: Discriminator, features: Sequence[Sequence[Example]], steps: int = 10,
                   batch_examples: int = 16, feature_batch: int = 16) -> dict:
    reference = time_reference(disc, features, steps, batch_examples)
    engine = time_engine(disc, features, steps, batch_examples, feature_batch)
    return {
        "engine_speedup": engine["feature_steps_per_s"] / reference["feature_steps_per_s"],
        "reference": reference,
        "engine": engine,
        "work": {"features": len(features), "steps": steps, "batch_examples": batch_examples,
                 "feature_batch": feature_batch, "restarts": 1},
    }
