"""How many features to label in one batch when `LabelerConfig.feature_batch_size="auto"`.

A batch keeps every training example's cached prefix (keys and values of every layer) for as long as it
runs, so that is what grows with the batch; scoring memory is bounded by `max_rows_per_forward` on its
own. The batch is as large as fits in half of the memory free on the discriminator's device, counting what
each readout's tensors take (`batch_bytes`) and, on CPU, what the allocator holds beyond them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from sae_gd_labeler.readout.discriminator import LOGIT_BUDGET, Discriminator
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureData

MAX_AUTO_BATCH = 64  # beyond this a batch gains little speed and holds its results back longer
MEMORY_FRACTION = 0.5  # of the free memory; the rest is for activations, the optimiser and the caller
CPU_ALLOCATOR_OVERHEAD = 1.8  # on CPU the C allocator keeps the holes a forward and backward with gradients
#   leave in its heap: a yes / no step on SmolLM2 saves 1.47 GB and peaks 2.47 GB resident, and labeling peaked
#   at 1.8x (SmolLM2) and 1.7x (Gemma-3) what the same runs reach when freed blocks go back to the system at
#   once (MALLOC_MMAP_THRESHOLD_=131072, about 2x slower; see bench.label_memory --return-freed)
PREFIX_SAMPLE = 512  # examples tokenized to estimate the prefix length
PREFIX_MARGIN = 1.25  # the sample may miss the longest prefix


_LIMIT: list[int | None] = [None]


@contextmanager
def memory_limit(max_free_bytes: int | None) -> Iterator[None]:
    """Within the block the automatic sizes see at most max_free_bytes free (None: no cap), e.g. to share a
    machine with other jobs, or to check the sizing against a budget smaller than the machine."""
    previous = _LIMIT[0]
    _LIMIT[0] = max_free_bytes
    try:
        yield
    finally:
        _LIMIT[0] = previous


def free_memory_bytes(device: torch.device) -> int:
    """Memory free for new tensors on `device`: on CUDA what the driver and PyTorch's cache have free,
    on CPU the kernel's MemAvailable; at most the cap of `memory_limit`."""
    free = _free_memory_bytes(device)
    return free if _LIMIT[0] is None else min(free, _LIMIT[0])


def _free_memory_bytes(device: torch.device) -> int:
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


# What one TransformerLens block holds per row, counted from the autograd graph of a labeling forward (the
# tensors saved for backward, by shape, on SmolLM2 in float32 with the shared-prefix hooks; see
# tests/test_memory_budget.py, which checks the count against a random model's graph):
RESIDUAL_SAVED = 2  # [new, d_model]: the two norms' inputs
MLP_SAVED = 2  # [new, d_mlp]: pre- and post-activation; a gated MLP also keeps its linear branch (3)
QUERY_SAVED = 1  # [new, n_heads * d_head]
KV_SAVED = 2  # [keys, n_heads * d_head]: keys and values over every key position, repeated to all query heads
ATTENTION_FLOATS = 2  # [n_heads, new, keys]: the masked scores and the pattern
ATTENTION_BOOLS = 1  # [n_heads, new, keys]: the mask
ROTARY_SAVED = 2  # [new + keys, d_head]: the rotary hooks' per-position halves
BACKWARD_LAYERS = 2  # in backward a layer's gradients (about one layer's saved tensors) sit beside the rest
NO_GRAD_LAYERS = 1  # without gradients a forward holds one layer's temporaries, each freed after use: at most
#                    what that layer would have saved
LOGIT_COPIES_GRAD = 3  # float32 [reads, d_vocab]: the unembedding, its bias sum (saved by logsumexp), the gradient
LOGIT_COPIES = 2  # without gradients: the logits and their log-softmax
SOFTCAP_COPIES = 3  # a soft cap (Gemma) adds logits / cap, tanh and * cap
WEIGHT_COPIES = 1  # a forward with gradients copies every layer's weight matrices once (TransformerLens reshapes
#                   and transposes them) and keeps the copies for backward, however many rows it runs: on
#                   SmolLM2 0.45 GB, a third of what a 16-row step saves (measured from the autograd graph)


