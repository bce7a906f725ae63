"""Turn each feature's streamed record into balanced positive / negative Examples, split train / held-out.

    examples = sample_examples(records, model.tokenizer, LabelerConfig(examples_per_feature=64))
    examples[7].train, examples[7].heldout, examples[7].status

Positives mix the strongest activations (`top_fraction` of them) with a sample spread evenly over the
activation quantiles of the uniform reservoir, so a label must explain the feature's typical firing and
not only its peak. Negatives are a uniform sample of tokens where the feature is silent, with up to
`hard_negative_fraction` hard negatives: the very tokens the feature fires on, in contexts where it does
not, which a label naming only the token cannot separate. Every class is split by occurrence identity
(sequence, position), so no occurrence is in both train and held-out. Each feature draws from its own
generator seeded with (seed, feature), so its examples do not depend on which other features are sampled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from sae_gd_labeler.data.activations import FeatureRecord, Occurrences
from sae_gd_labeler.data.example import Example
from sae_gd_labeler.search.config import LabelerConfig


@dataclass
class SamplingConfig:
    """How each class is composed; sizes, split, threshold and seed come from LabelerConfig."""

    top_fraction: float = 0.25  # of the positives, taken from the highest activations
    n_quantiles: int = 4  # the other positives are drawn round-robin from this many activation quantiles
    hard_negative_fraction: float = 0.25  # of the negatives, at most this many are hard negatives

    def __post_init__(self):
        for name in ("top_fraction", "hard_negative_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SamplingConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not isinstance(self.n_quantiles, int) or self.n_quantiles < 1:
            raise ValueError(f"SamplingConfig.n_quantiles must be an integer >= 1, got {self.n_quantiles!r}")


@dataclass
class FeatureExamples:
    """One feature's examples. Positives and negatives are equally many in `train` and in `heldout`.

    `status` is "ok", "dead" (never fired), "too_rare" (fired on fewer than min_examples_per_class
    tokens) or "too_few_examples" (fewer usable positives or negatives than that, e.g. above a raised
    activation threshold); only "ok" carries examples. `n_positive` / `n_negative` count the examples
    of each class in train + heldout, or for another status the occurrences that were available.
    `train_keys` / `heldout_keys` give each example's (sequence, position) in the corpus stream.
    """

    feature: int
    train: list[Example] = field(default_factory=list)
    heldout: list[Example] = field(default_factory=list)
    status: str = "ok"
    n_positive: int = 0
    n_negative: int = 0
    train_keys: list[tuple[int, int]] = field(default_factory=list)
    heldout_keys: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def sample_examples(records: Mapping[int, FeatureRecord], tokenizer, config: LabelerConfig | None = None,
                    sampling: SamplingConfig | None = None,
                    features: Iterable[int] | None = None) -> dict[int, FeatureExamples]:
    """Balanced, split Examples for each feature of `records` (or of `features`), keyed by feature id.

    `tokenizer` decodes the kept token ids (the subject model's tokenizer). Uses `config`'s
    examples_per_feature (both classes, train + heldout), heldout_fraction, min_examples_per_class,
    activation_threshold (positives are above it) and seed.
    """
    config = config or LabelerConfig()
    sampling = sampling or SamplingConfig()
    chosen = list(records) if features is None else list(features)
    missing = [f for f in chosen if f not in records]
    if missing:
        raise ValueError(f"features {missing[:10]} have no record; collect them first (recorded: "
                         f"{sorted(records)[:10]}{'...' if len(records) > 10 else ''})")
    return {f: sample_feature(records[f], tokenizer, config, sampling) for f in chosen}


def sample_feature(record: FeatureRecord, tokenizer, config: LabelerConfig,
                   sampling: SamplingConfig) -> FeatureExamples:
    """`sample_examples` for one feature."""
    if config.activation_threshold < record.firing_threshold:
        raise ValueError(f"LabelerConfig.activation_threshold={config.activation_threshold} is below the "
                         f"threshold the activations were collected with ({record.firing_threshold}): "
                         "kept negatives could count as positives; raise it or collect again")
    feature, least = record.feature, config.min_examples_per_class
    positives = _union(record.top, record.positives)
    positives = positives.select(positives.activation > config.activation_threshold)
    negatives = _union(record.hard_negatives, record.negatives)
    if record.n_fired == 0:
        return FeatureExamples(feature, status="dead", n_negative=len(negatives))
    if record.n_fired < least:
        return FeatureExamples(feature, status="too_rare", n_positive=record.n_fired,
                               n_negative=len(negatives))
    if len(positives) < least or len(negatives) < least:
        return FeatureExamples(feature, status="too_few_examples", n_positive=len(positives),
                               n_negative=len(negatives))
    # numpy's SeedSequence mixes the pair, so neighbouring features get unrelated streams.
    rng = np.random.default_rng([config.seed, feature])
    n = min(config.examples_per_feature // 2, len(positives), len(negatives))
    pos = _pick_positives(record, n, sampling, config.activation_threshold, rng)
    neg = _pick_negatives(record, negatives, n, sampling, rng)
    n_held = min(n - 1, max(1, round(n * config.heldout_fraction))) if n > 1 else 0
    # Split each class by occurrence: the pools hold each (seq, pos) once, so the parts are disjoint.
    pos = pos.select(torch.as_tensor(rng.permutation(n)))
    neg = neg.select(torch.as_tensor(rng.permutation(n)))
    held, rest = slice(0, n_held), slice(n_held, None)
    train = Occurrences.cat([pos.select(rest), neg.select(rest)])
    heldout = Occurrences.cat([pos.select(held), neg.select(held)])
    train = train.select(torch.as_tensor(rng.permutation(len(train))))
    heldout = heldout.select(torch.as_tensor(rng.permutation(len(heldout))))
    return FeatureExamples(feature, _examples(train, tokenizer), _examples(heldout, tokenizer), "ok",
                           n_positive=n, n_negative=n, train_keys=train.keys(), heldout_keys=heldout.keys())


def _pick_positives(record, n: int, sampling: SamplingConfig, threshold: float, rng) -> Occurrences:
    """The `top_fraction` strongest, then round-robin over activation quantiles of the uniform sample."""
    top = record.top.select(record.top.activation > threshold)  # strongest first
    n_top = min(round(sampling.top_fraction * n), len(top))
    taken = top.select(slice(0, n_top))
    uniform = _minus(record.positives.select(record.positives.activation > threshold), taken)
    spread = uniform.select(_stratified(uniform, n - n_top, sampling.n_quantiles, rng))
    # A reservoir smaller than asked (a rare feature): fill with the next strongest.
    fill = _minus(top.select(slice(n_top, None)), spread).select(slice(0, n - n_top - len(spread)))
    return Occurrences.cat([taken, spread, fill])


def _pick_negatives(record, pool: Occurrences, n: int, sampling: SamplingConfig, rng) -> Occurrences:
    hard = _union(record.hard_negatives)
    n_hard = min(round(sampling.hard_negative_fraction * n), len(hard))
    taken = hard.select(torch.as_tensor(rng.choice(len(hard), n_hard, replace=False), dtype=torch.long))
    rest = _minus(pool, taken)
    more = rng.choice(len(rest), n - n_hard, replace=False)
    return Occurrences.cat([taken, rest.select(torch.as_tensor(more, dtype=torch.long))])


def _stratified(occ: Occurrences, n: int, n_bins: int, rng) -> torch.Tensor:
    """Indices of up to n occurrences, drawn in turn from equal-count activation quantile bins."""
    order = np.argsort(occ.activation.numpy(), kind="stable")
    bins = [rng.permutation(b).tolist() for b in np.array_split(order, min(n_bins, max(len(order), 1)))]
    picked: list[int] = []
    while len(picked) < min(n, len(order)):
        for b in bins:
            if b and len(picked) < n:
                picked.append(int(b.pop()))
    return torch.tensor(picked, dtype=torch.long)


def _union(*parts: Occurrences) -> Occurrences:
    """Concatenate, keeping the first of any repeated (seq, pos)."""
    occ = Occurrences.cat(list(parts))
    seen: set[tuple[int, int]] = set()
    keep = [not (k in seen or seen.add(k)) for k in occ.keys()]
    return occ.select(torch.tensor(keep, dtype=torch.bool))


def _minus(occ: Occurrences, other: Occurrences) -> Occurrences:
    drop = set(other.keys())
    return occ.select(torch.tensor([k not in drop for k in occ.keys()], dtype=torch.bool))


def _examples(occ: Occurrences, tokenizer) -> list[Example]:
    out = []
    for i in range(len(occ)):
        token_id = int(occ.token_id[i])
        context = tokenizer.decode(occ.context_ids(i), skip_special_tokens=True)
        out.append(Example(context, tokenizer.decode([token_id]), float(occ.activation[i]), (token_id,)))
    return out
