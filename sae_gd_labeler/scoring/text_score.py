"""Score any text label on equal terms: the same discriminator, readout and held-out examples as our labels.

    metrics = score_text_labels(disc, {7: (train, heldout)}, {7: "dog breeds"}, config)

A label is a string (any number of tokens: the discriminator reads it in its label slot, with the
template's spacing) or a tuple of discriminator token ids (exactly those tokens). Under the yes / no
readouts the score of a held-out example is logit(yes) - logit(no), as `labeler.heldout_metrics` scores our
own labels; under the label-as-answer readout the label is calibrated on the training examples exactly as
the labeler calibrates its own (`answer_search.text_label_metrics`). Given our labels' token ids and the
examples the labeler used (`labeler_split`), the metrics are `FeatureLabel.metrics`.
"""

from __future__ import annotations

import operator
from collections.abc import Hashable, Mapping, Sequence

import torch
from transformer_lens import HookedTransformer

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.answer_search import one_token_label_metrics, text_label_metrics
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureData
from sae_gd_labeler.search.labeler import (
    as_discriminator,
    check_placement,
    heldout_answers,
    metrics_per_feature,
    resolve_readout,
    split_examples,
)

Split = tuple[Sequence[Example], Sequence[Example]]  # (train, heldout)
FEATURES_PER_FORWARD = 64  # yes / no readout: features whose held-out prefixes are cached together


def labeler_split(examples_by_feature: Mapping[Hashable, Sequence[Example]], config: LabelerConfig,
                  heldout: Mapping[Hashable, Sequence[Example]] | None = None) -> dict[Hashable, Split]:
    """The (train, heldout) examples `label_examples(examples_by_feature, ..., config, heldout)` uses for each
    feature: its balanced subsample and held-out split, by the same seed. Features it could not label (too
    few examples) are left out."""
    out = {}
    for feature, examples in examples_by_feature.items():
        data = split_examples(feature, examples, config, None if heldout is None else heldout[feature])
        if isinstance(data, FeatureData):
            out[feature] = (data.train, data.heldout)
    return out


def score_text_labels(disc: Discriminator | HookedTransformer, examples: Mapping[Hashable, Split],
                      labels: Mapping[Hashable, str | tuple[int, ...]],
                      config: LabelerConfig | None = None) -> dict[Hashable, dict[str, float]]:
    """Held-out metrics (balanced_accuracy, precision, recall, f1, auroc) of each feature's label, in the order
    of `labels`. examples: {feature: (train, heldout)} for every labeled feature. All input is checked before
    any work starts (ValueError)."""
    return score_label_sets(disc, examples, [labels], config)[0]


def score_label_sets(disc: Discriminator | HookedTransformer, examples: Mapping[Hashable, Split],
                     label_sets: Sequence[Mapping[Hashable, str | tuple[int, ...]]],
                     config: LabelerConfig | None = None) -> list[dict[Hashable, dict[str, float]]]:
    """score_text_labels of several sets of labels on the same examples (e.g. a label and its baselines):
    the label-as-answer readout then reads each example once for all of them."""
    config = config if config is not None else LabelerConfig()
    disc = as_discriminator(disc)
    check_placement(disc, config)
    readout = resolve_readout(config, disc)
    data = {f: _checked(f, examples, label, readout, config, disc)
            for labels in label_sets for f, label in labels.items()}
    # a text label as the template will read it (its own space comes from the template); token ids as given
    label_sets = [{f: label.strip() if isinstance(label, str) else tuple(_label_ids(disc, label, f))
                   for f, label in labels.items()} for labels in label_sets]
    with disc.frozen():
        if readout == "answer":
            return _answer_sets(disc, data, label_sets, config)
        return [_yes_no(disc, data, labels, config) for labels in label_sets]


