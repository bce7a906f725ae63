"""The WordNet-categories benchmark of `bench.real_quality` with a chosen readout: label-as-cause (searched) or
the packaged model's default (label-as-answer on SmolLM2, exhaustive), side by side on the same data.

    python -m sae_gd_labeler.bench.cause_quality --model smollm2-135m-instruct --readout cause \\
        --json /tmp/cause_bench/cause.json

The cause readout's discriminator is `Discriminator(model, CauseTemplate.few_shot())` ("Category: {label}\\n
Word: {token}" after four shots); its labels are searched with `--method` and the search settings given
(defaults: LabelerConfig's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console

from sae_gd_labeler.bench.real_quality import as_dicts, run_real_quality, summarize_real
from sae_gd_labeler.readout.cause_readout import CauseTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.config import LabelerConfig

READOUTS = ("cause", "default")
# search settings a run may override, with their LabelerConfig types
SEARCH_SETTINGS = {"method": str, "restarts": int, "soft_steps": int, "discrete_max_iters": int,
                   "discrete_topk": int, "start_probes": int, "feature_batch_size": int}


def cause_discriminator(model) -> Discriminator:
    return Discriminator(model, CauseTemplate.few_shot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a packaged real LM")
    parser.add_argument("--readout", choices=READOUTS, default="cause",
                        help="cause: CauseTemplate.few_shot(); default: the packaged model's default template")
    parser.add_argument("--categories", default=None, help="comma-separated WordNet categories (default: all)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--synthetic", action="store_true", help="also the seed paper's synthetic features")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="write the full results here")
    for name, kind in SEARCH_SETTINGS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                            help=f"LabelerConfig.{name} (default: LabelerConfig's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    from sae_gd_labeler.models import load_packaged_model

    model = load_packaged_model(args.model)
    disc = cause_discriminator(model) if args.readout == "cause" else Discriminator(model)
    overrides = {name: getattr(args, name) for name in SEARCH_SETTINGS if getattr(args, name) is not None}
    config = LabelerConfig(**overrides)
    categories = args.categories.split(",") if args.categories else None
    start = time.perf_counter()
    runs = run_real_quality(disc, range(args.seeds), config, categories=categories, synthetic=args.synthetic)
    summary = summarize_real(runs)
    result = {"model": args.model, "readout": disc.readout, "template": type(disc.template).__name__,
              "config": config.to_dict(), "wall_seconds": time.perf_counter() - start, "summary": summary,
              "runs": as_dicts(runs)}
    console = Console(width=140)
    for r in runs:
        console.print(f"{r.feature:24s} {'yes' if r.recovered else 'no ':3s} {str(r.label):14s} {', '.join(r.top5)}",
                      markup=False)
    console.print_json(data=summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
