"""Compound-named WordNet categories on a real packaged LM: can a K-token label recover "European country"?

The real-model counterpart of the toy world's compound concepts (`compound_quality`). The categories are the
shipped compound-named ones (`data.real_categories.build_multi_token_categories`: every lemma name of the
synset two or more words, members inside one shipped category and at most 3/4 of it), kept for a model when
every lemma name is two or more tokens in its label slot. Each feature fires on the category's members, half
its negatives near misses from under the same parent (other countries for "European country"), and is
labeled three ways with the same config otherwise: K = 1, K = 2 and label_tokens="auto". Reported per run:
- the three labels and their held-out balanced accuracy; whether K = 2 and auto returned one of the category's
  lemma names exactly (underscores as spaces, case aside);
- the name (the synset's first lemma) scored as a label: its held-out balanced accuracy, and its exact training
  loss against the lowest of the returned labels that are not a right name (ceiling_ok: the name's is lower;
  if not, the discriminator prefers another label and no search can recover the name). Only the returned
  labels are checked, not every label one swap away from the name as on the toy world.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from sae_gd_labeler.bench.length_summary import LENGTHS, LengthComparison, mean, summarize_lengths
from sae_gd_labeler.bench.real_quality import HARD_NEGATIVES  # as the one-token WordNet categories
from sae_gd_labeler.data.real_categories import (
    Category,
    Taxonomy,
    is_name,
    load_categories,
    load_multi_token_categories,
    multi_token_names,
    with_category,
)
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.answer_beam import exact_answer_loss
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.labeler import label_examples, split_examples


@dataclass
class MultiTokenRun(LengthComparison):
    category: str  # the synset's first lemma name, also "the name" scored below
    seed: int
    names: list[str]  # every right label (the synset's lemma names)
    parent: str | None
    name_tokens: int  # tokens of the name in the label slot
    name_balanced_accuracy: float  # held-out, of the name itself
    name_loss: float  # exact training loss of the name
    rival: str | None  # the lowest-loss returned label that is not a right name (None: all were right)
    rival_loss: float
    ceiling_ok: bool  # the name's loss is below the rival's
    seconds_per_label_k1: float
    seconds_per_label_k2: float
    seconds_per_label_auto: float


def select_categories(label_ids, categories: Taxonomy | None = None) -> list[Category]:
    """The compound-named categories whose every lemma name is >= 2 tokens in the label slot (`label_ids`: text
    -> token ids, e.g. `Discriminator.label_ids`), in the shipped order."""
    cats = categories if categories is not None else load_multi_token_categories()
    return [c for c in cats if multi_token_names(c, label_ids)]


@torch.no_grad()
def run_multi_token_quality(disc: Discriminator, seeds: Sequence[int], config: LabelerConfig | None = None,
                            categories: Sequence[Category] | None = None, taxonomy: Taxonomy | None = None,
                            n_examples: int = 96) -> list[MultiTokenRun]:
    """config: everything but label_tokens. categories: default `select_categories(disc.label_ids)`; taxonomy:
    the one their parents belong to (default the shipped one). Needs the label-as-answer readout."""
    from sae_gd_labeler.data.real_examples import category_examples
    from sae_gd_labeler.search.answer_search import text_label_metrics

    if disc.readout != "answer":
        raise ValueError(f"the multi-token category bench needs the label-as-answer readout, not {disc.readout!r}")
    config = (config if config is not None else LabelerConfig()).replace(readout="answer")
    taxonomy = taxonomy if taxonomy is not None else load_categories()
    cats = list(categories) if categories is not None else select_categories(disc.label_ids)
    runs = []
    with disc.frozen():
        for seed in seeds:
            cfg = config.replace(seed=seed)
            features = {c.name: category_examples(c.name, with_category(taxonomy, c), n_examples, seed,
                                                  context="word", hard_negatives=HARD_NEGATIVES) for c in cats}
            labels, seconds = {}, {}
            for key, k in LENGTHS.items():
                start = time.perf_counter()
                labels[key] = label_examples(features, disc, cfg.replace(label_tokens=k))
                seconds[key] = (time.perf_counter() - start) / max(len(cats), 1)
            for c in cats:
                data = split_examples(c.name, features[c.name], cfg)
                found = {key: labels[key][c.name] for key in LENGTHS}
                name_ids = disc.label_ids(c.name)
                name_loss = exact_answer_loss(disc, data, name_ids, cfg)
                rivals = {lab.label: exact_answer_loss(disc, data, lab.token_ids, cfg) for lab in found.values()
                          if lab.label is not None and not is_name(lab.label, c)}
                rival = min(rivals, key=rivals.get) if rivals else None
                rival_loss = rivals[rival] if rival is not None else float("nan")
                runs.append(MultiTokenRun(
                    category=c.name, seed=seed, names=list(c.lemmas), parent=c.parent, name_tokens=len(name_ids),
                    label_k1=found["k1"].label, label_k2=found["k2"].label, label_auto=found["auto"].label,
                    recovered_k2=is_name(found["k2"].label, c), recovered_auto=is_name(found["auto"].label, c),
                    **{f"balanced_accuracy_{key}": lab.metrics.get("balanced_accuracy", float("nan"))
                       for key, lab in found.items()},
                    name_balanced_accuracy=text_label_metrics(disc, data, c.name, cfg)["balanced_accuracy"],
                    name_loss=name_loss, rival=rival, rival_loss=rival_loss,
                    ceiling_ok=rival is None or name_loss < rival_loss,
                    **{f"seconds_per_label_{key}": s for key, s in seconds.items()},
                ))
    return runs


def summarize_multi_token(runs: Sequence[MultiTokenRun]) -> dict:
    return {
        **summarize_lengths(runs),
        "runs_with_a_two_token_name": sum(r.name_tokens <= 2 for r in runs),  # within K = 2's reach
        "exact_recovery_k2": sum(r.recovered_k2 for r in runs),
        "exact_recovery_auto": sum(r.recovered_auto for r in runs),
        "mean_heldout_balanced_accuracy_name": mean([r.name_balanced_accuracy for r in runs]),
        **{f"seconds_per_label_{k}": mean([getattr(r, f"seconds_per_label_{k}") for r in runs])
           for k in LENGTHS},
    }


def as_dicts(runs: Sequence[MultiTokenRun]) -> list[dict]:
    return [asdict(r) for r in runs]
