"""`label_examples`: label any set of features from their examples, many features per batch."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence

import torch
from transformer_lens import HookedTransformer

from sae_gd_labeler.data.example import Example, check_examples
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import candidate_token_ids, round_trips, token_text
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.scoring.weak import apply_weak_rule
from sae_gd_labeler.search.answer_beam import label_batch_by_answer_beam
from sae_gd_labeler.search.answer_search import label_batch_by_answer
from sae_gd_labeler.search.cause_batch import CauseBatch, check_one_token
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.discrete_search import Label, discrete_search, guide, starts
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData, feature_seed
from sae_gd_labeler.search.label_length import label_length_results
from sae_gd_labeler.search.memory_budget import auto_batch_estimate, rows_per_forward
from sae_gd_labeler.search.result import Candidate, FeatureLabel
from sae_gd_labeler.search.soft_search import soft_search, trajectory

log = logging.getLogger(__name__)

N_REPORTED_CANDIDATES = 10


def as_discriminator(discriminator: Discriminator | HookedTransformer) -> Discriminator:
    if isinstance(discriminator, Discriminator):
        return discriminator
    return Discriminator(discriminator)


def label_examples(
    examples_by_feature: Mapping[Hashable, Sequence[Example]],
    discriminator: Discriminator | HookedTransformer,
    config: LabelerConfig | None = None,
    heldout: Mapping[Hashable, Sequence[Example]] | None = None,
) -> dict[Hashable, FeatureLabel]:
    """Label every feature from its examples; returns {feature: FeatureLabel} in the input order.

    Each feature's examples are split into training and held-out sets by class (`heldout_fraction`),
    unless `heldout` gives the held-out examples of every feature explicitly. All input is checked
    before any work starts: a bad example set raises ValueError and nothing is labeled. A label whose
    held-out metrics fail the rule of `scoring.weak` comes back with status "weak" (kept, not to be believed).
    Labels have `config.label_tokens` tokens; with "auto", each feature's label length is chosen on its
    held-out examples (see label_length).
    """
    config = config if config is not None else LabelerConfig()
    if not isinstance(examples_by_feature, Mapping):
        raise ValueError("examples_by_feature must be a mapping {feature: [Example, ...]}, got "
                         f"{type(examples_by_feature).__name__}")
    disc = as_discriminator(discriminator)
    check_placement(disc, config)
    config = config.replace(readout=resolve_readout(config, disc))
    if config.readout == "cause":
        check_one_token(config)
    for feature, examples in examples_by_feature.items():
        check_examples(feature, examples, config.activation_threshold)
    if heldout is not None:
        missing = [f for f in examples_by_feature if f not in heldout or len(heldout[f]) == 0]
        if missing:
            raise ValueError(f"heldout has no examples for features {missing[:5]}; give held-out examples "
                             "for every feature or leave heldout=None to split automatically")
    if config.label_tokens == "auto":
        return _label_examples_any_length(examples_by_feature, disc, config, heldout)
    candidates = candidate_token_ids(disc, config.candidate_vocab)

    results: dict[Hashable, FeatureLabel] = {}
    ready: list[FeatureData] = []
    for feature, examples in examples_by_feature.items():
        data = split_examples(feature, examples, config, None if heldout is None else heldout[feature])
        if isinstance(data, FeatureLabel):
            results[feature] = data
        else:
            ready.append(data)
    answer, cause = config.readout == "answer", config.readout == "cause"
    config = config.replace(max_rows_per_forward=rows_per_forward(disc, ready, config))
    size = config.feature_batch_size
    if size == "auto":
        size = _auto_batch_size(disc, ready, config, len(candidates))
    with disc.frozen():
        for start in range(0, len(ready), size):
            chunk = ready[start:start + size]
            if answer and config.label_tokens > 1:
                results.update(label_batch_by_answer_beam(disc, chunk, candidates, config))
            elif answer:
                results.update(label_batch_by_answer(disc, chunk, candidates, config))
            elif cause:  # the searches, on cause scores (see cause_batch)
                results.update(label_batch(CauseBatch(disc, chunk, candidates, config)))
            else:
                results.update(label_batch(FeatureBatch(disc, chunk, candidates, config)))
    # one place for every readout: a label that should not be believed becomes "weak" (scoring.weak)
    return {feature: apply_weak_rule(results[feature], config) for feature in examples_by_feature}


def _auto_batch_size(disc: Discriminator, ready: list[FeatureData], config: LabelerConfig, n_candidates: int) -> int:
    """Features per batch (memory_budget); a warning where even one feature is estimated over the budget."""
    estimate = auto_batch_estimate(disc, ready, config, n_candidates)
    if ready and estimate.batch_size == 1 and estimate.estimated_bytes > estimate.budget_bytes:
        log.warning("labeling one feature is estimated at %.2f GB, more than the %.2f GB budget (half the free "
                    "memory): lower batch_examples, restarts or max_rows_per_forward, or free memory",
                    estimate.estimated_bytes / 2**30, estimate.budget_bytes / 2**30)
    return estimate.batch_size


def _label_examples_any_length(examples_by_feature: Mapping[Hashable, Sequence[Example]], disc: Discriminator,
                               config: LabelerConfig, heldout) -> dict[Hashable, FeatureLabel]:
    """label_tokens="auto": every feature labeled with 1..max_label_tokens tokens (the same split), then the
    shortest label that is not meaningfully worse on its held-out examples (see label_length)."""
    by_length = {k: label_examples(examples_by_feature, disc, config.replace(label_tokens=k), heldout)
                 for k in range(1, config.max_label_tokens + 1)}
    splits = {}
    for feature, examples in examples_by_feature.items():
        data = split_examples(feature, examples, config, None if heldout is None else heldout[feature])
        splits[feature] = None if isinstance(data, FeatureLabel) else data
    return label_length_results(disc, splits, by_length, config, heldout_answers, list(examples_by_feature))


def resolve_readout(config: LabelerConfig, disc: Discriminator) -> str:
    """config.readout, with "auto" resolved to what the discriminator's template asks for; a readout the
    template cannot give is refused."""
    if config.readout == "auto":
        return disc.readout
    needs = config.readout if config.readout in ("answer", "cause") else "yes_no"
    if needs != disc.readout:
        raise ValueError(f"LabelerConfig.readout={config.readout!r} does not fit the discriminator's "
                         f"{type(disc.template).__name__}: the 'answer' readout needs an AnswerTemplate, 'cause' "
                         "a CauseTemplate, 'yes_no' and 'full_vocab' a PromptTemplate; leave readout='auto' to "
                         "follow the template")
    return config.readout


def check_placement(disc: Discriminator, config: LabelerConfig) -> None:
    """config.device / config.dtype, when set, must be where the discriminator already is: the labeler
    never moves a user's model behind their back (and TransformerLens keeps its dtype in cfg)."""
    if config.device is not None and torch.device(config.device).type != disc.device.type:
        raise ValueError(f"LabelerConfig.device={config.device!r} but the discriminator is on {disc.device}; "
                         f"move the model first (model.to({config.device!r})) or leave device=None")
    if config.dtype is not None and getattr(torch, config.dtype) != disc.W_E.dtype:
        raise ValueError(f"LabelerConfig.dtype={config.dtype!r} but the discriminator's weights are "
                         f"{disc.W_E.dtype}; load the model in that dtype or leave dtype=None")