def _yes_no(disc: Discriminator, data: dict[Hashable, FeatureData], labels: Mapping, config: LabelerConfig) -> dict:
    """Held-out metrics of one label per feature from logit(yes) - logit(no), as labeler.heldout_metrics."""
    ids = {f: _label_ids(disc, label) for f, label in labels.items()}
    out: dict[Hashable, dict[str, float]] = {}
    for length in sorted({len(t) for t in ids.values()}):  # labels of K tokens go in one tensor [F, K]
        group = [f for f in labels if len(ids[f]) == length]
        for start in range(0, len(group), FEATURES_PER_FORWARD):
            chunk = group[start:start + FEATURES_PER_FORWARD]
            tokens = torch.tensor([ids[f] for f in chunk], device=disc.device)  # [F, K]
            features = [data[f] for f in chunk]
            scores = heldout_answers(disc, features, config, tokens)
            out.update(zip(chunk, metrics_per_feature(features, scores, config)))
    return {f: out[f] for f in labels}


def _answer_sets(disc: Discriminator, data: dict[Hashable, FeatureData], label_sets: list[dict],
                 config: LabelerConfig) -> list[dict]:
    """Label-as-answer metrics of every set: one-token labels from one read of each example for all sets,
    longer ones by text_label_metrics."""
    out: list[dict] = [{} for _ in label_sets]
    single: dict[Hashable, list[tuple[int, int]]] = {}  # feature -> [(set, token id)]
    for i, labels in enumerate(label_sets):
        for f, label in labels.items():
            ids = _label_ids(disc, label)
            if len(ids) == 1:
                single.setdefault(f, []).append((i, ids[0]))
            else:
                out[i][f] = text_label_metrics(disc, data[f], label, config)
    features = list(single)
    for start in range(0, len(features), FEATURES_PER_FORWARD):
        chunk = features[start:start + FEATURES_PER_FORWARD]
        metrics = one_token_label_metrics(disc, [data[f] for f in chunk], [[t for _, t in single[f]] for f in chunk],
                                          config)
        for f, per_label in zip(chunk, metrics):
            for (i, _), m in zip(single[f], per_label):
                out[i][f] = m
    return [{f: out[i][f] for f in labels} for i, labels in enumerate(label_sets)]


def _checked(feature, examples: Mapping[Hashable, Split], label, readout: str, config: LabelerConfig,
             disc: Discriminator) -> FeatureData:
    """One feature's examples as FeatureData, after the checks that make a clear error instead of a
    failure deep inside scoring."""
    if feature not in examples:
        raise ValueError(f"feature {feature!r} has a label but no examples; give (train, heldout) examples for "
                         "every labeled feature")
    train, heldout = examples[feature]
    if len(heldout) == 0:
        raise ValueError(f"feature {feature!r} has no held-out examples to score its label on")
    if readout == "answer":  # the label's calibration is fitted on the training examples
        n_pos = sum(ex.activation > config.activation_threshold for ex in train)
        if n_pos == 0 or n_pos == len(train):
            raise ValueError(f"feature {feature!r}: the label-as-answer readout calibrates each label on the "
                             f"training examples, which need both classes ({n_pos} of {len(train)} positive)")
    if isinstance(label, str):
        if not label.strip():
            raise ValueError(f"feature {feature!r}: the label is empty; give a word or phrase")
    else:
        _label_ids(disc, label, feature)
    return FeatureData(feature, list(train), list(heldout))


def _label_ids(disc: Discriminator, label: str | Sequence[int], feature=None) -> list[int]:
    """A label's discriminator token ids in the label slot."""
    if isinstance(label, str):
        return disc.label_ids(label.strip())
    try:
        ids = [operator.index(t) for t in label]  # ints of any kind (numpy, torch), never floats or bools
    except TypeError:
        ids = None
    if not ids or any(isinstance(t, bool) or not 0 <= t < disc.d_vocab for t in label):
        raise ValueError(f"feature {feature!r}: a label given as token ids must be a non-empty tuple of ints in "
                         f"[0, {disc.d_vocab}), got {label!r}")
    return ids
