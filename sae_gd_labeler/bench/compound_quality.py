"""Compound concepts of the toy world ("red fruit", "sea animal"): is the two-word label learned and found?

For every compound and seed, a synthetic feature fires on the compound's members (`examples_for`; half the
negatives near misses with one of its two parts). The feature is labeled three ways with the same config
otherwise: K = 1, K = 2 and label_tokens="auto". Reported per run:
- ceiling_ok: the two-word name has the lowest exact training loss among every one-token label (exhaustive),
  every label one swap away from the name ("green fruit", "red food": 2 x the vocabulary) and the labels the
  three searches returned (if not, the discriminator prefers another label and no search can recover the name);
- the three labels, whether K = 2 and auto returned the exact name, and their held-out balanced accuracy;
- the best one-token label by exact loss and its held-out balanced accuracy (what no single token can do).
And, for the one-word categories, how often "auto" keeps a one-token label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from sae_gd_labeler.bench.length_summary import LENGTHS, LengthComparison, mean, summarize_lengths
from sae_gd_labeler.bench.quality import heldout_balanced_accuracy, labeled_seeds
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import candidate_token_ids, token_text
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from sae_gd_labeler.search.labeler import label_examples, split_examples


@dataclass
class CompoundRun(LengthComparison):
    concept: str
    seed: int
    ceiling_ok: bool
    best_rival: str  # the lowest-loss label other than the name among those checked
    truth_loss: float
    rival_loss: float
    truth_balanced_accuracy: float  # held-out, of the name itself
    best_single_token: str
    best_single_token_balanced_accuracy: float


@torch.no_grad()
def rival_losses(disc: Discriminator, data: FeatureData, truth: str, others: Sequence[str],
                 config: LabelerConfig) -> dict[str, float]:
    """Exact training loss (the labeler's objective on all training rows) of the two-word `truth`, of every label
    one position away from it, of every one-token label, and of `others` (any labels of candidate tokens)."""
    candidates = candidate_token_ids(disc, config.candidate_vocab)  # [C]
    index = {int(t): i for i, t in enumerate(candidates.tolist())}
    batch = FeatureBatch(disc, [data], candidates, config)

    def losses(rows: torch.Tensor) -> dict[str, float]:  # rows [Q, K] candidate indices
        values = batch.exact_loss(torch.zeros(len(rows), dtype=torch.long), rows, rowset="train")
        return {token_text(disc, candidates[r].tolist()): float(v) for r, v in zip(rows, values)}

    first, second = (index[t] for t in disc.label_ids(truth))
    every = torch.arange(len(candidates))
    swaps = torch.cat([torch.stack([every, torch.full_like(every, second)], 1),
                       torch.stack([torch.full_like(every, first), every], 1)])  # [2C, 2]
    out = {**losses(every[:, None]), **losses(swaps)}
    for label in others:
        ids = disc.label_ids(label)
        if label not in out and all(t in index for t in ids):
            out.update(losses(torch.tensor([[index[t] for t in ids]])))
    return out


def run_compound_quality(world, compounds: Sequence[str], seeds: Sequence[int], config: LabelerConfig | None = None,
                         n_examples: int = 96, disc: Discriminator | None = None) -> list[CompoundRun]:
    """config: everything but label_tokens (each feature is labeled with K = 1, K = 2 and "auto")."""
    config = config if config is not None else LabelerConfig()
    disc = disc if disc is not None else Discriminator(world.model, world.template)
    runs = []
    with disc.frozen():
        for seed in seeds:
            cfg = config.replace(seed=seed)
            features = {c: world.examples_for(c, n=n_examples, seed=seed) for c in compounds}
            labels = {name: label_examples(features, disc, cfg.replace(label_tokens=k)) for name, k in LENGTHS.items()}
            for c in compounds:
                data = split_examples(c, features[c], cfg)
                found = {name: labels[name][c] for name in LENGTHS}
                loss = rival_losses(disc, data, c, [lab.label for lab in found.values() if lab.label], cfg)
                rival = min((lab for lab in loss if lab != c), key=loss.get)
                single = min((lab for lab in loss if len(lab.split()) == 1), key=loss.get)
                threshold = cfg.activation_threshold
                runs.append(CompoundRun(
                    concept=c, seed=seed, ceiling_ok=loss[c] < loss[rival], best_rival=rival, truth_loss=loss[c],
                    rival_loss=loss[rival], truth_balanced_accuracy=heldout_balanced_accuracy(disc, data, c, threshold),
                    best_single_token=single,
                    best_single_token_balanced_accuracy=heldout_balanced_accuracy(disc, data, single, threshold),
                    label_k1=found["k1"].label, label_k2=found["k2"].label, label_auto=found["auto"].label,
                    recovered_k2=found["k2"].label == c, recovered_auto=found["auto"].label == c,
                    **{f"balanced_accuracy_{name}": lab.metrics.get("balanced_accuracy", float("nan"))
                       for name, lab in found.items()},
                ))
    return runs


def auto_length_on_categories(world, categories: Sequence[str], seeds: Sequence[int],
                              config: LabelerConfig | None = None, n_examples: int = 96,
                              disc: Discriminator | None = None) -> dict:
    """label_tokens="auto" on one-word categories: how often it keeps a one-token label (and names the category)."""
    config = (config if config is not None else LabelerConfig()).replace(label_tokens="auto")
    disc = disc if disc is not None else Discriminator(world.model, world.template)
    rows = []
    with disc.frozen():
        for seed, _, _, labels, _ in labeled_seeds(world, disc, categories, seeds, config, n_examples):
            rows += [{"category": c, "seed": seed, "label": labels[c].label, "tokens": len(labels[c].token_ids)}
                     for c in categories]
    return {"runs": len(rows), "kept_one_token": sum(r["tokens"] == 1 for r in rows),
            "named_the_category": sum(r["label"] == r["category"] for r in rows), "labels": rows}


def summarize_compounds(runs: Sequence[CompoundRun]) -> dict:
    return {
        **summarize_lengths(runs),
        "mean_heldout_balanced_accuracy_name": mean([r.truth_balanced_accuracy for r in runs]),
        "mean_heldout_balanced_accuracy_best_single_token": mean([r.best_single_token_balanced_accuracy
                                                                  for r in runs]),
    }


def as_dicts(runs: Sequence[CompoundRun]) -> list[dict]:
    return [asdict(r) for r in runs]
