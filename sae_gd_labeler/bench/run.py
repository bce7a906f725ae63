"""`sae-gd-labeler bench`: our engine and default labeler against the reference (seed paper) method.

1. speedup (toy world, truth known): features per second to a finished label, our defaults (batched
   features, restarts, the discrete search's own stopping, the world's template) over the reference at
   its settings (one feature at a time, 300 soft steps), with the recovery rate of both beside it.
2. engine_speedup (random GPT-2 small configuration; on CUDA also Gemma-2-2B): feature-steps per second
   at identical work, the reference in float32 as the original code, our engine in the bench's dtype
   (bfloat16 on CUDA); peak memory of each; the step loop's matrix TFLOP/s and, on a known GPU, the
   fraction of its bf16 peak.
2b. on CUDA: features per second to a finished label with our defaults on 512 GPT-2 small features (128
   Gemma-2-2B), projected to a whole gpt2-small-res-jb layer (24,576) and a 16k Gemma Scope layer.
3. scaling: seconds per feature-step as features per batch, examples per step, prompt length and the
   candidate vocabulary grow.
"""

from __future__ import annotations

import gc
import platform
import time
from collections.abc import Callable

import torch

from sae_gd_labeler.bench.memory import PeakMemory
from sae_gd_labeler.bench.reference import ReferenceSettings, reference_label
from sae_gd_labeler.bench.speed import dtype_name, engine_speedup, sync, time_engine
from sae_gd_labeler.bench.synthetic import random_discriminator, random_feature
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.labeler import label_examples

GPT2_SMALL_LAYER = 24576  # features in one gpt2-small-res-jb layer
GEMMA_SCOPE_16K = 16384


def toy_world_speedup(quick: bool, log: Callable) -> dict:
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    disc = Discriminator(world.model, world.template)
    categories = [c for c in world.categories if c != "palindrome"]  # palindrome: nobody can recover it
    if quick:
        categories = categories[:4]
    features = {c: world.examples_for(c, n=96, seed=0) for c in categories}

    config = LabelerConfig()
    # warm both up untimed (first-call allocations, lazy initialisation): a layer has thousands of
    # features, so what is measured is the rate once running
    label_examples({c: features[c] for c in categories[:2]}, disc, config)
    reference_label(disc, features[categories[0]], ReferenceSettings(steps=5))
    with PeakMemory(disc.device) as ours_mem:
        start = time.perf_counter()
        ours = label_examples(features, disc, config)
        ours_s = time.perf_counter() - start
    log(f"toy world, ours: {len(categories)} features in {ours_s:.1f} s")

    settings = ReferenceSettings()
    ref_labels, ref_s = {}, 0.0
    with PeakMemory(disc.device) as ref_mem:
        for c in categories:
            res = reference_label(disc, features[c], settings)
            ref_labels[c], ref_s = res.label, ref_s + res.seconds
    log(f"toy world, reference: {len(categories)} features in {ref_s:.1f} s")
    ours_rate, ref_rate = len(categories) / ours_s, len(categories) / ref_s
    return {
        "speedup": ours_rate / ref_rate,
        "ours": {"features_per_s": ours_rate, "recovery": _rate(ours[c].label == c for c in categories),
                 "peak_mb": ours_mem.peak_mb, "config": config.to_dict()},
        "reference": {"features_per_s": ref_rate, "recovery": _rate(ref_labels[c] == c for c in categories),
                      "peak_mb": ref_mem.peak_mb, "settings": vars(settings)},
        "labels": {c: {"ours": ours[c].label, "reference": ref_labels[c]} for c in categories},
    }


