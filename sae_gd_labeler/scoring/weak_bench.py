"""How the weak rule's defaults were chosen: held-out scores of right and wrong labels on the toy world.

    python -m sae_gd_labeler.scoring.weak_bench --seeds 3 --sae-features 64 --json weak.json

Two kinds of labels whose truth is known:
- synthetic features (each category's members against balanced negatives, as `bench-quality`): a label is
  right when it is the category's name;
- random live features of every shipped SAE, labeled from their activations (as `label_features`): a label
  is right when firing and the label's own extension (the words the world says it names) agree, F1 >= 0.5
  on the other half of the corpus; wrong below.
For each weak_threshold the table gives how many right labels stay "ok" and how many wrong ones become
"weak" (weak_auroc_margin as configured). Each label's baselines' metrics are kept in the JSON.
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from sae_gd_labeler.bench.sae_quality import _firing
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.sae_labeling import label_features
from sae_gd_labeler.scoring.weak import weak_reason
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.labeler import label_examples

RIGHT_F1 = 0.5  # an SAE feature's label is right when its extension and the firing agree this well
THRESHOLDS = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def _row(kind: str, name: str, lab, right: bool, **extra) -> dict:
    baselines = {k: {"label": b.get("label"), "balanced_accuracy": b["metrics"].get("balanced_accuracy", math.nan),
                     "auroc": b["metrics"].get("auroc", math.nan)} for k, b in (lab.baselines or {}).items()}
    return {"kind": kind, "feature": name, "label": lab.label, "right": right, "status": lab.status,
            "balanced_accuracy": lab.metrics.get("balanced_accuracy", math.nan),
            "auroc": lab.metrics.get("auroc", math.nan), "baselines": baselines, **extra}


def synthetic_rows(world, disc: Discriminator, seeds, config: LabelerConfig, n: int = 96) -> list[dict]:
    rows = []
    for seed in seeds:
        features = {c: world.examples_for(c, n=n, seed=seed) for c in world.categories}
        labels = label_examples(features, disc, config.replace(seed=seed))
        rows += [_row("synthetic", f"{c}/{seed}", labels[c], labels[c].label == c) for c in world.categories]
    return rows


def sae_rows(world, disc: Discriminator, n_per_sae: int, config: LabelerConfig, seed: int = 0) -> list[dict]:
    half = len(world.corpus) // 2
    train, test = world.corpus[:half], world.corpus[half:]
    vocab = world.model.tokenizer.get_vocab()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for hook, sae in world.saes.items():
        fired, ids = _firing(world, sae, test)  # [N, d_sae], [N]
        live = (fired.sum(0) >= 8).nonzero().flatten()  # a few firings on the test half, to score truth on
        chosen = live[torch.randperm(len(live), generator=gen)[:n_per_sae]].sort().values.tolist()
        labels = label_features(sae, chosen, model=world.model, discriminator=disc, dataset=train, config=config,
                                example_fn=world.within_sentence)
        for f, lab in zip(chosen, labels):
            if not lab.labeled:
                continue
            extension = torch.tensor([i for w, i in vocab.items() if world.is_member(w, lab.label)], dtype=torch.long)
            member = torch.isin(ids, extension)
            tp = (fired[:, f] & member).sum().item()
            f1 = 2 * tp / max(fired[:, f].sum().item() + member.sum().item(), 1)
            rows.append(_row("sae", f"{hook}#{f}", lab, f1 >= RIGHT_F1, truth_f1=f1))
    return rows


def table(rows: list[dict], config: LabelerConfig) -> list[dict]:
    """Per threshold and kind: right labels kept ("ok") and wrong labels marked weak, under the whole rule."""
    out = []
    for threshold in THRESHOLDS:
        cfg = config.replace(weak_threshold=threshold)
        for kind in ("synthetic", "sae", "all"):
            part = [r for r in rows if kind in ("all", r["kind"])]
            weak = [weak_reason(r, cfg) is not None for r in part]
            right = [r["right"] for r in part]
            kept = sum(not w for w, r in zip(weak, right) if r)
            caught = sum(w for w, r in zip(weak, right) if not r)
            out.append({"weak_threshold": threshold, "kind": kind, "right": sum(right), "right_kept": kept,
                        "wrong": len(right) - sum(right), "wrong_marked_weak": caught})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sae-features", type=int, default=64, help="random live features per SAE")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    disc = Discriminator(world.model, world.template)
    config = LabelerConfig()
    rows = synthetic_rows(world, disc, range(args.seeds), config) + sae_rows(world, disc, args.sae_features, config)
    summary = table(rows, config)
    for s in summary:
        line = (f"weak_threshold {s['weak_threshold']:.2f} {s['kind']:>9}: right kept {s['right_kept']:>3} of "
                f"{s['right']:>3}, wrong marked weak {s['wrong_marked_weak']:>3} of {s['wrong']:>3}")
        print(line)  # noqa: T201 (a command's report)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"config": config.to_dict(), "summary": summary, "labels": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
