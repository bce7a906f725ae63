"""A frozen TransformerLens LM that judges examples against a label.

Two readouts: the yes / no question ("is <token> an example of <label>?", `PromptTemplate`), read as
logit(yes) - logit(no); and label-as-answer (`AnswerTemplate`), read as how much more likely the label is
after the example than after a neutral filler (`answer_score`, `label_slot_log_probs`). A discriminator
may also hold a `CauseTemplate` (the label-as-cause readout): then it only carries the model, the tokenizer
and the label slot for the labeler, and `cause` scores (see readout.cause_readout).

A prompt is [BOS] + prefix(context, token) + label + suffix. The prefix depends only on the example, so
its keys and values are computed once (`cache_prefixes`) and every label is scored by running only the
few label + suffix tokens on top of them (`answer_logits`). A soft label enters as an embedding that a
temporary hook on `hook_embed` writes into the label slot: with a one-hot label it is exactly the
hard-token run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache
from transformer_lens.cache.key_value_cache_entry import TransformerLensKeyValueCacheEntry
from transformer_lens.utilities import apply_softcap

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.cause_readout import CauseScorer, CauseTemplate
from sae_gd_labeler.readout.label_slot import LabelSlotTokens
from sae_gd_labeler.readout.shared_prefix import max_blocks, shared_prefix_hooks, shared_prefix_supported
from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate

LOGIT_BUDGET = 2**26  # float32 full-vocabulary logits per forward chunk (256 MB): rows = budget // d_vocab


@dataclass
class PrefixCache:
    """Keys and values of N example prefixes, left-padded to one length P."""

    keys: list[Tensor]  # per layer [N, P, n_kv_heads, d_head]
    values: list[Tensor]  # per layer [N, P, n_kv_heads, d_head]
    mask: Tensor  # [N, P], 1 where a real token is
    log_q: Tensor | None = None  # [N, d_vocab] the model's next-token log-probs at the label slot

    def __len__(self) -> int:
        return self.mask.shape[0]

    def expand(self, n: int) -> PrefixCache:
        """A one-row cache seen as n rows (views, no copies): a prefix that every row shares."""
        if len(self) != 1:
            raise ValueError(f"expand needs a one-row cache, this one has {len(self)} rows")
        return PrefixCache([k.expand(n, *k.shape[1:]) for k in self.keys],
                           [v.expand(n, *v.shape[1:]) for v in self.values], self.mask.expand(n, -1))

    def select(self, rows: Tensor) -> PrefixCache:
        """The prefixes of `rows` (indices into this cache, repeats allowed), in that order."""
        rows = rows.to(self.mask.device)
        return PrefixCache(
            [k.index_select(0, rows) for k in self.keys],
            [v.index_select(0, rows) for v in self.values],
            self.mask.index_select(0, rows),
            None if self.log_q is None else self.log_q.index_select(0, rows),
        )

    def frozen_kv_cache(self) -> TransformerLensKeyValueCache:
        entries = [TransformerLensKeyValueCacheEntry(k, v, frozen=True) for k, v in zip(self.keys, self.values)]
        return TransformerLensKeyValueCache(entries, self.mask, frozen=True)


class Discriminator(LabelSlotTokens):
    """Wraps a `HookedTransformer` (any architecture it supports) and a `PromptTemplate` (yes / no readout),
    an `AnswerTemplate` (label-as-answer readout) or a `CauseTemplate` (label-as-cause readout, scored by
    `cause`)."""

    def __init__(self, model: HookedTransformer,
                 template: PromptTemplate | AnswerTemplate | CauseTemplate | None = None):
        if not isinstance(model, HookedTransformer):
            raise ValueError(f"Discriminator needs a transformer_lens HookedTransformer, got {type(model).__name__}")
        tokenizer = model.tokenizer
        if tokenizer is None:
            raise ValueError("the discriminator model has no tokenizer; build it with one "
                             "(HookedTransformer(cfg, tokenizer=...)) or call model.set_tokenizer(...)")
        if model.cfg.dtype != model.W_E.dtype:
            raise ValueError(f"the model's weights are {model.W_E.dtype} but its cfg.dtype is {model.cfg.dtype} "
                             "(TransformerLens builds its key-value cache in cfg.dtype); change the dtype with "
                             "model.to(dtype), which updates both, not model.half() / model.bfloat16()")
        self.model = model
        self.tokenizer = tokenizer
        self.template = template if template is not None else default_template(model)
        bos = tokenizer.bos_token_id
        self.bos_ids = [bos] if (bos is not None and model.cfg.default_prepend_bos) else []
        self._cause: CauseScorer | None = None
        if isinstance(self.template, CauseTemplate):  # the label comes before the example: no suffix, no answer
            self.template.validate(tokenizer, self.bos_ids)
            self.yes_id, self.no_id, self.suffix_ids = None, None, []
        else:
            self.template.validate(tokenizer)
            if isinstance(self.template, AnswerTemplate):  # no question: the label itself is the answer
                self.yes_id, self.no_id = None, None
            else:
                self.yes_id, self.no_id = self.template.answer_ids(tokenizer)
            self.suffix_ids = self._encode(self.template.suffix)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._id_tensors: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def _ids_on_device(self) -> tuple[Tensor, Tensor]:
        """The suffix ids [S] and the (yes, no) ids [2] as tensors on the model's device, made once: a tensor
        built from a Python list is a blocking host-to-device copy, which would stall a GPU step loop."""
        device = self.device
        if device not in self._id_tensors:
            self._id_tensors[device] = (torch.tensor(self.suffix_ids, dtype=torch.long, device=device),
                                        torch.tensor([self.yes_id, self.no_id], dtype=torch.long, device=device))
        return self._id_tensors[device]

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop gradients into the model's weights while labeling (only the label is trained); the
        weights' requires_grad flags are restored afterwards."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    # -- basic facts ----------------------------------------------------------------------------------
    @property
    def readout(self) -> str:
        """The readout the template asks for: "answer" (label-as-answer), "cause" (label-as-cause) or "yes_no"."""
        if isinstance(self.template, CauseTemplate):
            return "cause"
        return "answer" if isinstance(self.template, AnswerTemplate) else "yes_no"

    @property
    def cause(self) -> CauseScorer:
        """The label-as-cause scorer of a CauseTemplate discriminator, made once: it keeps the head's keys /
        values and every example's neutral log-prob, so later batches reuse them (the model must stay frozen)."""
        if not isinstance(self.template, CauseTemplate):
            raise ValueError(f"the label-as-cause scorer needs a CauseTemplate; this discriminator has a "
                             f"{type(self.template).__name__}")
        if self._cause is None:
            self._cause = CauseScorer(self.model, self.template)
        return self._cause

    @property
    def device(self) -> torch.device:
        return self.model.W_E.device

    @property
    def d_vocab(self) -> int:
        return self.model.cfg.d_vocab

    @property
    def W_E(self) -> Tensor:  # [d_vocab, d_model]
        return self.model.W_E

    def prefix_ids(self, examples: Sequence[Example]) -> list[list[int]]:
        if isinstance(self.template, CauseTemplate):
            raise ValueError("a CauseTemplate puts the label before the example: there is no example prefix to "
                             "cache; score with disc.cause (CauseScorer)")
        return [self.bos_ids + self._encode(self.template.prefix(ex.context, ex.token)) for ex in examples]

    def _left_pad(self, rows: list[list[int]]) -> tuple[Tensor, Tensor]:
        width = max(len(r) for r in rows)
        if width + len(self.suffix_ids) + 1 > self.model.cfg.n_ctx:
            raise ValueError(f"a prompt of {width + len(self.suffix_ids) + 1} tokens exceeds the "
                             f"discriminator's context of {self.model.cfg.n_ctx}; shorten the example "
                             "contexts or the template")
        tokens = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            tokens[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        return tokens.to(self.device), mask.to(self.device)

    # -- the prefix cache -----------------------------------------------------------------------------
    @torch.no_grad()
    def cache_prefixes(self, examples: Sequence[Example], with_log_q: bool = False,
                       max_rows: int = 1024) -> PrefixCache:
        """Run every example's prefix once and keep its keys / values (and optionally log q)."""
        if len(examples) == 0:
            raise ValueError("cache_prefixes needs at least one example")
        return self.cache_token_rows(self.prefix_ids(examples), with_log_q, max_rows)

    @torch.no_grad()
    def cache_token_rows(self, rows: list[list[int]], with_log_q: bool = False, max_rows: int = 1024) -> PrefixCache:
        """Keys / values of arbitrary token rows (left-padded), for prompts that are split elsewhere."""
        tokens, mask = self._left_pad(rows)  # [N, P]
        parts = []
        for start in range(0, len(rows), max_rows):
            t, m = tokens[start:start + max_rows], mask[start:start + max_rows]
            kv = TransformerLensKeyValueCache.init_cache(self.model.cfg, self.device, t.shape[0])
            resid = self.model(t, attention_mask=m, past_kv_cache=kv, stop_at_layer=self.model.cfg.n_layers)
            log_q = None
            if with_log_q:  # the model's guess for the token right after the prefix: the label slot
                log_q = self._unembed(resid[:, -1]).log_softmax(-1)  # [n, d_vocab]
            parts.append(([e.past_keys for e in kv.entries], [e.past_values for e in kv.entries], log_q))
        n_layers = len(parts[0][0])
        return PrefixCache(
            keys=[torch.cat([p[0][layer] for p in parts]) for layer in range(n_layers)],
            values=[torch.cat([p[1][layer] for p in parts]) for layer in range(n_layers)],
            mask=mask,
            log_q=torch.cat([p[2] for p in parts]) if with_log_q else None,
        )

    # -- scoring --------------------------------------------------------------------------------------
    def _unembed(self, resid: Tensor, token_ids: Tensor | None = None, chunk: int = 32768) -> Tensor:
        """Final norm + unembedding of residuals [..., d_model] -> float32 logits [..., n_ids] (token_ids
        [n_ids] on the device; None: the whole vocabulary, whose columns are made float32 a chunk at a time
        rather than in one copy of W_U, GBs for a 256k vocabulary in bfloat16)."""
        model = self.model
        if model.cfg.normalization_type is not None:
            resid = model.ln_final(resid)
        W_U, b_U = model.W_U, model.b_U
        if token_ids is not None:  # only the answer columns: the full vocabulary is not needed
            W_U, b_U = W_U.index_select(1, token_ids), b_U.index_select(0, token_ids)
        resid = resid.float()
        if W_U.dtype == torch.float32 or W_U.shape[1] <= chunk:
            logits = resid @ W_U.float() + b_U.float()
        else:
            logits = torch.cat([resid @ W_U[:, s:s + chunk].float() + b_U[s:s + chunk].float()
                                for s in range(0, W_U.shape[1], chunk)], dim=-1)
        return apply_softcap(logits, model.cfg.output_logits_soft_cap)

    def _injection_hook(self, start: int, label_embeds: Tensor):
        """A hook on `hook_embed` that writes label_embeds [M, K, d_model] at positions start..start+K."""
        def hook(embed: Tensor, hook) -> Tensor:  # embed [M, T, d_model]
            k = label_embeds.shape[1]
            return torch.cat([embed[:, :start], label_embeds.to(embed.dtype), embed[:, start + k:]], dim=1)
        return hook

    def _answer(self, resid_last: Tensor, full_vocab: bool) -> Tensor:
        """[M, d_model] -> logit(yes) - logit(no) [M]; with full_vocab, log p(yes), log p(no) [M, 2]."""
        yes_no_ids = self._ids_on_device()[1]
        if full_vocab:
            log_p = self._unembed(resid_last).log_softmax(-1)  # [M, d_vocab]
            return log_p.index_select(1, yes_no_ids)
        yes_no = self._unembed(resid_last, yes_no_ids)  # [M, 2]
        return yes_no[:, 0] - yes_no[:, 1]

    def answer_logits(self, prefixes: PrefixCache, label_embeds: Tensor | None = None,
                      label_tokens: Tensor | None = None, full_vocab: bool = False) -> Tensor:
        """Score one label per cached prefix.

        label_embeds [M, K, d_model] (soft labels, differentiable) or label_tokens [M, K] (hard labels).
        Returns logit(yes) - logit(no) [M], or with full_vocab the log-probs of yes and no [M, 2].
        """
        if (label_embeds is None) == (label_tokens is None):
            raise ValueError("give exactly one of label_embeds and label_tokens")
        soft = label_tokens is None
        labels = label_embeds if soft else label_tokens
        return self._answer_blocks(prefixes, labels[:, None], soft, full_vocab, shared=False)[:, 0]

    def answer_grid(self, prefixes: PrefixCache, label_tokens: Tensor | None = None,
                    label_embeds: Tensor | None = None, full_vocab: bool = False, rows: Tensor | None = None,
                    max_rows: int | None = None) -> Tensor:
        """Score Q labels after each of N cached prefixes: label_tokens [N, Q, K] (hard) or label_embeds
        [N, Q, K, d_model] (soft, differentiable) -> [N, Q] (with full_vocab [N, Q, 2]); entry [n, q] equals
        answer_logits on prefix n with label [n, q].

        rows [N]: which cached prefix each row of labels goes after (indices into prefixes, repeats allowed);
        default: prefix n for row n. max_rows: score a few rows at a time, so that one forward holds at most
        max_rows prefixes' worth of labels (memory stays bounded; the results are the same).

        The Q labels share the prefix's keys / values (see shared_prefix) instead of each copying them;
        models whose positions that layout cannot reproduce are scored the plain way.
        """
        if (label_embeds is None) == (label_tokens is None):
            raise ValueError("give exactly one of label_embeds and label_tokens")
        labels = label_tokens if label_tokens is not None else label_embeds
        soft = label_tokens is None
        n, q, k = labels.shape[:3]
        if rows is None and max_rows is None:
            return self._grid(prefixes, labels, soft, full_vocab)
        rows = torch.arange(n, device=self.device) if rows is None else rows.to(self.device)
        per_forward = self.labels_per_forward(prefixes, k)
        step = n if max_rows is None else max(1, max_rows // min(q, per_forward))
        return torch.cat([self._grid(prefixes.select(rows[s:s + step]), labels[s:s + step], soft, full_vocab)
                          for s in range(0, n, step)])

    def _grid(self, prefixes: PrefixCache, labels: Tensor, soft: bool, full_vocab: bool) -> Tensor:
        """answer_grid on prefix n for label row n, in as few forwards as the layout allows."""
        n, q, k = labels.shape[:3]
        per_forward = self.labels_per_forward(prefixes, k)
        if per_forward == 1:
            rows = torch.arange(n, device=self.device).repeat_interleave(q)
            flat = labels.reshape(n * q, *labels.shape[2:])
            kind = "label_embeds" if soft else "label_tokens"
            answer = self.answer_logits(prefixes.select(rows), full_vocab=full_vocab, **{kind: flat})
            return answer.view(n, q, *answer.shape[1:])
        return torch.cat([self._answer_blocks(prefixes, labels[:, s:s + per_forward], soft, full_vocab)
                          for s in range(0, q, per_forward)], dim=1)

    def labels_per_forward(self, prefixes: PrefixCache, k: int = 1) -> int:
        """How many K-token labels answer_grid runs side by side in one forward (1: the plain way)."""
        n_blocks = max_blocks(self.model, prefixes.mask.shape[1], k + len(self.suffix_ids))
        return n_blocks if shared_prefix_supported(self.model) and n_blocks >= 2 else 1

    def _answer_blocks(self, prefixes: PrefixCache, labels: Tensor, soft: bool, full_vocab: bool,
                       shared: bool = True) -> Tensor:
        """One forward: Q label + suffix blocks side by side after each prefix (with shared=False, Q must be 1
        and no layout hooks are needed). labels [N, Q, K] tokens or [N, Q, K, d_model] embeddings -> [N, Q(, 2)]"""
        n, q, k = labels.shape[:3]
        suffix = self._ids_on_device()[0].expand(n, q, -1)
        label_tokens = torch.full((n, q, k), self.yes_id, device=self.device) if soft else labels.to(self.device)
        tokens = torch.cat([label_tokens, suffix], dim=-1)  # [N, Q, w]
        width = tokens.shape[-1]
        tokens = tokens.reshape(n, q * width)
        hooks = shared_prefix_hooks(self.model, prefixes.mask.shape[1], q, width) if shared else []
        if soft:  # the placeholders at the start of every block are replaced by the label embeddings
            def inject(embed: Tensor, hook) -> Tensor:  # [N, Q * w, d_model]
                blocks = embed.view(n, q, width, -1)
                return torch.cat([labels.to(embed.dtype), blocks[:, :, k:]], dim=2).view(n, q * width, -1)
            hooks.append(("hook_embed", inject))
        with self.model.hooks(fwd_hooks=hooks):
            resid = self.model(tokens, attention_mask=torch.ones_like(tokens),
                               past_kv_cache=prefixes.frozen_kv_cache(),
                               stop_at_layer=self.model.cfg.n_layers)  # [N, Q * w, d_model]
        last = resid.view(n, q, width, -1)[:, :, -1].reshape(n * q, -1)  # each block's answer position
        answer = self._answer(last, full_vocab)
        return answer.view(n, q, *answer.shape[1:])

    # -- label-as-answer --------------------------------------------------------------------------------
    @torch.no_grad()
    def label_slot_log_probs(self, examples: Sequence[Example], token_ids: Tensor | None = None,
                             max_rows: int = 1024, neutral: bool = False) -> Tensor:
        """log P(t | prefix(example)) at the label slot, [N, C] float32 for token_ids [C] (None: all).

        The template's head (the few-shot part before the first example slot) runs once and its keys /
        values are shared by every row; each row runs only its own example part. With neutral=True the
        rows are the neutral prefix alone, [1, C]."""
        if not isinstance(self.template, AnswerTemplate):
            raise ValueError("label_slot_log_probs needs an AnswerTemplate (the label-as-answer readout); this "
                             "discriminator asks a yes / no question")
        if neutral:
            texts = [self.template.neutral_prefix()]
        elif len(examples) == 0:
            raise ValueError("label_slot_log_probs needs at least one example")
        else:
            texts = [self.template.prefix(ex.context, ex.token) for ex in examples]
        unique = sorted(set(texts))  # features often share examples (and benchmarks their words): run each once
        if len(unique) < len(texts):
            where = {t: i for i, t in enumerate(unique)}
            rows = torch.tensor([where[t] for t in texts], device=self.device)
            return self._slot_log_probs(unique, token_ids, max_rows).index_select(0, rows)
        return self._slot_log_probs(texts, token_ids, max_rows)

    @torch.no_grad()
    def label_slot_log_probs_after(self, examples: Sequence[Example], continuations: Sequence[Sequence[int]],
                                   token_ids: Tensor | None = None, max_rows: int = 1024,
                                   neutral: bool = False) -> Tensor:
        """log P(t | prefix(example) + continuation) for each (example, continuation) pair, [N, C] float32 for
        token_ids [C] (None: all): the next label token's log-probs after a label's first tokens. With
        neutral=True every row is the neutral prefix + its continuation (examples are not read)."""
        if not isinstance(self.template, AnswerTemplate):
            raise ValueError("label_slot_log_probs_after needs an AnswerTemplate (the label-as-answer readout)")
        if neutral:
            texts = [self.template.neutral_prefix()] * len(continuations)
        elif len(examples) != len(continuations):
            raise ValueError(f"give one continuation per example, got {len(examples)} examples and "
                             f"{len(continuations)} continuations")
        else:
            texts = [self.template.prefix(ex.context, ex.token) for ex in examples]
        if not texts:
            raise ValueError("label_slot_log_probs_after needs at least one row")
        return self._slot_log_probs(texts, token_ids, max_rows, row_continuations=continuations)

    @torch.no_grad()
    def text_log_prob(self, examples: Sequence[Example], label_ids: list[int], neutral: bool = False) -> Tensor:
        """log P(label tokens | prefix(example)), the tokens' log-probs summed, [N] (neutral: [1])."""
        texts = ([self.template.neutral_prefix()] if neutral
                 else [self.template.prefix(ex.context, ex.token) for ex in examples])
        # teacher forcing: row = example part + all label tokens but the last; log p of token j is read at the
        # position before it
        return self._slot_log_probs(texts, None, 1024, continuation=label_ids[:-1], read=label_ids)

    def _slot_log_probs(self, texts: list[str], token_ids: Tensor | None, max_rows: int,
                        continuation: list[int] | None = None, read: list[int] | None = None,
                        row_continuations: Sequence[Sequence[int]] | None = None) -> Tensor:
        """[N, C] log-probs at the label slot (after `continuation`, or row i's own row_continuations[i], where
        given); with `read` (label token ids), the summed log-probs of those tokens after `continuation` (the
        same ids less the last) instead, [N]."""
        head_text = self.template.head
        head_ids = self.bos_ids + self._encode(head_text)
        rows = [self._encode(t[len(head_text):]) + list(continuation or []) for t in texts]
        if row_continuations is not None:
            rows = [r + list(c) for r, c in zip(rows, row_continuations)]
        width = max(len(r) for r in rows)
        if len(head_ids) + width > self.model.cfg.n_ctx:
            raise ValueError(f"a prompt of {len(head_ids) + width} tokens exceeds the discriminator's context "
                             f"of {self.model.cfg.n_ctx}; shorten the example contexts or the template")
        head = self.cache_token_rows([head_ids]) if head_ids else None
        if token_ids is not None:
            token_ids = token_ids.to(self.device)
        per_forward = max(1, min(max_rows, LOGIT_BUDGET // self.d_vocab))
        out = []
        for start in range(0, len(rows), per_forward):
            chunk = rows[start:start + per_forward]
            tokens = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, r in enumerate(chunk):  # right-padded: the padding comes after every real token
                tokens[i, :len(r)] = torch.tensor(r, dtype=torch.long)
                mask[i, :len(r)] = 1
            tokens, mask = tokens.to(self.device), mask.to(self.device)
            kv = head.expand(len(chunk)).frozen_kv_cache() if head is not None else None
            resid = self.model(tokens, attention_mask=mask, past_kv_cache=kv,
                               stop_at_layer=self.model.cfg.n_layers)  # [n, width, d_model]
            if read is not None:  # the positions that predict each label token: the last len(read) inputs
                lengths = mask.sum(1)  # [n]
                at = lengths[:, None] - len(read) + torch.arange(len(read), device=self.device)  # [n, L]
                hidden = resid.gather(1, at[..., None].expand(-1, -1, resid.shape[-1]))  # [n, L, d_model]
                log_p = self._unembed(hidden).log_softmax(-1)  # [n, L, d_vocab]
                ids = torch.tensor(read, device=self.device)
                out.append(log_p.gather(2, ids.expand(len(chunk), -1)[..., None])[..., 0].sum(-1))  # [n]
                continue
            last = resid[torch.arange(len(chunk), device=self.device), mask.sum(1) - 1]  # [n, d_model]
            log_p = self._unembed(last).log_softmax(-1)  # [n, d_vocab]
            out.append(log_p if token_ids is None else log_p.index_select(1, token_ids))
        return torch.cat(out)

    def answer_score(self, examples: Sequence[Example], label: str | Tensor) -> Tensor:
        """log P(label | example) - log P(label | neutral) at the label slot, [N] float32.

        `label` is a string (of any number of tokens: their log-probs add up) or probabilities over the
        vocabulary [d_vocab] (or [1, d_vocab]); a soft label scores the p-weighted mean of the one-token
        scores, which is differentiable in p and exactly the hard score for a one-hot p."""
        if isinstance(label, str):
            ids = self.label_ids(label)
            if len(ids) > 1:
                return self.text_log_prob(examples, ids) - self.text_log_prob([], ids, neutral=True)
            probs = torch.zeros(self.d_vocab, device=self.device)
            probs[ids[0]] = 1.0
        else:
            probs = self._check_probs(label)
            if probs.shape[0] != 1:
                raise ValueError(f"the label-as-answer readout scores one-slot labels, got {probs.shape[0]} slots")
            probs = probs[0]
        scores = self.label_slot_log_probs(examples) - self.label_slot_log_probs([], neutral=True)  # [N, d_vocab]
        return scores @ probs.float()

    def yes_no_logit(self, examples: Sequence[Example], label: str | Tensor, use_cache: bool = True) -> Tensor:
        """logit(yes) - logit(no) at the answer position for every example, given one label.

        `label` is a string (hard tokens) or probabilities over the vocabulary, [d_vocab] or
        [n_slots, d_vocab], injected as p @ W_E. With use_cache=False the whole prompt runs in one pass.
        """
        if len(examples) == 0:
            raise ValueError("yes_no_logit needs at least one example")
        if self.yes_id is None:
            how = "disc.cause.score_text" if self.readout == "cause" else "answer_score"
            raise ValueError(f"this discriminator uses the label-as-{self.readout} readout (a "
                             f"{type(self.template).__name__}); score labels with {how}, or give it a "
                             "PromptTemplate for yes / no questions")
        if isinstance(label, str):
            ids = torch.tensor(self.label_ids(label), device=self.device)
            label_tokens, label_embeds = ids.expand(len(examples), -1), None
        else:
            probs = self._check_probs(label)  # [K, d_vocab]
            embeds = probs.to(self.W_E.dtype) @ self.W_E  # [K, d_model]
            label_tokens, label_embeds = None, embeds.expand(len(examples), -1, -1)
        if use_cache:
            return self.answer_logits(self.cache_prefixes(examples), label_embeds, label_tokens)
        return self._answer_uncached(examples, label_embeds, label_tokens)

    def _answer_uncached(self, examples, label_embeds, label_tokens) -> Tensor:
        """The reference path: the whole prompt in one ordinary forward pass, full logits."""
        prefix, prefix_mask = self._left_pad(self.prefix_ids(examples))  # [M, P]
        m, p = prefix.shape
        k = (label_embeds if label_embeds is not None else label_tokens).shape[1]
        if label_tokens is None:
            label_tokens = torch.full((m, k), self.yes_id, dtype=torch.long, device=self.device)
        suffix = self._ids_on_device()[0].expand(m, -1)
        tokens = torch.cat([prefix, label_tokens, suffix], dim=1)  # [M, P + K + S]
        mask = torch.cat([prefix_mask, torch.ones((m, tokens.shape[1] - p), dtype=torch.long,
                                                  device=self.device)], dim=1)
        hooks = [] if label_embeds is None else [("hook_embed", self._injection_hook(p, label_embeds))]
        with self.model.hooks(fwd_hooks=hooks):
            logits = self.model(tokens, attention_mask=mask)[:, -1].float()  # [M, d_vocab]
        return logits[:, self.yes_id] - logits[:, self.no_id]

    def _check_probs(self, label: Tensor) -> Tensor:
        if not isinstance(label, Tensor):
            raise ValueError(f"label must be a str or a Tensor of probabilities, got {type(label).__name__}")
        probs = label.unsqueeze(0) if label.dim() == 1 else label
        if probs.dim() != 2 or probs.shape[1] != self.d_vocab:
            raise ValueError(f"a probability label must have shape [d_vocab] or [n_slots, d_vocab] with "
                             f"d_vocab={self.d_vocab}; got {tuple(label.shape)}")
        if not torch.isfinite(probs).all():
            raise ValueError("the probability label contains NaN or infinite values")
        return probs.to(self.device)


def default_template(model: HookedTransformer) -> PromptTemplate | AnswerTemplate:
    """The measured default of a packaged model (see sae_gd_labeler.models), else the yes / no question:
    as a chat turn when the tokenizer has a chat template, as a base-model prompt otherwise."""
    from sae_gd_labeler.models.defaults import packaged_default_template

    template = packaged_default_template(model)
    return template if template is not None else PromptTemplate.default_for(model.tokenizer)
