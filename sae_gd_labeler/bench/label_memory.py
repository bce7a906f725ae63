"""Peak memory of labeling against the budget the automatic batch size aims for, per readout.

    python -m sae_gd_labeler.bench.label_memory --model smollm2-135m-instruct --readouts yes_no,answer,cause \\
        --features 24 --budget-gb 2 --json label_memory.json

For each readout, in a fresh process (so one readout's freed memory does not hide the next one's peak): the
packaged model is loaded, N WordNet category features are built as bench-quality builds them (real words,
half the negatives near misses), and `label_examples` labels all of them with `feature_batch_size="auto"`.
Reported: the automatic batch size (features per batch), the stated budget (the bytes that batch size was
sized to fit: MEMORY_FRACTION of the free memory the sizing saw; `--budget-gb` caps it, see
`memory_budget.memory_limit`), the estimated resident peak (`memory_budget.batch_bytes`: the tensors, times
CPU_ALLOCATOR_OVERHEAD on CPU), the measured peak of the labeling call above its start (`PeakMemory`: resident
set sampled on CPU, the allocator's peak on CUDA), whether peak <= budget, and the wall seconds.

The search is shortened (`--soft-steps`, `--discrete-max-iters`): a step's memory does not depend on how many
steps run, only on the batch (features x restarts x minibatch rows). Readouts: yes_no (the paper's question,
`PromptTemplate`), answer (label-as-answer), cause (label-as-cause, `CauseTemplate.few_shot()`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

READOUTS = ("yes_no", "answer", "cause")
GB = 2**30


def readout_discriminator(model, readout: str):
    """yes_no: the yes / no question a model without a packaged default gets (`PromptTemplate.default_for`);
    answer: `AnswerTemplate()` (the packaged models' default); cause: `CauseTemplate.few_shot()`."""
    from sae_gd_labeler.readout.cause_readout import CauseTemplate
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate

    if readout == "cause":
        return Discriminator(model, CauseTemplate.few_shot())
    if readout == "answer":
        return Discriminator(model, AnswerTemplate())
    return Discriminator(model, PromptTemplate.default_for(model.tokenizer))


def wordnet_features(n: int, n_examples: int, seed: int = 0) -> dict:
    """n WordNet category features (the shipped categories in order; past the last one, again with the next seed)."""
    from sae_gd_labeler.bench.real_quality import HARD_NEGATIVES
    from sae_gd_labeler.data.real_categories import load_categories
    from sae_gd_labeler.data.real_examples import category_examples

    taxonomy = load_categories()
    names = [c.name for c in taxonomy]
    out = {}
    for i in range(n):
        name, s = names[i % len(names)], seed + i // len(names)
        out[name if s == seed else f"{name}#{s}"] = category_examples(
            name, taxonomy, n_examples, s, context="word", hard_negatives=HARD_NEGATIVES)
    return out


def measure(model_name: str, readout: str, n_features: int, config_overrides: dict, budget_gb: float | None,
            n_examples: int = 96) -> dict:
    """One readout in this process: the auto batch size, its budget, the labeling call's peak and time."""
    from sae_gd_labeler.bench.memory import PeakMemory
    from sae_gd_labeler.models import load_packaged_model
    from sae_gd_labeler.readout.vocab import candidate_token_ids
    from sae_gd_labeler.search import memory_budget
    from sae_gd_labeler.search.config import LabelerConfig
    from sae_gd_labeler.search.labeler import label_examples, split_examples

    model = load_packaged_model(model_name)
    disc = readout_discriminator(model, readout)
    config = LabelerConfig(readout=readout, **config_overrides)
    features = wordnet_features(n_features, n_examples)
    limit = None if budget_gb is None else int(budget_gb * GB / memory_budget.MEMORY_FRACTION)
    with memory_budget.memory_limit(limit):
        # the sizing label_examples does, repeated here to report it (the same inputs give the same size)
        ready = [split_examples(f, ex, config) for f, ex in features.items()]
        n_candidates = len(candidate_token_ids(disc, config.candidate_vocab))
        estimate = memory_budget.auto_batch_estimate(disc, ready, config, n_candidates)
        start = time.perf_counter()
        with PeakMemory(disc.device) as memory:
            labels = label_examples(features, disc, config)
        seconds = time.perf_counter() - start
    peak = memory.peak_mb * 2**20
    return {"model": model_name, "readout": readout, "features": n_features, "examples_per_feature": n_examples,
            "auto_batch_size": estimate.batch_size, "budget_bytes": estimate.budget_bytes,
            "estimated_bytes": estimate.estimated_bytes, "peak_bytes": peak,
            "budget_gb": estimate.budget_bytes / GB, "estimated_gb": estimate.estimated_bytes / GB,
            "peak_gb": peak / GB, "within_budget": peak <= estimate.budget_bytes, "seconds": seconds,
            "seconds_per_label": seconds / n_features, "torch_threads": torch.get_num_threads(),
            "config": config.to_dict(), "labels": {str(k): v.label for k, v in labels.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a packaged real LM")
    parser.add_argument("--readouts", default=",".join(READOUTS), help=f"comma-separated, of {READOUTS}")
    parser.add_argument("--features", type=int, default=24, help="WordNet category features labeled")
    parser.add_argument("--examples", type=int, default=96, help="examples per feature")
    parser.add_argument("--budget-gb", type=float, default=None,
                        help="cap the budget the auto batch size aims for (default: MEMORY_FRACTION of free memory)")
    parser.add_argument("--restarts", type=int, default=None)
    parser.add_argument("--soft-steps", type=int, default=10)
    parser.add_argument("--discrete-max-iters", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--return-freed", action="store_true",
                        help="run each readout with MALLOC_MMAP_THRESHOLD_=131072, so that freed blocks go back to the "
                             "system and the resident peak is close to the tensors' own (about 2x slower)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--in-process", action="store_true", help="one readout, in this process (used per readout)")
    args = parser.parse_args(argv)
    readouts = args.readouts.split(",")
    for r in readouts:
        if r not in READOUTS:
            parser.error(f"unknown readout {r!r}; choose from {READOUTS}")
    overrides = {"soft_steps": args.soft_steps, "discrete_max_iters": args.discrete_max_iters}
    if args.restarts is not None:
        overrides["restarts"] = args.restarts
    if args.in_process:
        torch.set_num_threads(args.threads)
        result = measure(args.model, readouts[0], args.features, overrides, args.budget_gb, args.examples)
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    results = []
    for readout in readouts:
        cmd = [sys.executable, "-m", "sae_gd_labeler.bench.label_memory", "--in-process", "--model", args.model,
               "--readouts", readout, "--features", str(args.features), "--examples", str(args.examples),
               "--soft-steps", str(args.soft_steps), "--discrete-max-iters", str(args.discrete_max_iters),
               "--threads", str(args.threads)]
        if args.budget_gb is not None:
            cmd += ["--budget-gb", str(args.budget_gb)]
        if args.restarts is not None:
            cmd += ["--restarts", str(args.restarts)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        if args.return_freed:
            env["MALLOC_MMAP_THRESHOLD_"] = "131072"
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-4000:])
            return out.returncode
        row = json.loads(out.stdout.strip().splitlines()[-1])
        sys.stdout.write(f"{args.model} {readout:7s} batch {row['auto_batch_size']:3d}"
                         f"  budget {row['budget_gb']:.2f} GB"
                         f"  estimate {row['estimated_gb']:.2f} GB  peak {row['peak_gb']:.2f} GB  "
                         f"{'within' if row['within_budget'] else 'OVER'}  {row['seconds']:.0f} s\n")
        sys.stdout.flush()
        results.append(row)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": results}, indent=1, ensure_ascii=False))
    return 0 if all(r["within_budget"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