def model_engine_speedup(name: str, device: str, dtype: torch.dtype, quick: bool, log: Callable,
                         peak_tflops: float | None = None) -> dict:
    """engine_speedup on a random-weight model of configuration `name`. The reference runs in float32, as
    the original code did; our engine in `dtype`. When that is not float32, the engine is also timed in
    float32, so that its gain at equal precision is seen apart from the gain of the lower precision."""
    n_features, steps = (2, 3) if quick else (2, 12)  # enough steps that the one-off prefix pass amortises
    if device.startswith("cuda"):
        n_features, steps = (16, 5) if quick else (64, 10)
    batch = min(16, n_features)
    disc = random_discriminator(name, device=device, dtype=torch.float32)
    features = [random_feature(disc, 32, 24, seed=i) for i in range(n_features)]
    result = engine_speedup(disc, features, steps=steps, feature_batch=batch)
    if dtype != torch.float32:
        del disc  # one model at a time: Gemma-2-2B is 10 GB in float32
        gc.collect()
        disc = random_discriminator(name, device=device, dtype=dtype)
        time_engine(disc, features[:1], steps=1, batch_examples=16, feature_batch=1)  # warm-up, untimed
        result["engine_float32"] = result["engine"]
        result["engine_speedup_float32"] = result["engine_speedup"]
        result["engine"] = time_engine(disc, features, steps, batch_examples=16, feature_batch=batch)
        result["engine_speedup"] = (result["engine"]["feature_steps_per_s"]
                                    / result["reference"]["feature_steps_per_s"])
    if peak_tflops:
        result["peak_tflops"] = peak_tflops
        result["peak_fraction"] = result["engine"]["loop_tflops_per_s"] / peak_tflops
    log(f"{name}: engine_speedup {result['engine_speedup']:.1f}x ({result['engine']['dtype']} engine, float32 "
        f"reference); step loop at {result['engine']['loop_tflops_per_s']:.2f} TFLOP/s")
    return result


def labeling_rate(name: str, device: str, dtype: torch.dtype, n_features: int, log: Callable,
                  config: LabelerConfig | None = None) -> dict:
    """Features per second to a finished label with `config` (default: our defaults), and the projection
    to a whole layer."""
    disc = random_discriminator(name, device=device, dtype=dtype)
    features = {i: random_feature(disc, 96, 24, seed=i) for i in range(n_features)}
    config = config if config is not None else LabelerConfig()
    label_examples({-1: random_feature(disc, 96, 24, seed=-1)}, disc, config)  # warm-up, untimed
    sync(device)
    start = time.perf_counter()
    label_examples(features, disc, config)
    sync(device)
    seconds = time.perf_counter() - start
    layer = GPT2_SMALL_LAYER if name == "gpt2-small" else GEMMA_SCOPE_16K
    out = {"features": n_features, "seconds": seconds, "features_per_s": n_features / seconds,
           "projected_hours_per_layer": layer * seconds / n_features / 3600, "layer_features": layer,
           "dtype": dtype_name(dtype), "config": config.to_dict()}
    log(f"{name}: {n_features} features labeled in {seconds:.1f} s; a {layer}-feature layer would take "
        f"{out['projected_hours_per_layer']:.2f} h on {device}")
    return out


def scaling(device: str, log: Callable, steps: int = 8) -> list[dict]:
    """Seconds per feature-step of the engine's soft step loop on the GPT-2 small configuration (the
    one-off prefix pass is reported beside it, not in it)."""
    disc = random_discriminator("gpt2-small", device=device)
    rows = []
    base = dict(features=4, examples=16, context_words=24, vocab="all")
    grid = [("features", [1, 4, 16]), ("examples", [8, 16, 32]), ("context_words", [8, 24, 96]),
            ("vocab", [1000, 10000, "all"])]
    for knob, values in grid:
        for value in values:
            point = dict(base, **{knob: value})
            feats = [random_feature(disc, max(32, point["examples"] * 2), point["context_words"], seed=i)
                     for i in range(point["features"])]
            vocab = "all" if point["vocab"] == "all" else list(range(8, 8 + point["vocab"]))
            t = time_engine(disc, feats, steps=steps, batch_examples=point["examples"],
                            feature_batch=point["features"], candidate_vocab=vocab)
            rows.append({"knob": knob, **point, "s_per_feature_step": t["loop_s_per_feature_step"],
                         "setup_s_per_feature": t["setup_seconds"] / point["features"],
                         "n_candidates": t["n_candidates"]})
            log(f"scaling {knob}={value}: {t['loop_s_per_feature_step']:.3f} s per feature-step, "
                f"{t['setup_seconds'] / point['features']:.2f} s setup per feature")
    return rows