def layer_row_bytes(disc: Discriminator, new_tokens: int, keys: int) -> int:
    """Bytes one row of new_tokens positions (attending to `keys` positions) holds in one layer (see above)."""
    cfg = disc.model.cfg
    e = disc.W_E.element_size()
    width = cfg.n_heads * cfg.d_head
    mlp = (MLP_SAVED + bool(getattr(cfg, "gated_mlp", False))) * (cfg.d_mlp or 4 * cfg.d_model)
    rotary = ROTARY_SAVED * (new_tokens + keys) * cfg.d_head if cfg.positional_embedding_type == "rotary" else 0
    scores = cfg.n_heads * new_tokens * keys
    return (e * (new_tokens * (RESIDUAL_SAVED * cfg.d_model + mlp + QUERY_SAVED * width) + KV_SAVED * keys * width
                 + ATTENTION_FLOATS * scores + rotary) + ATTENTION_BOOLS * scores)


def forward_bytes(disc: Discriminator, rows: int, new_tokens: int, past_len: int, grad: bool,
                  past_copied: bool = True) -> int:
    """Peak bytes of one forward of `rows` rows of new_tokens positions after past_len cached ones: with
    gradients every layer's saved tensors (and the backward's), else one layer's temporaries; and the rows'
    copy of their cached prefixes (past_copied: selected from a cache rather than a shared prefix expanded)."""
    layers = disc.model.cfg.n_layers + BACKWARD_LAYERS if grad else NO_GRAD_LAYERS
    per_row = layers * layer_row_bytes(disc, new_tokens, past_len + new_tokens)
    return rows * (per_row + (kv_bytes(disc, past_len) if past_copied else 0))


def weight_copy_bytes(disc: Discriminator) -> int:
    """What one forward with gradients keeps of its copies of the layers' weight matrices (see WEIGHT_COPIES)."""
    return WEIGHT_COPIES * sum(p.numel() * p.element_size() for p in disc.model.blocks.parameters() if p.dim() >= 2)


def resident_with_grad(disc: Discriminator, tensor_bytes: float) -> float:
    """What a forward and backward with gradients whose tensors take tensor_bytes holds resident: on CPU
    CPU_ALLOCATOR_OVERHEAD times as much, on CUDA the same (the budget counts its caching allocator's free memory)."""
    return tensor_bytes * (CPU_ALLOCATOR_OVERHEAD if disc.device.type == "cpu" else 1.0)


def candidate_bytes(disc: Discriminator, n_candidates: int) -> int:
    """The float32 embedding rows of the candidate tokens a searching batch keeps ([C, d_model])."""
    return n_candidates * disc.model.cfg.d_model * 4


def logit_bytes(disc: Discriminator, reads: int, grad: bool) -> int:
    """Float32 full-vocabulary logits at `reads` positions and what their log-softmax keeps."""
    copies = LOGIT_COPIES_GRAD if grad else LOGIT_COPIES
    if disc.model.cfg.output_logits_soft_cap and disc.model.cfg.output_logits_soft_cap > 0:
        copies += SOFTCAP_COPIES if grad else 1
    return reads * disc.d_vocab * 4 * copies