def split_examples(feature: Hashable, examples: Sequence[Example], config: LabelerConfig,
                   heldout: Sequence[Example] | None = None) -> FeatureData | FeatureLabel:
    """Balanced subsample of at most examples_per_feature, then a per-class held-out split."""
    gen = torch.Generator().manual_seed(feature_seed(config.seed + 2, feature))
    threshold = config.activation_threshold
    pos = [ex for ex in examples if ex.activation > threshold]
    neg = [ex for ex in examples if ex.activation <= threshold]
    pos = [pos[i] for i in torch.randperm(len(pos), generator=gen).tolist()]
    neg = [neg[i] for i in torch.randperm(len(neg), generator=gen).tolist()]
    budget = config.examples_per_feature
    n_pos = min(len(pos), max(budget // 2, budget - len(neg)))
    pos, neg = pos[:n_pos], neg[:min(len(neg), budget - n_pos)]
    if heldout is None:
        n_held_pos = int(round(len(pos) * config.heldout_fraction)) if len(pos) > 1 else 0
        n_held_neg = int(round(len(neg) * config.heldout_fraction)) if len(neg) > 1 else 0
        heldout = pos[:n_held_pos] + neg[:n_held_neg]
        pos, neg = pos[n_held_pos:], neg[n_held_neg:]
    if min(len(pos), len(neg)) < config.min_examples_per_class:
        return FeatureLabel.without_label(feature, "too_few_examples", len(pos), len(neg))
    return FeatureData(feature, pos + neg, list(heldout))


def label_batch(batch: FeatureBatch) -> dict[Hashable, FeatureLabel]:
    """Search, re-rank the hard candidates by exact loss on all training examples, score held-out.

    A label is a tuple of `label_tokens` candidate indices. A K-token label is reported as its text only
    where that text tokenizes back to its tokens (see `round_trips`): such candidates are ranked first."""
    method = batch.config.method
    n_feat = len(batch)
    pools: list[set[Label]] = [set() for _ in range(n_feat)]
    steps = torch.zeros(n_feat, dtype=torch.long)
    soft = found = None
    if method in ("soft", "hybrid"):
        soft = soft_search(batch)
        steps += soft.steps
        for f in range(n_feat):
            pools[f].update(soft.candidates[f])
    if method in ("discrete", "hybrid"):
        guides = guide(batch)  # [F, C] (or [F, K, C]) computed once for the starts and the proposals
        if soft is None:
            start = starts(batch, guides)
        elif batch.config.label_tokens == 1:
            start = _best_starts(batch, soft.candidates)
        else:  # K tokens: the soft proposals and the discrete starts both (see _hybrid_starts)
            start = _hybrid_starts(batch, soft.candidates, starts(batch, guides))
        found = discrete_search(batch, start, guides)
        steps += found.iterations
        for f in range(n_feat):
            pools[f].update(found.labels(f))

    feature_of = torch.tensor([f for f in range(n_feat) for _ in pools[f]])
    labels = [t for f in range(n_feat) for t in sorted(pools[f])]
    tokens = torch.tensor(labels)  # [Q, K]
    losses = batch.exact_loss(feature_of, tokens[:, 0] if tokens.shape[1] == 1 else tokens, rowset="train")
    ranked: list[list[tuple[float, Label]]] = [[] for _ in range(n_feat)]
    for f, t, loss in zip(feature_of.tolist(), labels, losses.tolist()):
        ranked[f].append((loss, t))
    ranked = [sorted(r) for r in ranked]
    unreadable = [0] * n_feat  # K-token candidates whose text does not tokenize back to them
    if batch.config.label_tokens > 1:
        for f in range(n_feat):
            ranked[f], unreadable[f] = _readable_first(batch, ranked[f])
    best = torch.tensor([r[0][1] for r in ranked])  # [F, K] candidate indices of each feature's label
    if isinstance(batch, CauseBatch):  # a likelihood score: each label carries its calibration
        metrics, calibrations = batch.heldout_metrics(best)
    else:
        metrics, calibrations = heldout_metrics(batch, best), [None] * n_feat

    results = {}
    for f, data in enumerate(batch.features):
        cand = ranked[f][:N_REPORTED_CANDIDATES]
        ids = [tuple(int(batch.candidate_ids[t]) for t in label) for _, label in cand]
        n_pos = len(batch.pos_rows[f])
        history = _search_history(batch, method, soft, found, f)
        if batch.config.label_tokens > 1:
            history["label_round_trips"] = unreadable[f] < len(ranked[f])
        results[data.feature] = FeatureLabel(
            feature=data.feature,
            label=token_text(batch.disc, ids[0]),
            token_ids=ids[0],
            candidates=[Candidate(token_text(batch.disc, i), i, loss) for i, (loss, _) in zip(ids, cand)],
            metrics=metrics[f],
            n_positive=n_pos,
            n_negative=len(data.train) - n_pos,
            steps=int(steps[f]),
            trajectory=None if soft is None else _trajectory(batch, soft, f, tuple(best[f].tolist())),
            calibration=calibrations[f],
            search_history=history,
        )
    return results


def _readable_first(batch: FeatureBatch, ranked: list[tuple[float, Label]]) -> tuple[list, int]:
    """K-token candidates (loss, label), best first, with those whose text round-trips ahead of those
    whose text does not (each part still by loss; the losses are exact either way); and how many do not.
    Two word tokens whose text merges into other tokens, or a word piece after a word, are labels a reader
    could not write down: they are kept, after every readable one."""
    readable, unreadable = [], []
    for loss, label in ranked:
        ids = [int(batch.candidate_ids[t]) for t in label]
        (readable if round_trips(batch.disc, ids) else unreadable).append((loss, label))
    return readable + unreadable, len(unreadable)


def _label_text(batch: FeatureBatch, label: Label) -> str:
    return token_text(batch.disc, [int(batch.candidate_ids[t]) for t in label])


def _search_history(batch: FeatureBatch, method: str, soft, found, f: int) -> dict:
    """How feature f's search went: the soft phase's length and, for the discrete phase, each restart's
    label and exact loss (on the evaluation rows, which the search minimises) at its start and per
    iteration."""
    history: dict = {"method": method}
    if soft is not None:
        history["soft_steps"] = soft.steps
    if found is not None:
        text = {}  # label -> label text; restarts hold the same labels often
        restarts = []
        for labels, losses in found.restart_histories(f):
            for t in labels:
                if t not in text:
                    text[t] = _label_text(batch, t)
            restarts.append({"tokens": [text[t] for t in labels], "losses": losses})
        history["restarts"] = restarts
        history["n_eval_examples"] = len(batch.eval_rows[f])
    return history


def _best_starts(batch: FeatureBatch, candidates: list[list[Label]]) -> torch.Tensor:
    """For the hybrid search: each feature's `restarts` soft candidates with the lowest exact loss, [F, R, K]."""
    restarts = batch.config.restarts
    feature = torch.cat([torch.full((len(cand),), f) for f, cand in enumerate(candidates)])
    labels = torch.tensor([t for cand in candidates for t in cand])  # [Q, K]
    losses = batch.exact_loss(feature, labels[:, 0] if labels.shape[1] == 1 else labels)  # one batch
    starts = []
    for cand, loss in zip(candidates, losses.split([len(c) for c in candidates])):
        order = loss.argsort().tolist()
        starts.append([cand[order[i % len(order)]] for i in range(restarts)])
    return torch.tensor(starts)


def _hybrid_starts(batch: FeatureBatch, candidates: list[list[Label]], discrete: torch.Tensor) -> torch.Tensor:
    """For the hybrid search with K-token labels, [F, 2R, K]: the `restarts` soft candidates with the lowest
    exact loss and the discrete search's own `restarts` starts. The K distributions of the soft phase often
    settle on the right token at one position and a poor one at another (a planted "animal fish" in the toy
    world before it had compounds: "perch animal"), from where no single-position swap improves; its
    candidates' losses are still lower than the discrete starts', so ranking both together (or halving the
    restarts) kept too few of the starts from which the discrete search alone finds the label."""
    return torch.cat([_best_starts(batch, candidates), discrete], dim=1)


@torch.no_grad()
def heldout_metrics(batch: FeatureBatch, best: torch.Tensor) -> list[dict[str, float]]:
    """Held-out metrics of each feature's label (candidate indices best [F], or [F, K])."""
    if not any(data.heldout for data in batch.features):
        return [{} for _ in batch.features]
    best = best[:, None] if best.dim() == 1 else best
    label_tokens = batch.candidate_ids[best.to(batch.candidate_ids.device)]  # [F, K]
    scores = heldout_answers(batch.disc, batch.features, batch.config, label_tokens)
    return metrics_per_feature(batch.features, scores, batch.config)


@torch.no_grad()
def heldout_answers(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                    label_tokens: torch.Tensor) -> list[torch.Tensor]:
    """logit(yes) - logit(no) on each feature's held-out examples ([h_f] per feature) for its hard label,
    label_tokens [F, K]; all held-out prefixes are cached together."""
    sizes = [len(data.heldout) for data in features]
    if sum(sizes) == 0:
        return [torch.zeros(0) for _ in features]
    cache = disc.cache_prefixes([ex for data in features for ex in data.heldout], max_rows=config.max_rows_per_forward)
    tokens = label_tokens.repeat_interleave(torch.tensor(sizes, device=label_tokens.device), dim=0)  # [N, K]
    scores = disc.answer_grid(cache, tokens[:, None, :].to(disc.device), max_rows=config.max_rows_per_forward)
    return list(scores[:, 0].cpu().split(sizes))


def metrics_per_feature(features: Sequence[FeatureData], scores: Sequence[torch.Tensor],
                        config: LabelerConfig) -> list[dict[str, float]]:
    """classification_metrics of each feature's held-out scores (score > 0: predicted to fire)."""
    threshold = config.activation_threshold
    return [classification_metrics(score, torch.tensor([ex.activation > threshold for ex in data.heldout],
                                                       dtype=torch.bool))
            for data, score in zip(features, scores)]


def _trajectory(batch: FeatureBatch, soft, f: int, best: Label) -> dict[str, list[float]]:
    """The soft phase's p over steps for the restart that ended on the chosen label (else restart 0); a
    K-token label's curves are named "position: token" ("1: red", "2: fruit")."""
    finals = [tuple(t) for t in soft.final_top[f].tolist()]
    restart = finals.index(best) if best in finals else 0
    curves = trajectory(soft, f, restart)
    several = batch.config.label_tokens > 1
    out = {}
    for (position, t), ps in curves.items():
        text = _label_text(batch, (t,))
        out[f"{position + 1}: {text}" if several else text] = ps
    out["_steps"] = [float(s) for s in soft.snapshot_steps]
    return out