def run_speed_bench(device: str = "cpu", quick: bool = False, log: Callable = print,
                    dtype: torch.dtype | None = None, gemma: bool | None = None,
                    projection_features: int | None = None, peak_tflops: float | None = None,
                    toy_world: bool = True, scaling_grid: bool | None = None,
                    projection_config: LabelerConfig | None = None) -> dict:
    """dtype (our engine's; default bfloat16 on CUDA, float32 elsewhere), gemma (the Gemma-2-2B configuration;
    default on CUDA), projection_features (features labeled for the whole-layer projections; default 512 on
    CUDA, 64 quick, none elsewhere), peak_tflops (the device's dense matrix peak at dtype; default looked up
    for known GPUs), toy_world (the toy-world speedup, which runs on the CPU whatever the device),
    scaling_grid (default: unless quick): what runs beside GPT-2 small's engine_speedup; projection_config:
    the labeler settings of the projections (default: our defaults), to tune them on a new device."""
    on_cuda = device.startswith("cuda")
    dtype = dtype if dtype is not None else (torch.bfloat16 if on_cuda else torch.float32)
    gemma = on_cuda if gemma is None else gemma
    if projection_features is None:
        projection_features = (64 if quick else 512) if on_cuda else 0
    if peak_tflops is None:
        peak_tflops = known_peak_tflops(device, dtype)
    torch.manual_seed(0)
    result: dict = {"device": device, "device_name": _device_name(device), "dtype": dtype_name(dtype),
                    "quick": quick, "torch_threads": torch.get_num_threads()}
    if toy_world:
        result["toy_world"] = toy_world_speedup(quick, log)
    models = ["gpt2-small"] + (["gemma-2-2b"] if gemma else [])
    for name in models:
        key = name.replace("-", "_")
        result[key] = model_engine_speedup(name, device, dtype, quick, log, peak_tflops)
        if projection_features:
            n = projection_features if name == "gpt2-small" else max(1, projection_features // 4)
            result[f"{key}_layer_projection"] = labeling_rate(name, device, dtype, n, log, projection_config)
    if (not quick) if scaling_grid is None else scaling_grid:
        result["scaling"] = scaling(device, log)
    summary = result["summary"] = {}
    if toy_world:
        toy = result["toy_world"]
        summary.update(speedup_toy_world=toy["speedup"], recovery_ours=toy["ours"]["recovery"],
                       recovery_reference=toy["reference"]["recovery"])
    summary.update({
        "engine_speedup_gpt2_small": result["gpt2_small"]["engine_speedup"],
        "peak_mb_engine_gpt2_small": result["gpt2_small"]["engine"]["peak_mb"],
        "peak_mb_reference_gpt2_small": result["gpt2_small"]["reference"]["peak_mb"],
    })
    for key in ("gpt2_small_layer_projection", "gemma_2_2b_layer_projection"):
        if key in result:
            summary[f"{key}_hours"] = result[key]["projected_hours_per_layer"]
    return result


# Dense (no sparsity) tensor-core peaks in TFLOP/s from the vendors' data sheets, by a name fragment.
BF16_PEAK_TFLOPS = {"H200 NVL": 835.0, "H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 PCIe": 756.0,
                    "H100 NVL": 835.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


def known_peak_tflops(device: str, dtype: torch.dtype) -> float | None:
    """The bf16 matrix peak of a known CUDA device, else None (give --peak-tflops)."""
    if not device.startswith("cuda") or dtype != torch.bfloat16:
        return None
    name = _device_name(device)
    return next((peak for fragment, peak in BF16_PEAK_TFLOPS.items() if fragment in name), None)


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def _rate(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else float("nan")
