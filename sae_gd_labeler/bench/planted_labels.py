"""Planted two-token labels in the toy world: does the K-token search find them, and does label_tokens="auto"
keep one token where one suffices?

    python -m sae_gd_labeler.bench.planted_labels --methods discrete,hybrid,soft --seeds 10
    python -m sae_gd_labeler.bench.planted_labels --auto --seeds 5

The toy world's discriminator was never trained on two-word labels, so the truth is planted: a feature fires
exactly where the discriminator answers yes to a two-word label, on sentences of two categories. The label is
then a perfect description by construction. Recovery compares the K = 2 search with the best single token
(K = 1). Stand-in ground truth until the toy world has real compound concepts.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time

import torch

from sae_gd_labeler.data.example import Example

# (two-word label, the categories whose sentences the feature reads)
CASES = (("animal fish", ["fish", "bird"]), ("animal fish", ["animal", "fish"]),
         ("place country", ["place", "country"]), ("time month", ["time", "month"]),
         ("country place", ["country", "place"]), ("place city", ["place", "city"]))


def planted_feature(world, disc, label: str, categories: list[str], seed: int, n: int = 96) -> list[Example]:
    """A feature that fires exactly where the discriminator says yes to `label`, on toy-world sentences of
    `categories`' members and their near misses: the label is a perfect description by construction."""
    pool = [ex for c in categories for ex in world.examples_for(c, n=n, seed=seed)]
    with torch.no_grad():
        yes = (disc.yes_no_logit(pool, label) > 0).tolist()
    pos = [dataclasses.replace(ex, activation=1.0) for ex, y in zip(pool, yes) if y]
    neg = [dataclasses.replace(ex, activation=0.0) for ex, y in zip(pool, yes) if not y]
    rng = random.Random(seed)
    rng.shuffle(pos)
    rng.shuffle(neg)
    m = min(len(pos), len(neg), n // 2)
    return pos[:m] + neg[:m]


def recovery(methods: list[str], seeds: range) -> dict[str, dict[str, float]]:
    """Per method: exact recovery of the planted label with K = 2, mean held-out balanced accuracy of K = 2 and of
    the best single token, and seconds per K = 2 run."""
    from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    disc = Discriminator(world.model, world.template)
    rows: dict[str, list[tuple[bool, float, float, float]]] = {m: [] for m in methods}
    for label, categories in CASES:
        for seed in seeds:
            examples = {label: planted_feature(world, disc, label, categories, seed)}
            one = label_examples(examples, disc, LabelerConfig(seed=seed))[label]
            for method in methods:
                t0 = time.perf_counter()
                two = label_examples(examples, disc, LabelerConfig(seed=seed, label_tokens=2, method=method))[label]
                rows[method].append((two.label == label, two.metrics["balanced_accuracy"],
                                     one.metrics["balanced_accuracy"], time.perf_counter() - t0))
                print(f"{label} ({'+'.join(categories)}) seed {seed}: K=1 {one.label!r}, {method} K=2 {two.label!r}")  # noqa: T201
    return {m: {"recovered": sum(r[0] for r in rs), "runs": len(rs),
                "balanced_accuracy_k2": round(sum(r[1] for r in rs) / len(rs), 3),
                "balanced_accuracy_k1": round(sum(r[2] for r in rs) / len(rs), 3),
                "seconds_per_k2_run": round(sum(r[3] for r in rs) / len(rs), 1)} for m, rs in rows.items()}


def auto_length(seeds: range) -> dict[str, int]:
    """label_tokens="auto": how often single-token categories keep one token, planted labels get two."""
    from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    disc = Discriminator(world.model, world.template)
    categories = [c for c in world.categories if c != "palindrome"]  # no word names it
    single = kept_one = 0
    for seed in seeds:
        features = {c: world.examples_for(c, n=64, seed=seed) for c in categories}
        for lab in label_examples(features, disc, LabelerConfig(label_tokens="auto", seed=seed)).values():
            single += 1
            kept_one += len(lab.token_ids) == 1
    planted = two = exact = 0
    for label, pool in CASES:
        for seed in seeds:
            examples = {label: planted_feature(world, disc, label, pool, seed)}
            lab = label_examples(examples, disc, LabelerConfig(label_tokens="auto", seed=seed))[label]
            planted += 1
            two += len(lab.token_ids) == 2
            exact += lab.label == label
    return {"single_token_runs": single, "kept_one_token": kept_one, "planted_runs": planted,
            "chose_two_tokens": two, "exact": exact}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="discrete", help="comma-separated, of discrete,soft,hybrid")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--auto", action="store_true", help='measure label_tokens="auto" instead')
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # many small forwards: one thread is as fast, and never waits on a busy core
    seeds = range(args.seeds)
    result = auto_length(seeds) if args.auto else recovery(args.methods.split(","), seeds)
    print(result)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
