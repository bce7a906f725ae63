"""How many features to label in one batch when `LabelerConfig.feature_batch_size="auto"`.

A batch keeps every training example's cached prefix (keys and values of every layer) for as long as it
runs, so that is what grows with the batch; scoring memory is bounded by `max_rows_per_forward` on its
own. The batch is as large as fits in half of the memory free on the discriminator's device.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from sae_gd_labeler.readout.discriminator import LOGIT_BUDGET, Discriminator
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureData

MAX_AUTO_BATCH = 64  # beyond this a batch gains little speed and holds its results back longer
MEMORY_FRACTION = 0.5  # of the free memory; the rest is for activations, the optimiser and the caller
PREFIX_SAMPLE = 512  # examples tokenized to estimate the prefix length
PREFIX_MARGIN = 1.25  # the sample may miss the longest prefix


def free_memory_bytes(device: torch.device) -> int:
    """Memory free for new tensors on `device`: on CUDA what the driver and PyTorch's cache have free,
    on CPU the kernel's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def kv_bytes(disc: Discriminator, prefix_len: int) -> int:
    """Cached keys + values of one prefix of prefix_len tokens, all layers."""
    cfg = disc.model.cfg
    n_kv_heads = cfg.n_key_value_heads if cfg.n_key_value_heads is not None else cfg.n_heads
    return cfg.n_layers * 2 * prefix_len * n_kv_heads * cfg.d_head * disc.W_E.element_size()


def grad_row_bytes(disc: Discriminator, prefix_len: int) -> int:
    """What one cached prefix costs in a forward that keeps gradients (the label's): every layer saves the
    keys and values it attended to for the backward pass, expanded to all query heads (TransformerLens repeats
    a grouped-query model's key / value heads), and the copy the cache made of them."""
    cfg = disc.model.cfg
    return 2 * cfg.n_layers * 2 * prefix_len * cfg.n_heads * cfg.d_head * disc.W_E.element_size()


def estimated_prefix_len(disc: Discriminator, features: Sequence[FeatureData]) -> int:
    """The longest cached prefix, estimated from a sample of the examples (with a margin)."""
    stride = max(1, sum(len(f.train) for f in features) // PREFIX_SAMPLE)
    sample = [ex for f in features for ex in f.train][::stride][:PREFIX_SAMPLE]
    return int(max(len(ids) for ids in disc.prefix_ids(sample)) * PREFIX_MARGIN) + 1


def rows_per_forward(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                     free_bytes: int | None = None) -> int:
    """config.max_rows_per_forward, lowered where one scoring forward's copies of its cached prefixes (the
    selected rows, their concatenation with the new positions, the key / value heads repeated for
    grouped-query attention: 3 copies) would take more than a quarter of MEMORY_FRACTION of the free memory.
    A real model's long prompts make a row MBs (SmolLM2's chat prompt: about 5 MB)."""
    if not features:
        return config.max_rows_per_forward
    per_row = 3 * kv_bytes(disc, estimated_prefix_len(disc, features)) + 2 * disc.d_vocab * 4
    free = free_memory_bytes(disc.device) if free_bytes is None else free_bytes
    return int(max(1, min(config.max_rows_per_forward, MEMORY_FRACTION * free / 4 // per_row)))


def auto_feature_batch_size(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                            n_candidates: int | None = None, free_bytes: int | None = None) -> int:
    """The number of features whose cached prefixes fit in MEMORY_FRACTION of the free memory, after a
    reserve for the copies one scoring forward makes and the full-vocabulary logits of one prefix chunk
    (1 to MAX_AUTO_BATCH)."""
    if not features:
        return 1
    prefix_len = estimated_prefix_len(disc, features)
    per_row = kv_bytes(disc, prefix_len)
    # a feature's cached prefixes, and their float32 next-token log-probs until they are averaged; and its
    # rows in the largest forward with gradients (the start gradient over the eval rows)
    per_feature = (max(len(f.train) for f in features) * (per_row + disc.d_vocab * 4)
                   + min(config.eval_examples, max(len(f.train) for f in features)) * grad_row_bytes(disc, prefix_len))
    # one scoring forward (prefix copies and their concat), and one prefix chunk's float32 logits and log q
    reserve = config.max_rows_per_forward * (3 * per_row + 2 * disc.d_vocab * 4)
    free = free_memory_bytes(disc.device) if free_bytes is None else free_bytes
    budget = MEMORY_FRACTION * free - reserve
    return int(min(MAX_AUTO_BATCH, max(1, budget // per_feature)))


def auto_answer_batch_size(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                           n_candidates: int, free_bytes: int | None = None) -> int:
    """The label-as-answer readout keeps no key / value cache: a batch holds the float32 log-probs of every
    candidate at each example's label slot, [examples, candidates]. Reserve: one forward chunk's
    full-vocabulary logits and log-probs, and the calibration's temporaries for one feature."""
    if not features:
        return 1
    n_examples = max(len(f.train) + len(f.heldout) for f in features)
    per_feature = n_examples * n_candidates * 4
    reserve = 2 * LOGIT_BUDGET * 4 + 8 * per_feature
    free = free_memory_bytes(disc.device) if free_bytes is None else free_bytes
    budget = MEMORY_FRACTION * free - reserve
    return int(min(MAX_AUTO_BATCH, max(1, budget // per_feature)))
