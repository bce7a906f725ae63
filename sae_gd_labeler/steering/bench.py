"""Steering, measured on the toy world: does turning a category feature up raise that category's share of
sampled words, turning it down lower it, and at what coherence cost?

    python -m sae_gd_labeler.steering.bench --categories colour,animal,number,body --json steering.json

For each category, two features of the last residual SAE are steered (add mode, Neuronpedia's semantics):
the one whose top activations are the category's words (`category_feature`: it *reads* the category) and the
one whose decoder row raises the category's logits most (`output_feature`: it *writes* it). For each, and
for the reading feature's whole flow graph (cumulative, constant coefficient), `n` texts are sampled per
seed at +strength and -strength and without steering. Reported per setting: the category's share of
generated words (mean over seeds), its factor over the unsteered share, and the coherence loss (the
unsteered model's mean loss on the text) beside the unsteered text's own.
"""

from __future__ import annotations

import argparse
import json
import time

from sae_gd_labeler.flow.graph import flow_graph
from sae_gd_labeler.steering.context import steer
from sae_gd_labeler.steering.measure import (
    category_feature,
    category_rate,
    coherence_loss,
    output_feature,
    sample,
    top_records,
)
from sae_gd_labeler.steering.schedule import graph_features
from sae_gd_labeler.toyworld import load_toy_world

HOOK = "blocks.1.hook_resid_post"


def run_steering_bench(categories=("colour", "animal", "number", "body"), *, hook: str = HOOK,
                       strength: float = 4.0, n: int = 128, seeds=(0, 1, 2), max_new_tokens: int = 24,
                       log=print) -> dict:
    world = load_toy_world()
    model, sae = world.model, world.saes[hook]
    start = time.perf_counter()

    def measure(features, members):
        rates, losses = [], []
        for seed in seeds:
            with steer(model, features):
                tokens = sample(model, n=n, seed=seed, max_new_tokens=max_new_tokens)
            rates.append(category_rate(model, tokens, members))
            losses.append(coherence_loss(model, tokens))
        return sum(rates) / len(rates), sum(losses) / len(losses)

    records = top_records(model, sae, world.corpus)
    base = {}
    rows = []
    for cat in categories:
        members = world.taxonomy[cat]
        base_rate, base_loss = measure([], members)
        base[cat] = {"rate": base_rate, "coherence_loss": base_loss}
        reads, purity = category_feature(model, records, members)
        writes, gain = output_feature(model, sae, members)
        graph = flow_graph(world.saes, (hook, reads))
        settings = {"reads": lambda s, f=reads: [(sae, f, s)], "writes": lambda s, f=writes: [(sae, f, s)],
                    "reads_flow_graph": lambda s, g=graph: graph_features(g, world.saes, s / g.number_of_nodes())}
        for name, make in settings.items():
            for sign, label in ((1.0, "amplify"), (-1.0, "suppress")):
                rate, loss = measure(make(sign * strength), members)
                row = {"category": cat, "feature_choice": name, "feature": writes if name == "writes" else reads,
                       "direction": label, "strength": sign * strength, "rate": rate, "base_rate": base_rate,
                       "factor": rate / base_rate if base_rate else float("nan"), "coherence_loss": loss,
                       "base_coherence_loss": base_loss, "n_graph_nodes": graph.number_of_nodes(),
                       "purity": purity, "logit_gain": gain}
                rows.append(row)
                log(f"{cat:8s} {name:16s} #{row['feature']:<4d} {label:8s} s={sign * strength:+.1f}: "
                    f"{rate:.4f} vs {base_rate:.4f} (x{row['factor']:.2f}), coherence loss {loss:.2f} "
                    f"vs {base_loss:.2f}")
    return {"hook": hook, "strength": strength, "n": n, "seeds": list(seeds), "max_new_tokens": max_new_tokens,
            "base": base, "rows": rows, "seconds": time.perf_counter() - start}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Measure steering with category features on the toy world.")
    p.add_argument("--categories", default="colour,animal,number,body")
    p.add_argument("--strength", type=float, default=4.0)
    p.add_argument("--n", type=int, default=128, help="samples per seed")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--json", help="write the result here as JSON")
    args = p.parse_args(argv)
    result = run_steering_bench(args.categories.split(","), strength=args.strength, n=args.n,
                                seeds=[int(s) for s in args.seeds.split(",")])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
