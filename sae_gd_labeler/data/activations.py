"""Stream a corpus through a model and an sae_lens SAE; keep, per feature, the occurrences worth labeling.

    records = collect_activations(model, sae, "some/dataset", feature_ids=range(64))
    records[7].top            # the feature's highest activations, with their contexts as token ids
    records[7].n_fired        # how often it fired: 0 means dead

The model runs only up to the SAE's hook (`stop_at_layer`), and only the requested features are encoded
when the architecture allows it: standard, JumpReLU and gated SAEs are linear up to a per-feature
nonlinearity, so the requested columns of W_enc (and b_enc, threshold, gated's b_gate / b_mag / r_mag)
give exactly `sae.encode(x)[..., ids]`. TopK couples features (a feature fires only if it is among the k
largest), so it and any architecture not known here go through the full `sae.encode`. The input side is
always sae_lens's own `process_sae_in` (dtype cast, hook_z reshaping, normalisation, b_dec).

Memory is bounded by (#features x #kept), not by the corpus: per feature a top-k, and bottom-k reservoirs
(keep the k smallest of a hash of (seed, feature, position): a uniform sample without replacement that is
mergeable batch by batch and does not depend on which other features are collected) of firing tokens,
non-firing tokens and hard negatives (non-firing occurrences of a token the feature fires on elsewhere).
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from sae_lens import GatedSAE, JumpReLUSAE, StandardSAE
from torch import nn

from sae_gd_labeler.data.corpus import iter_token_batches

_M32 = 0xFFFFFFFF
_NO_KEY = 1 << 40  # reservoir key of an ineligible token: above every 32-bit hash


@dataclass
class ActivationConfig:
    """How much to keep per feature while streaming, and how to stream."""

    n_top: int = 64  # highest-activation occurrences kept
    n_positive_sample: int = 128  # uniform sample of firing occurrences (spread over its quantiles)
    n_negative_sample: int = 128  # uniform sample of non-firing occurrences
    n_hard_negative: int = 64  # non-firing occurrences of a token in the feature's top-k (as it stood
    # when the batch streamed by, and at the end): best effort, they depend on batch boundaries
    context_tokens: int = 32  # context kept per occurrence: this many tokens ending with the token
    firing_threshold: float = 0.0  # a feature fires where its activation is above this
    batch_size: int = 8  # sequences per forward pass; bounds the [tokens, features] work tensors
    feature_chunk_size: int = 2048  # features updated together; bounds the int64 hash tensors
    max_tokens: int | None = None  # stop after this many corpus tokens (None: the whole corpus)
    exclude_special_tokens: bool = True  # BOS / separators are not occurrences (they fire on everything);
    # position 0 never is, whatever token sits there
    seed: int = 0

    def __post_init__(self):
        for names, low in ((("n_top", "n_positive_sample", "n_negative_sample", "n_hard_negative"), 0),
                           (("context_tokens", "batch_size", "feature_chunk_size"), 1)):
            for name in names:
                value = getattr(self, name)
                if not isinstance(value, int) or value < low:
                    raise ValueError(f"ActivationConfig.{name} must be an integer >= {low}, got {value!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"ActivationConfig.max_tokens must be >= 1 or None, got {self.max_tokens!r}")


@dataclass
class Occurrences:
    """A set of token occurrences (CPU tensors, one row each); identity is (seq, pos)."""

    seq: torch.Tensor  # [n] int64, index of the context window in the corpus stream
    pos: torch.Tensor  # [n] int64, position in that window
    token_id: torch.Tensor  # [n] int64
    activation: torch.Tensor  # [n] float32
    context: torch.Tensor  # [n, context_tokens] int64, ends with token_id, -1 before the window start

    def __len__(self) -> int:
        return self.seq.shape[0]

    def select(self, index) -> Occurrences:
        return Occurrences(*(getattr(self, f.name)[index] for f in fields(self)))

    def keys(self) -> list[tuple[int, int]]:
        return list(zip(self.seq.tolist(), self.pos.tolist(), strict=True))

    def context_ids(self, i: int) -> list[int]:
        return [t for t in self.context[i].tolist() if t >= 0]

    @staticmethod
    def cat(parts: list[Occurrences]) -> Occurrences:
        return Occurrences(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Occurrences)))


@dataclass
class FeatureRecord:
    """What streaming kept for one feature; everything the sampler needs to build Examples."""

    feature: int
    n_tokens: int  # tokens seen (special tokens excluded)
    n_fired: int  # tokens where activation > firing_threshold
    max_activation: float
    firing_threshold: float
    top: Occurrences  # highest activations first, all firing
    positives: Occurrences  # uniform sample of firing occurrences
    negatives: Occurrences  # uniform sample of non-firing occurrences
    hard_negatives: Occurrences  # non-firing occurrences of tokens in `top`

    @property
    def dead(self) -> bool:
        return self.n_fired == 0

    @property
    def firing_rate(self) -> float:
        return self.n_fired / max(self.n_tokens, 1)


@dataclass
class ActivationRecords(Mapping):
    """Per-feature records of one pass over a corpus, keyed by feature id, plus what the pass used."""

    records: dict[int, FeatureRecord]
    hook_name: str
    context_size: int
    prepend_bos: bool
    n_sequences: int
    n_tokens: int
    firing_threshold: float
    state_bytes: int  # bytes of kept per-feature state: constant in corpus size

    def __getitem__(self, feature: int) -> FeatureRecord:
        return self.records[feature]

    def __iter__(self) -> Iterator[int]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


@torch.no_grad()
def collect_activations(model, sae, dataset: Any, feature_ids, config: ActivationConfig | None = None, *,
                        context_size: int | None = None, prepend_bos: bool | None = None,
                        hook_name: str | None = None, text_column: str | None = None,
                        on_batch: Callable[[int], None] | None = None) -> ActivationRecords:
    """Stream `dataset` through `model` up to the SAE's hook and keep per-feature records for `feature_ids`.

    `feature_ids`: list, range or integer tensor of distinct ids in [0, d_sae). `context_size`,
    `prepend_bos` and `hook_name` default to `sae.cfg.metadata` (`prepend_bos` then to the model's
    default). `dataset` is anything `iter_token_batches` reads. Everything is checked before the corpus
    is read; any error raises ValueError and returns nothing. `on_batch(n_tokens)` is called after each
    forward pass (progress displays).
    """
    config = config or ActivationConfig()
    meta = sae.cfg.metadata
    hook_name = hook_name or meta.hook_name
    ids = _check_feature_ids(feature_ids, sae.cfg.d_sae)
    _check_hook(model, sae, hook_name)
    context_size = context_size or meta.context_size
    if context_size is None:
        raise ValueError("the SAE's metadata has no context_size; pass context_size= (the window the SAE "
                         "was trained on, e.g. 128 for gpt2-small-res-jb)")
    if context_size > model.cfg.n_ctx:
        raise ValueError(f"context_size={context_size} is longer than the model's n_ctx={model.cfg.n_ctx}")
    if prepend_bos is None:
        prepend_bos = meta.prepend_bos if meta.prepend_bos is not None else model.cfg.default_prepend_bos
    stop_at = _stop_layer(hook_name)
    encode = feature_encoder(sae, ids)
    tokenizer = getattr(model, "tokenizer", None)
    exclude = tokenizer is not None and config.exclude_special_tokens
    special = sorted(tokenizer.all_special_ids) if exclude else []
    state = _State(ids, config, sae.device)
    batches = iter_token_batches(dataset, tokenizer, context_size, config.batch_size, prepend_bos,
                                 text_column=text_column, max_tokens=config.max_tokens)
    special_t = torch.tensor(special, dtype=torch.long, device=sae.device)
    n_seq = 0
    for tokens in batches:  # [B, T]
        _, cache = model.run_with_cache(tokens.to(model.cfg.device), names_filter=[hook_name],
                                        stop_at_layer=stop_at, return_cache_object=False)
        x = _hook_input(cache[hook_name], meta).to(sae.device)  # [B, T, d_in] or [B, T, n_heads, d_head]
        acts = encode(x).flatten(0, 1).float()  # [B*T, F]
        tokens = tokens.to(sae.device)
        valid = ~torch.isin(tokens, special_t)  # [B, T]
        valid[:, 0] = False  # position 0 is an attention sink (a norm ~100x the median on real models)
        valid = valid.flatten()  # [B*T]
        state.update(_Batch.build(tokens, n_seq, config.context_tokens), acts, valid)
        n_seq += tokens.shape[0]
        if on_batch is not None:
            on_batch(tokens.numel())
    return state.finish(hook_name=hook_name, context_size=context_size, prepend_bos=bool(prepend_bos),
                        n_sequences=n_seq)


def feature_encoder(sae, ids: list[int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function x -> `sae.encode(x)[..., ids]`, computing only the requested columns where that is exact.

    Only the exact classes are sliced: a subclass may change `encode`, so it takes the full path.
    """
    index = torch.tensor(ids, dtype=torch.long, device=sae.device)
    relu = isinstance(sae.activation_fn, nn.ReLU)
    kind = type(sae)
    if relu and kind is StandardSAE:
        w, b = sae.W_enc[:, index], sae.b_enc[index]  # [d_in, F], [F]
        return lambda x: torch.relu(sae.process_sae_in(x) @ w + b)
    if relu and kind is JumpReLUSAE:
        w, b, theta = sae.W_enc[:, index], sae.b_enc[index], sae.threshold[index]

        def jumprelu(x):
            pre = sae.process_sae_in(x) @ w + b  # [..., F]
            return torch.relu(pre) * (pre > theta).to(pre.dtype)  # sae_lens's JumpReLUSAE.encode, sliced

        return jumprelu
    if relu and kind is GatedSAE:
        w = sae.W_enc[:, index]  # [d_in, F]
        w_mag = w * sae.r_mag[index].exp()  # column scaling commutes with slicing
        b_gate, b_mag = sae.b_gate[index], sae.b_mag[index]

        def gated(x):
            sae_in = sae.process_sae_in(x)
            active = (sae_in @ w + b_gate > 0).to(sae.dtype)
            return active * torch.relu(sae_in @ w_mag + b_mag)

        return gated
    return lambda x: sae.encode(x)[..., index]  # topk and unknown architectures: exact by construction


