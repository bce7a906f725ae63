"""Label quality on a real packaged LM: WordNet categories and the seed paper's synthetic features in real words.

    sae-gd-labeler bench-quality --model smollm2-135m-instruct --seeds 1 --json real.json

For every (feature, seed), with the model's default discriminator (`Discriminator(model)`):
- recovered: the label is one of the right names (a WordNet category's own lemma names); a category with a
  parent gets half its negatives from its siblings (the balanced data of the paper's mammal feature);
- in_top5: a right name is among the five lowest-loss candidates (near misses show here);
- held-out balanced accuracy and AUROC of the label, seconds per label (all features of a seed labeled in one
  call, the time divided) and that call's peak memory;
- the baseline: the most frequent activating token as the label, scored by the same discriminator on the same
  held-out examples (calibrated on the same training examples).
With the label-as-answer readout the search is exhaustive over the candidate vocabulary, so the label IS the
discriminator's ceiling (the lowest exact loss over every candidate): recovery measures the discriminator
and the objective, not a search that could miss. With the label-as-cause readout (a discriminator holding a
CauseTemplate) the label is searched (`LabelerConfig.method`), and the baseline is scored by that readout.

    python -m sae_gd_labeler.bench.cause_quality --model smollm2-135m-instruct --json cause.json

With the label-as-answer readout the command also labels the WordNet categories whose names are two or more
tokens ("European country") with K = 1, K = 2 and auto side by side (`real_multi_token`; the JSON's
"multi_token_categories"; --no-multi-token skips them).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sae_gd_labeler.bench.memory import PeakMemory
from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureData
from sae_gd_labeler.search.labeler import label_examples, split_examples

HARD_NEGATIVES = 0.5


@dataclass
class RealRun:
    kind: str  # "wordnet" or "synthetic"
    feature: str
    seed: int
    label: str | None
    recovered: bool
    in_top5: bool
    top5: list[str]
    balanced_accuracy: float
    auroc: float
    seconds_per_label: float
    peak_mb: float  # peak memory of the labeling call (all features of the seed) above its start
    baseline_label: str
    baseline_balanced_accuracy: float


def run_features(disc: Discriminator, features: dict[str, tuple[Sequence[str], list[Example]]], kind: str,
                 seed: int, config: LabelerConfig) -> list[RealRun]:
    """features: name -> (right labels, examples). Labels all of them in one call."""
    cfg = config.replace(seed=seed)
    start = time.perf_counter()
    with PeakMemory(disc.device) as memory:
        labels = label_examples({name: ex for name, (_, ex) in features.items()}, disc, cfg)
    per_label = (time.perf_counter() - start) / len(features)
    runs = []
    for name, (right, examples) in features.items():
        right = {r.lower() for r in right}
        lab = labels[name]
        data = split_examples(name, examples, cfg.replace(readout="answer"))
        baseline = Counter(ex.token.strip() for ex in data.train if ex.activation > cfg.activation_threshold)
        baseline_label = baseline.most_common(1)[0][0]
        top5 = [c.label for c in lab.candidates[:5]]
        runs.append(RealRun(
            kind=kind, feature=name, seed=seed, label=lab.label,
            recovered=lab.label is not None and lab.label.lower() in right,
            in_top5=any(t.lower() in right for t in top5), top5=top5,
            balanced_accuracy=lab.metrics.get("balanced_accuracy", float("nan")),
            auroc=lab.metrics.get("auroc", float("nan")), seconds_per_label=per_label, peak_mb=memory.peak_mb,
            baseline_label=baseline_label,
            baseline_balanced_accuracy=baseline_metrics(disc, data, baseline_label, cfg)["balanced_accuracy"],
        ))
    return runs


def baseline_metrics(disc: Discriminator, data: FeatureData, label: str, config: LabelerConfig) -> dict[str, float]:
    """Held-out metrics of a text label under the discriminator's own readout (label-as-answer or label-as-cause),
    calibrated on the training examples as the labeler calibrates its labels."""
    from sae_gd_labeler.search.answer_search import calibrated_metrics, text_label_metrics

    if disc.readout == "cause":
        score = disc.cause.score_text(data.train + data.heldout, label)  # [n + h]
        return calibrated_metrics(score[:len(data.train)], score[len(data.train):], data, config)
    return text_label_metrics(disc, data, label, config)


def run_real_quality(disc: Discriminator, seeds: Sequence[int], config: LabelerConfig | None = None,
                     categories: Sequence[str] | None = None, n_examples: int = 96,
                     synthetic: bool = True) -> list[RealRun]:
    """WordNet categories (all shipped ones unless `categories`) and the synthetic features, per seed."""
    from sae_gd_labeler.data.real_categories import load_categories
    from sae_gd_labeler.data.real_examples import category_examples
    from sae_gd_labeler.data.real_synthetic import synthetic_features

    config = config if config is not None else LabelerConfig()
    taxonomy = load_categories()
    names = list(categories) if categories is not None else [c.name for c in taxonomy]
    runs = []
    with disc.frozen():
        for seed in seeds:
            # half the negatives near misses (siblings under the same parent, e.g. birds for mammal) where
            # the category has a parent: without them "animal" explains a mammal feature as well as "mammal"
            wordnet = {c: (taxonomy[c].lemmas, category_examples(c, taxonomy, n_examples, seed, context="word",
                                                                 hard_negatives=HARD_NEGATIVES))
                       for c in names}
            runs += run_features(disc, wordnet, "wordnet", seed, config)
            if synthetic:
                synth = {name: (f.labels, f.examples)
                         for name, f in synthetic_features(taxonomy, n_examples, seed).items()}
                runs += run_features(disc, synth, "synthetic", seed, config)
    return runs


def summarize_real(runs: Sequence[RealRun]) -> dict:
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    out = {}
    for kind in sorted({r.kind for r in runs}):
        rs = [r for r in runs if r.kind == kind]
        out[kind] = {
            "runs": len(rs),
            "recovered": sum(r.recovered for r in rs),
            "recovery_rate": mean([r.recovered for r in rs]),
            "right_name_in_top5_rate": mean([r.in_top5 for r in rs]),
            "mean_heldout_balanced_accuracy": mean([r.balanced_accuracy for r in rs]),
            "mean_heldout_auroc": mean([r.auroc for r in rs]),
            "baseline_mean_heldout_balanced_accuracy": mean([r.baseline_balanced_accuracy for r in rs]),
            "seconds_per_label": mean([r.seconds_per_label for r in rs]),
            "peak_labeling_memory_mb": max(r.peak_mb for r in rs),
        }
    return out


def as_dicts(runs: Sequence[RealRun]) -> list[dict]:
    return [asdict(r) for r in runs]
