"""How often the labeler finds the right label, on the toy world where the truth is known.

For every category and seed, a synthetic feature fires on the category's members. Reported per run:
- ceiling_ok: the best single hard token by exact loss over the whole label vocabulary is the
  category's own name (if not, the discriminator itself cannot tell, and no search can recover it);
- recovered: the labeler (given config) returned the category name;
- held-out balanced accuracy of its label, seconds per feature;
- the same for a baseline label: the most frequent activating token.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import candidate_token_ids, token_text
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from sae_gd_labeler.search.labeler import label_examples, split_examples


@dataclass
class QualityRun:
    category: str
    seed: int
    ceiling_label: str
    ceiling_ok: bool
    label: str | None
    recovered: bool
    balanced_accuracy: float
    seconds_per_feature: float
    baseline_label: str
    baseline_balanced_accuracy: float


def best_hard_label(disc: Discriminator, data: FeatureData, config: LabelerConfig) -> str:
    """The single candidate token with the lowest exact loss on all training examples (exhaustive)."""
    candidates = candidate_token_ids(disc, config.candidate_vocab)
    batch = FeatureBatch(disc, [data], candidates, config)
    every = torch.arange(len(candidates))
    losses = batch.exact_loss(torch.zeros(len(candidates), dtype=torch.long), every, rowset="train")
    return token_text(disc, [int(candidates[losses.argmin()])])


def heldout_balanced_accuracy(disc: Discriminator, data: FeatureData, label: str, threshold: float) -> float:
    score = disc.yes_no_logit(data.heldout, label)
    truth = torch.tensor([ex.activation > threshold for ex in data.heldout])
    return classification_metrics(score, truth)["balanced_accuracy"]


def most_frequent_activating_token(data: FeatureData, threshold: float) -> str:
    counts = Counter(ex.token for ex in data.train if ex.activation > threshold)
    return counts.most_common(1)[0][0]


def labeled_seeds(world, disc: Discriminator, categories: Sequence[str], seeds: Sequence[int],
                  config: LabelerConfig, n_examples: int):
    """Per seed: (seed, its config, each category's examples, their labels, seconds per label), the categories
    labeled together in one call."""
    for seed in seeds:
        cfg = config.replace(seed=seed)
        features = {c: world.examples_for(c, n=n_examples, seed=seed) for c in categories}
        start = time.perf_counter()
        labels = label_examples(features, disc, cfg)
        yield seed, cfg, features, labels, (time.perf_counter() - start) / len(categories)


def run_quality(world, categories: Sequence[str], seeds: Sequence[int], config: LabelerConfig | None = None,
                n_examples: int = 96, disc: Discriminator | None = None) -> list[QualityRun]:
    """disc: the world's model asked with its template unless given (e.g. a bfloat16 copy)."""
    config = config if config is not None else LabelerConfig()
    disc = disc if disc is not None else Discriminator(world.model, world.template)
    runs = []
    if not categories:  # e.g. only compound concepts asked for (bench.compound_quality)
        return runs
    with disc.frozen():
        for seed, cfg, features, labels, per_feature in labeled_seeds(world, disc, categories, seeds, config,
                                                                       n_examples):
            for c in categories:
                data = split_examples(c, features[c], cfg)
                ceiling = best_hard_label(disc, data, cfg)
                baseline = most_frequent_activating_token(data, cfg.activation_threshold)
                lab = labels[c]
                runs.append(QualityRun(
                    category=c, seed=seed, ceiling_label=ceiling, ceiling_ok=ceiling == c,
                    label=lab.label, recovered=lab.label == c,
                    balanced_accuracy=lab.metrics.get("balanced_accuracy", float("nan")),
                    seconds_per_feature=per_feature, baseline_label=baseline,
                    baseline_balanced_accuracy=heldout_balanced_accuracy(disc, data, baseline,
                                                                         cfg.activation_threshold),
                ))
    return runs


def summarize(runs: Sequence[QualityRun]) -> dict:
    fair = [r for r in runs if r.ceiling_ok]
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    return {
        "runs": len(runs),
        "ceiling_ok_runs": len(fair),
        "recovery_rate_where_ceiling_ok": mean([r.recovered for r in fair]),
        "recovery_rate_all": mean([r.recovered for r in runs]),
        "mean_heldout_balanced_accuracy": mean([r.balanced_accuracy for r in runs]),
        "baseline_recovery_rate_where_ceiling_ok": mean([r.baseline_label == r.category for r in fair]),
        "baseline_mean_heldout_balanced_accuracy": mean([r.baseline_balanced_accuracy for r in runs]),
        "seconds_per_feature": mean([r.seconds_per_feature for r in runs]),
    }


def as_dicts(runs: Sequence[QualityRun]) -> list[dict]:
    return [asdict(r) for r in runs]