# ----------------------------------------------------------------------------------------------------------
# streaming state: one preallocated tensor per kept quantity, [F, K] (+ [W] for contexts)


@dataclass
class _Batch:
    """One forward pass's tokens, flattened to rows of B*T occurrences."""

    seq: torch.Tensor  # [N]
    pos: torch.Tensor  # [N]
    token_id: torch.Tensor  # [N]
    context: torch.Tensor  # [N, W]
    hash: torch.Tensor  # [N] 32-bit hash of (seq, pos)

    @staticmethod
    def build(tokens: torch.Tensor, first_seq: int, width: int) -> _Batch:
        b, t = tokens.shape
        seq = (first_seq + torch.arange(b, device=tokens.device))[:, None].expand(b, t).flatten()  # [N]
        pos = torch.arange(t, device=tokens.device)[None, :].expand(b, t).flatten()  # [N]
        padded = nn.functional.pad(tokens, (width - 1, 0), value=-1)  # [B, W-1+T]
        context = padded.unfold(1, width, 1).flatten(0, 1)  # [N, W]: window ending at each token
        return _Batch(seq, pos, tokens.flatten(), context, _mix32((_mix32(seq & _M32) + pos) & _M32))


class _Slot:
    """K kept occurrences per feature, ranked by a score (activation for the top-k, a hash for reservoirs)."""

    def __init__(self, n_features: int, k: int, width: int, largest: bool, device):
        self.k, self.largest = k, largest
        empty = float("-inf") if largest else _NO_KEY
        self.score = torch.full((n_features, k), empty, dtype=torch.float32 if largest else torch.long,
                                device=device)
        self.seq = torch.zeros(n_features, k, dtype=torch.int32, device=device)
        self.pos = torch.zeros(n_features, k, dtype=torch.int32, device=device)
        self.token_id = torch.zeros(n_features, k, dtype=torch.int32, device=device)
        self.activation = torch.zeros(n_features, k, dtype=torch.float32, device=device)
        self.context = torch.zeros(n_features, k, width, dtype=torch.int32, device=device)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in vars(self).values() if isinstance(t, torch.Tensor))

    def merge(self, f: slice, score: torch.Tensor, batch: _Batch, acts: torch.Tensor) -> None:
        """Keep the best K of the kept and this batch's occurrences for features `f`; score, acts [N, Fc]."""
        if self.k == 0:
            return
        # Stable sorts rather than topk: ties (same token at the same position after BOS gives the same
        # activation) go to the earliest occurrence, so batch size and chunking cannot change the result.
        new_score, row = torch.sort(score, dim=0, descending=self.largest, stable=True)
        new_score, row = new_score[: self.k].T, row[: self.k].T  # [Fc, k_new]
        both = torch.cat([self.score[f], new_score], dim=1)  # [Fc, K + k_new], kept ones are earlier
        both, pick = torch.sort(both, dim=1, descending=self.largest, stable=True)
        self.score[f], pick = both[:, : self.k], pick[:, : self.k]  # [Fc, K]
        new = {"seq": batch.seq[row], "pos": batch.pos[row], "token_id": batch.token_id[row],
               "activation": acts.gather(0, row.T).T}
        for name, value in new.items():
            kept = getattr(self, name)
            kept[f] = torch.cat([kept[f], value.to(kept.dtype)], dim=1).gather(1, pick)
        ctx = torch.cat([self.context[f], batch.context[row].to(torch.int32)], dim=1)  # [Fc, K+k_new, W]
        self.context[f] = ctx.gather(1, pick[..., None].expand(-1, -1, ctx.shape[-1]))

    def occurrences(self, i: int, keep: torch.Tensor) -> Occurrences:
        """Feature row i's kept occurrences where `keep` [K] is True, on the CPU."""
        return Occurrences(self.seq[i][keep].long().cpu(), self.pos[i][keep].long().cpu(),
                           self.token_id[i][keep].long().cpu(), self.activation[i][keep].cpu(),
                           self.context[i][keep].long().cpu())


