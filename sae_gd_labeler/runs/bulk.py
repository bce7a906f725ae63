"""`label_run`: label many features of one SAE into a run directory, resumably, on one or several ranks.

One pass over the corpus collects every feature of this rank (memory bounded by features x kept examples,
never by the corpus); the features are then labeled a batch at a time and each finished batch is appended
to the rank's files at once. Labels do not depend on which features share a batch, so a resumed run gives
the records an uninterrupted one would have given.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sae_gd_labeler.data.activations import ActivationConfig, collect_activations
from sae_gd_labeler.data.example import Example
from sae_gd_labeler.data.sampling import SamplingConfig, sample_examples
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.runs.distributed import Ranks, barrier
from sae_gd_labeler.runs.example_records import TokenTexts, example_record
from sae_gd_labeler.runs.feature_spec import FeatureSpec
from sae_gd_labeler.runs.progress import RunProgress
from sae_gd_labeler.runs.record_cache import RecordCache
from sae_gd_labeler.runs.run_dir import RunDirectory
from sae_gd_labeler.sae_labeling import label_sampled
from sae_gd_labeler.scoring.weak import label_weak_reason
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.result import FeatureLabel

log = logging.getLogger(__name__)
DEFAULT_BATCH_FEATURES = 64  # features labeled (and written) together when LabelerConfig does not fix it
SUMMARY_METRICS = ("balanced_accuracy", "f1", "auroc", "precision", "recall")


def label_run(run: RunDirectory, sae, features: FeatureSpec, *, model, discriminator: Discriminator, dataset: Any,
              run_config: dict[str, Any], config: LabelerConfig | None = None,
              activation_config: ActivationConfig | None = None, sampling: SamplingConfig | None = None,
              text_column: str | None = None, example_fn: Callable[[Example], Example] | None = None,
              overwrite: bool = False, ranks: Ranks | None = None, progress: RunProgress | None = None,
              batch_features: int | None = None, cache: RecordCache | None = None,
              baselines: bool = True) -> dict[str, Any] | None:
    """Label `features` of `sae` into `run`; returns the summary (on rank 0; None on the others).

    `cache`: where the corpus pass's records are kept for later runs with the same corpus settings.
    `baselines`: score the most frequent firing token and the output projection beside every label
    (`FeatureLabel.baselines`; see scoring.baselines).
    """
    config = config or LabelerConfig()
    ranks = ranks or Ranks()
    progress = progress or RunProgress(False)
    start = time.perf_counter()
    ids = features.resolve(sae.cfg.d_sae)
    if ranks.main:
        run.start(run_config, overwrite)
    barrier(ranks)  # every rank reads the finished set after rank 0 has set the directory up
    finished = run.finished()
    size = batch_features or (config.feature_batch_size if isinstance(config.feature_batch_size, int)
                              else DEFAULT_BATCH_FEATURES)
    # Batches are fixed blocks of the requested ids, dealt to the ranks in turn: a resumed run (same batch
    # size and ranks) relabels exactly the blocks that were in flight, so even float rounding is unchanged.
    blocks = ranks.share([ids[at:at + size] for at in range(0, len(ids), size)])
    blocks = [todo for block in blocks if (todo := [f for f in block if f not in finished])]
    mine = [f for block in blocks for f in block]
    labels_log = run.shard("labels", ranks.rank) if ranks.distributed else run.labels
    examples_log = run.shard("examples", ranks.rank) if ranks.distributed else run.examples
    log.info("rank %d: %d of %d features to label (%d finished before)", ranks.rank, len(mine), len(ids),
             len(finished & set(ids)))
    if mine:
        hook = sae.cfg.metadata.hook_name
        progress.start_corpus(None if activation_config is None else activation_config.max_tokens)
        records = None if cache is None else cache.load(mine)
        if records is None:
            records = collect_activations(model, sae, dataset, mine, activation_config, text_column=text_column,
                                          on_batch=progress.tokens_read)
            if cache is not None:
                cache.save(records)
        else:
            log.info("rank %d: the records of its %d features come from the cache %s", ranks.rank, len(mine),
                     cache.folder)
        sampled = sample_examples(records, model.tokenizer, config, sampling)
        if features.kind == "alive":
            blocks = [alive for block in blocks if (alive := [f for f in block if not records[f].dead])]
        progress.start_features(sum(map(len, blocks)))
        texts = TokenTexts(model.tokenizer)
        prepare = example_fn or (lambda ex: ex)
        for chunk in blocks:
            labels, examples = label_sampled(chunk, sampled, records, sae=sae, model=model, disc=discriminator,
                                             config=config, prepare=prepare, baselines=baselines)
            # examples first: a feature's label line is only ever there with its examples
            examples_log.append([example_record(records[f], texts, hook, *examples[f]) for f in chunk])
            labels_log.append([label_record(labels[f], hook, config) for f in chunk])
            progress.features_done(len(chunk))
    barrier(ranks)
    if not ranks.main:
        return None
    run.merge_shards()
    summary = summarize(run.label_records(), ids, time.perf_counter() - start)
    run.write_summary(summary)
    return summary


def label_record(label: FeatureLabel, hook_name: str, config: LabelerConfig) -> dict[str, Any]:
    """A labels.jsonl line: the FeatureLabel, its hook and, for a weak label, the rule's reason in words."""
    record = {**label.to_dict(), "hook_name": hook_name}
    if label.status == "weak":
        record["weak_reason"] = label_weak_reason(label, config)
    return _json_safe(record)


def summarize(records: list[dict[str, Any]], requested: Sequence[int], seconds: float) -> dict[str, Any]:
    """Counts by status and mean held-out metrics over the labeled features of the run."""
    wanted = set(requested)
    records = [r for r in records if r["feature"] in wanted]
    labeled = [r for r in records if r.get("label") is not None]
    means = {}
    for name in SUMMARY_METRICS:
        values = [r["metrics"][name] for r in labeled if r["metrics"].get(name) is not None]
        means[name] = sum(values) / len(values) if values else None
    return {"n_requested": len(requested), "n_recorded": len(records), "n_labeled": len(labeled),
            "counts": dict(Counter(r["status"] for r in records)), "mean_metrics": means,
            "seconds": round(seconds, 2)}


def _json_safe(value):
    """JSON has no NaN or infinity: they become None (e.g. a candidate's loss that is infinite)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