def estimated_prefix_len(disc: Discriminator, features: Sequence[FeatureData]) -> int:
    """The longest cached prefix, estimated from a sample of the examples (with a margin)."""
    stride = max(1, sum(len(f.train) for f in features) // PREFIX_SAMPLE)
    sample = [ex for f in features for ex in f.train][::stride][:PREFIX_SAMPLE]
    return int(max(len(ids) for ids in disc.prefix_ids(sample)) * PREFIX_MARGIN) + 1


def label_width(disc: Discriminator, config: LabelerConfig) -> int:
    """Positions of one label block after a cached prefix: the label's tokens and the template's suffix."""
    k = config.label_tokens if isinstance(config.label_tokens, int) else config.max_label_tokens
    return k + len(disc.suffix_ids)


def labels_side_by_side(disc: Discriminator, config: LabelerConfig, prefix_len: int) -> int:
    """How many labels a no-gradient scoring forward lays after one prefix (answer_grid's block layout): the
    most one feature's proposals or probes reach, within what the context holds."""
    from sae_gd_labeler.readout.shared_prefix import max_blocks, shared_prefix_supported

    blocks = max_blocks(disc.model, prefix_len, label_width(disc, config))
    if not shared_prefix_supported(disc.model) or blocks < 2:
        return 1
    wanted = max(config.start_probes + config.start_guided + config.start_prior,
                 config.restarts * config.discrete_topk, config.restarts * config.soft_candidates)
    return max(1, min(blocks, wanted))


def scoring_forward_bytes(disc: Discriminator, config: LabelerConfig, prefix_len: int, label_rows: int) -> int:
    """One no-gradient scoring forward of label_rows (prefix, label) pairs, laid side by side (see above)."""
    q = labels_side_by_side(disc, config, prefix_len)
    w = label_width(disc, config)
    rows = -(-label_rows // q)
    out = forward_bytes(disc, rows, q * w, prefix_len, grad=False)
    if config.readout == "full_vocab":
        out += logit_bytes(disc, label_rows, grad=False)
    return out


def labeling_readout(config: LabelerConfig, disc: Discriminator) -> str:
    """config.readout, "auto" resolved to the discriminator's (label_examples refuses one it cannot give)."""
    return config.readout if config.readout != "auto" else disc.readout


def rows_per_forward(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                     free_bytes: int | None = None) -> int:
    """config.max_rows_per_forward, lowered for the readouts that cache example prefixes (yes / no, full
    vocabulary) where one scoring forward (see scoring_forward_bytes) would take more than a quarter of
    MEMORY_FRACTION of the free memory. A real model's long prompts make a row MBs."""
    if not features or labeling_readout(config, disc) in ("answer", "cause"):
        return config.max_rows_per_forward
    prefix_len = estimated_prefix_len(disc, features)
    q = labels_side_by_side(disc, config, prefix_len)
    per_row = max(1, scoring_forward_bytes(disc, config, prefix_len, q))  # one forward row: q labels after a prefix
    free = free_memory_bytes(disc.device) if free_bytes is None else free_bytes
    return int(max(1, min(config.max_rows_per_forward, (MEMORY_FRACTION * free / 4 // per_row) * q)))


def feature_batch_bytes(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                        n_candidates: int) -> tuple[float, float]:
    """(per feature, fixed) bytes of labeling with cached prefixes (the yes / no and full-vocabulary readouts).

    Per feature: its cached prefixes, which live as long as the batch, and the largest of what comes and goes:
    its rows' float32 next-token log-probs while the batch is built (the chunks and their concatenation), and
    its rows in a forward with gradients: the guide's uniform label on eval_examples rows, or a step's restarts
    side by side on batch_examples rows (one row per restart where the layout is not shared).
    Fixed: one no-gradient scoring forward of max_rows_per_forward (prefix, label) pairs, or the weight copies of a
    forward with gradients (see WEIGHT_COPIES) where they are more, and the candidates' embedding rows.
    Forwards with gradients count what they hold resident (resident_with_grad)."""
    from sae_gd_labeler.readout.shared_prefix import shared_prefix_supported

    prefix_len = estimated_prefix_len(disc, features)
    n_train = max(len(f.train) for f in features)
    w = label_width(disc, config)
    q = config.restarts
    cache = n_train * kv_bytes(disc, prefix_len)
    log_q = n_train * disc.d_vocab * 4 * 2
    guide = forward_bytes(disc, min(config.eval_examples, n_train), w, prefix_len, grad=True)
    rows = min(config.batch_examples, n_train)
    if shared_prefix_supported(disc.model):
        step = forward_bytes(disc, rows, q * w, prefix_len, grad=True)
    else:
        step = forward_bytes(disc, rows * q, w, prefix_len, grad=True)
    if config.readout == "full_vocab":
        guide += logit_bytes(disc, min(config.eval_examples, n_train), grad=True)
        step += logit_bytes(disc, rows * q, grad=True)
    scoring = scoring_forward_bytes(disc, config, prefix_len, config.max_rows_per_forward)
    fixed = max(scoring, resident_with_grad(disc, weight_copy_bytes(disc))) + candidate_bytes(disc, n_candidates)
    return cache + max(log_q, resident_with_grad(disc, max(guide, step))), fixed


def batch_size_for(per_feature: float, fixed: float, budget: float) -> int:
    """Features that fit in budget after the fixed part (1 to MAX_AUTO_BATCH)."""
    return int(min(MAX_AUTO_BATCH, max(1, (budget - fixed) // max(1.0, per_feature))))


def answer_batch_bytes(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                       n_candidates: int) -> tuple[int, int]:
    """(per feature, fixed) bytes of the label-as-answer readout. It keeps no key / value cache: a batch holds
    the float32 log-probs of every candidate at each example's label slot, [examples, candidates], and the
    calibration's temporaries for one feature. Fixed: one forward chunk (LOGIT_BUDGET // d_vocab prompts after
    the template's cached head, no gradients) with its full-vocabulary logits and log-probs."""
    n_examples = max(len(f.train) + len(f.heldout) for f in features)
    per_feature = n_examples * n_candidates * 4
    rows = max(1, min(config.max_rows_per_forward, LOGIT_BUDGET // disc.d_vocab))
    head = len(disc.bos_ids) + len(disc._encode(disc.template.head))  # cached once, expanded to every row
    prompt = max(1, estimated_prefix_len(disc, features) - head) + label_width(disc, config)
    fixed = (forward_bytes(disc, rows, prompt, head, grad=False, past_copied=False)
             + logit_bytes(disc, rows, grad=False) + 8 * per_feature)
    return per_feature, fixed


@dataclass
class BatchEstimate:
    batch_size: int  # features per batch
    budget_bytes: float  # what the batch was sized to fit: MEMORY_FRACTION of the free memory
    estimated_bytes: float  # the estimated peak of labeling one batch of batch_size features


def batch_bytes(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                n_candidates: int) -> tuple[float, float]:
    """(per feature, fixed) bytes of labeling with config's readout (answer_batch_bytes, cause_batch_bytes or
    feature_batch_bytes)."""
    from sae_gd_labeler.search.cause_batch import cause_batch_bytes

    readout = labeling_readout(config, disc)
    if readout == "answer":
        per_feature, fixed = answer_batch_bytes(disc, features, config, n_candidates)
    elif readout == "cause":
        per_feature, fixed = cause_batch_bytes(disc, features, config, n_candidates)
    else:
        per_feature, fixed = feature_batch_bytes(disc, features, config, n_candidates)
    return per_feature, fixed


def auto_batch_estimate(disc: Discriminator, features: Sequence[FeatureData], config: LabelerConfig,
                        n_candidates: int, free_bytes: int | None = None) -> BatchEstimate:
    """The automatic batch size of config's readout (as many features as fit in MEMORY_FRACTION of the free
    memory, see batch_bytes), the budget it aimed for and the estimated peak of one batch of that size.

    The config first gets the max_rows_per_forward that label_examples gives it (rows_per_forward, which is
    the same for the same free memory)."""
    free = free_memory_bytes(disc.device) if free_bytes is None else free_bytes
    budget = MEMORY_FRACTION * free
    if not features:
        return BatchEstimate(1, budget, 0.0)
    config = config.replace(max_rows_per_forward=rows_per_forward(disc, features, config, free))
    per_feature, fixed = batch_bytes(disc, features, config, n_candidates)
    size = batch_size_for(per_feature, fixed, budget)
    return BatchEstimate(size, budget, min(size, len(features)) * per_feature + fixed)