class _State:
    def __init__(self, ids: list[int], cfg: ActivationConfig, device):
        n, w = len(ids), cfg.context_tokens
        self.ids, self.cfg = ids, cfg
        seed_hash = _mix32(torch.tensor(cfg.seed & _M32))
        self.feature_hash = _mix32((seed_hash + torch.tensor(ids)) & _M32).to(device)  # [F]
        self.top = _Slot(n, cfg.n_top, w, largest=True, device=device)
        self.positives = _Slot(n, cfg.n_positive_sample, w, largest=False, device=device)
        self.negatives = _Slot(n, cfg.n_negative_sample, w, largest=False, device=device)
        self.hard = _Slot(n, cfg.n_hard_negative, w, largest=False, device=device)
        self.n_fired = torch.zeros(n, dtype=torch.long, device=device)
        self.max_act = torch.full((n,), float("-inf"), device=device)
        self.n_tokens = 0
        self.vocab = 0  # grows with the largest token id seen; only used to build (feature, token) keys

    def update(self, batch: _Batch, acts: torch.Tensor, valid: torch.Tensor) -> None:
        """acts [N, F] float32, valid [N] bool."""
        thr = self.cfg.firing_threshold
        self.n_tokens += int(valid.sum())
        self.vocab = max(self.vocab, int(batch.token_id.max()) + 1)
        step = self.cfg.feature_chunk_size
        for start in range(0, len(self.ids), step):
            f = slice(start, start + step)
            a = acts[:, f]  # [N, Fc]
            fired = (a > thr) & valid[:, None]  # [N, Fc]
            quiet = (a <= thr) & valid[:, None]
            self.n_fired[f] += fired.sum(0)
            seen = a.masked_fill(~valid[:, None], float("-inf"))
            self.max_act[f] = torch.maximum(self.max_act[f], seen.amax(0))
            self.top.merge(f, a.masked_fill(~fired, float("-inf")), batch, a)
            key = _mix32(batch.hash[:, None] ^ self.feature_hash[None, f])  # [N, Fc] uniform 32-bit
            self.positives.merge(f, key.masked_fill(~fired, _NO_KEY), batch, a)
            self.negatives.merge(f, key.masked_fill(~quiet, _NO_KEY), batch, a)
            if self.hard.k:
                hard = quiet & self._in_top_tokens(f, batch.token_id)
                self.hard.merge(f, key.masked_fill(~hard, _NO_KEY), batch, a)

    def _in_top_tokens(self, f: slice, token_id: torch.Tensor) -> torch.Tensor:
        """[N, Fc] bool: the token is one of the feature's current top-k tokens (sorted keys, bisection)."""
        top_tok = self.top.token_id[f].long()  # [Fc, K]
        rows = torch.arange(top_tok.shape[0], device=top_tok.device)[:, None]  # [Fc, 1]
        kept = torch.where(self.top.score[f] > float("-inf"), rows * self.vocab + top_tok, -1).flatten()
        kept = kept.sort().values  # [Fc*K]
        query = rows.T * self.vocab + token_id[:, None]  # [N, Fc]
        at = torch.searchsorted(kept, query).clamp(max=kept.numel() - 1)
        return kept[at] == query

    def nbytes(self) -> int:
        slots = (self.top, self.positives, self.negatives, self.hard)
        return sum(s.nbytes() for s in slots) + self.n_fired.nbytes + self.max_act.nbytes

    def finish(self, **info) -> ActivationRecords:
        if self.n_tokens == 0:
            raise ValueError("the corpus has no token besides special tokens; nothing to record")
        records = {}
        for i, feature in enumerate(self.ids):
            top = self.top.occurrences(i, self.top.score[i] > float("-inf"))
            top_tokens = torch.tensor(sorted(set(top.token_id.tolist())), dtype=torch.int32,
                                      device=self.hard.token_id.device)
            # A hard negative's token must still be a top token once the stream has ended.
            hard = (self.hard.score[i] < _NO_KEY) & torch.isin(self.hard.token_id[i], top_tokens)
            records[feature] = FeatureRecord(
                feature=feature, n_tokens=self.n_tokens, n_fired=int(self.n_fired[i]),
                max_activation=float(self.max_act[i]), firing_threshold=self.cfg.firing_threshold, top=top,
                positives=self.positives.occurrences(i, self.positives.score[i] < _NO_KEY),
                negatives=self.negatives.occurrences(i, self.negatives.score[i] < _NO_KEY),
                hard_negatives=self.hard.occurrences(i, hard))
        return ActivationRecords(records, n_tokens=self.n_tokens, firing_threshold=self.cfg.firing_threshold,
                                 state_bytes=self.nbytes(), **info)


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xor-shift-multiply); constants < 2**27 so int64 products never overflow."""
    for _ in range(2):
        x = ((x ^ (x >> 16)) * 0x45D9F3B) & _M32
    return x ^ (x >> 16)


# ----------------------------------------------------------------------------------------------------------
# checks, all before the corpus is read


def _check_feature_ids(feature_ids, d_sae: int) -> list[int]:
    if isinstance(feature_ids, torch.Tensor):
        if feature_ids.is_floating_point() or feature_ids.dtype == torch.bool:
            raise ValueError(f"feature_ids must be integers, got a {feature_ids.dtype} tensor")
        ids = feature_ids.flatten().tolist()
    elif isinstance(feature_ids, numbers.Integral):  # ambiguous: feature 12, or the first 12 features?
        raise ValueError(f"feature_ids={feature_ids} is a single integer; give [{feature_ids}] for feature "
                         f"{feature_ids} alone or range({feature_ids}) for the first {feature_ids} features")
    else:
        ids = list(feature_ids)
    bad_type = [i for i in ids if not isinstance(i, numbers.Integral) or isinstance(i, bool)]
    if bad_type:
        raise ValueError(f"feature_ids must be integers, got {bad_type[:5]}")
    ids = [int(i) for i in ids]
    if not ids:
        raise ValueError("feature_ids is empty; give at least one feature id")
    out = [i for i in ids if not 0 <= i < d_sae]
    if out:
        raise ValueError(f"feature ids {out[:10]} are out of range: this SAE has d_sae={d_sae}, so ids "
                         f"must be in [0, {d_sae - 1}]")
    seen, dup = set(), []
    for i in ids:
        (dup.append(i) if i in seen else seen.add(i))
    if dup:
        raise ValueError(f"feature ids {sorted(set(dup))[:10]} are duplicated; give each feature once")
    return ids


def _check_hook(model, sae, hook_name: str | None) -> None:
    if hook_name is None:
        raise ValueError("the SAE's metadata has no hook_name; pass hook_name= "
                         "(e.g. 'blocks.6.hook_resid_pre')")
    if hook_name not in model.hook_dict:
        close = difflib.get_close_matches(hook_name, list(model.hook_dict), n=5, cutoff=0.5)
        raise ValueError(f"the model has no hook {hook_name!r} (the SAE's hook_name); close names: {close}. "
                         "Is this the model the SAE was trained on?")
    # One token through the model tells the activation's width at the hook.
    probe = torch.zeros(1, 1, dtype=torch.long, device=model.cfg.device)
    _, cache = model.run_with_cache(probe, names_filter=[hook_name], stop_at_layer=_stop_layer(hook_name),
                                    return_cache_object=False)
    act = _hook_input(cache[hook_name], sae.cfg.metadata)  # [1, 1, ...]
    z_mode = getattr(sae, "hook_z_reshaping_mode", False)
    width = act.shape[-1] * act.shape[-2] if z_mode and act.dim() == 4 else act.shape[-1]
    if act.dim() == 4 and not z_mode:
        raise ValueError(f"the activation at {hook_name!r} has shape {tuple(act.shape[2:])} per token but "
                         "the SAE does not reshape hook_z inputs (cfg.reshape_activations='none')")
    if width != sae.cfg.d_in:
        raise ValueError(f"the SAE's d_in={sae.cfg.d_in} does not match the model's activation at "
                         f"{hook_name!r} (width {width}); is this the SAE's model and hook?")


def _hook_input(act: torch.Tensor, meta) -> torch.Tensor:
    """The activation the SAE reads: one head's slice when the SAE was trained on a single head."""
    head = meta.hook_head_index
    return act[:, :, head] if head is not None and act.dim() == 4 else act


def _stop_layer(hook_name: str) -> int | None:
    """Run blocks 0..L only for a hook in block L (None: the hook is outside the blocks, run everything)."""
    match = re.match(r"blocks\.(\d+)\.", hook_name)
    return int(match.group(1)) + 1 if match else None
