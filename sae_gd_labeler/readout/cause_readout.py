"""The label-as-cause readout: how much a label, put before an example, raises the example's likelihood.

The prompt is [BOS] head + label + middle(context) + token, e.g. "Category: tool\\nWord: hammer". The score
of an (example, label) pair is

    log P(token | head + label + middle) - log P(token | head + neutral + middle),

summed over the token's tokenizer tokens when it has several. The second term (the neutral label's,
"word" by default) depends only on the example: it is computed once per example and remembered, and it
removes how likely the word is anyway, so that a frequent word does not score high under every label.

The head is the same for every row, so it runs once and its keys / values are reused (TransformerLens's
key-value cache); each row runs only label + middle + token. Rows are right-padded: every real token
keeps the index it has in a single unpadded forward, so learned positions, rotary positions and local
attention windows are exact without any position arithmetic, and padding (after the read positions)
is never seen by a real token. A soft label enters as an embedding that a temporary hook on `hook_embed`
writes into the label slot; a one-hot label gives the hard-token score.

Under a template without {context}, every single-token word is read at the same position after
head + label + middle: `score_grid` then runs one row per label for all of them (and the neutral
baseline one row in all), so scoring a label on N words costs about one forward, not N.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache
from transformer_lens.cache.key_value_cache_entry import TransformerLensKeyValueCacheEntry
from transformer_lens.utilities import apply_softcap

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.label_slot import LabelSlotTokens

CONTEXT, TOKEN, LABEL = "{context}", "{token}", "{label}"

ZERO_SHOT_TEXT = "Category: {label}\nWord: {token}"
# Four shots teach the format (a category, then one member word). Their categories are ones SAE features are
# rarely about, so that a shot does not answer for the label being scored.
FEW_SHOT_TEXT = ("Category: planet\nWord: Mars\n\nCategory: shape\nWord: circle\n\nCategory: month\nWord: June\n\n"
                 "Category: number\nWord: seven\n\nCategory: {label}\nWord: {token}")
# For examples whose context matters: the label picks which word of the text comes next (the shots show it
# picking one word of several; without them SmolLM2-135M was near chance, see bench.readout_accuracy).
CONTEXT_TEXT = ("Category: planet\nText: we saw Mars and a tree\nWord: Mars\n\nCategory: shape\nText: a circle near "
                "the door\nWord: circle\n\nCategory: month\nText: a dog in June\nWord: June\n\n"
                "Category: {label}\nText: {context}\nWord: {token}")


@dataclass(frozen=True)
class CauseTemplate:
    """Prompt text with `{label}`, an optional `{context}`, and `{token}` at the very end, plus a neutral label.

    Everything before `{label}` (the head) is the same for every example and is computed once. Spaces right
    before `{label}` or `{token}` belong to the label or token: with "Word: {token}" the token "hammer" is
    read as " hammer", as a BPE tokenizer splits running text (a newline stays with the text before it).
    `neutral` is the baseline label (a word that fits the slot but names no particular category).
    """

    text: str = FEW_SHOT_TEXT
    # "word" fits any category slot ("Category: word") without naming a category; on SmolLM2-135M it gave
    # the best AUROC of "thing", "N/A", "word", "category" (bench.readout_accuracy), by a small margin
    neutral: str = "word"

    def __post_init__(self):
        for slot, allowed in ((LABEL, (1,)), (TOKEN, (1,)), (CONTEXT, (0, 1))):
            n = self.text.count(slot)
            if n not in allowed:
                raise ValueError(f"CauseTemplate.text must contain {slot} {' or '.join(map(str, allowed))} "
                                 f"time(s), found it {n} times in {self.text!r}")
        if not self.text.endswith(TOKEN):
            raise ValueError("CauseTemplate.text must end with {token} (its likelihood is the score, read from "
                             f"everything before it); got {self.text!r}")
        label_at = self.text.index(LABEL)
        if self.uses_context and not label_at < self.text.index(CONTEXT):
            raise ValueError("CauseTemplate.text must put {context} after {label} (the label is the cause the "
                             f"example follows from; the head before it is shared by all examples); got {self.text!r}")
        if label_at > self.text.index(TOKEN):
            raise ValueError(f"CauseTemplate.text must put {{label}} before {{token}}; got {self.text!r}")
        if not self.neutral.strip():
            raise ValueError("CauseTemplate.neutral must be a non-empty label, e.g. 'word'")

    # -- pieces ---------------------------------------------------------------------------------------
    @property
    def uses_context(self) -> bool:
        return CONTEXT in self.text

    @property
    def head(self) -> str:
        """Everything before the label (less its lead whitespace): the same for every example."""
        return self.text[: self.text.index(LABEL)].rstrip(" ")

    @property
    def label_lead(self) -> str:
        before = self.text[: self.text.index(LABEL)]
        return before[len(before.rstrip(" ")):]

    @property
    def token_lead(self) -> str:
        before = self.text[: -len(TOKEN)]
        return before[len(before.rstrip(" ")):]

    def middle(self, context: str) -> str:
        """The text between the label and the token (less the token's lead whitespace), context filled in."""
        between = self.text[self.text.index(LABEL) + len(LABEL): -len(TOKEN)].rstrip(" ")
        return between.replace(CONTEXT, context)

    def token_text(self, token: str) -> str:
        """The token as it stands in its slot. Surrounding whitespace of a subject-model token (" dog")
        is dropped: the slot's own lead whitespace stands for it."""
        return self.token_lead + (token.strip() or token)

    def render(self, context: str, token: str, label: str) -> str:
        return self.head + self.label_lead + label + self.middle(context) + self.token_text(token)

    # -- checks against a tokenizer -------------------------------------------------------------------
    def validate(self, tokenizer, bos_ids: Sequence[int] = ()) -> None:
        """ValueError unless every piece tokenizes to something usable with this tokenizer."""
        if tokenizer is None:
            raise ValueError("the model has no tokenizer; build it with one (HookedTransformer(cfg, tokenizer=...)) "
                             "or call model.set_tokenizer(...)")
        encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
        if not list(bos_ids) + list(encode(self.head)):
            raise ValueError("CauseTemplate.text needs at least one token before {label} (or a model that prepends "
                             "BOS): the label's effect is read after it; e.g. 'Category: {label}\\nWord: {token}'")
        if not encode(self.label_lead + self.neutral):
            raise ValueError(f"CauseTemplate.neutral={self.neutral!r} is empty after tokenization")

    # -- defaults -------------------------------------------------------------------------------------
    @classmethod
    def zero_shot(cls) -> CauseTemplate:
        return cls(ZERO_SHOT_TEXT)

    @classmethod
    def few_shot(cls) -> CauseTemplate:
        """The default, for base and chat models alike (on SmolLM2-135M-Instruct it beat the question asked
        in the chat template: AUROC 0.99 against 0.91)."""
        return cls(FEW_SHOT_TEXT)

    @classmethod
    def with_context(cls) -> CauseTemplate:
        """For examples whose context matters: the label picks the word of the text."""
        return cls(CONTEXT_TEXT)


class CauseScorer(LabelSlotTokens):
    """Scores (label, example) rows by the label-as-cause readout, on a frozen `HookedTransformer`.

        scorer = CauseScorer(model)                          # CauseTemplate() by default
        scorer.score_text(examples, "animal")                # [N] float32, one per example
        scorer.score_grid(examples, label_embeds=e)          # [Q, N], differentiable in e [Q, K, d_model]
        scorer.scores(examples, label_tokens=t, rows=r)      # [M], label t[m] [K] on example r[m]
        scorer.pair_scores(examples, l, n, label_tokens=t)   # [P], label t[l[p]] on example n[p]

    The head's keys / values and the neutral log-probs are computed once and kept: the model must stay frozen
    (a scorer made before its weights change gives stale scores).
    """

    def __init__(self, model: HookedTransformer, template: CauseTemplate | None = None):
        if not isinstance(model, HookedTransformer):
            raise ValueError(f"CauseScorer needs a transformer_lens HookedTransformer, got {type(model).__name__}")
        if model.cfg.dtype != model.W_E.dtype:
            raise ValueError(f"the model's weights are {model.W_E.dtype} but its cfg.dtype is {model.cfg.dtype} "
                             "(TransformerLens builds its key-value cache in cfg.dtype); change the dtype with "
                             "model.to(dtype), which updates both, not model.half() / model.bfloat16()")
        self.model = model
        self.tokenizer = model.tokenizer
        self.template = template if template is not None else CauseTemplate()
        bos = getattr(self.tokenizer, "bos_token_id", None)
        self.bos_ids = [bos] if (bos is not None and model.cfg.default_prepend_bos) else []
        self.template.validate(self.tokenizer, self.bos_ids)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.head_ids = self.bos_ids + self._encode(self.template.head)
        self.neutral_ids = self.label_ids(self.template.neutral)
        self._head_kv = self._run_head()
        self._neutral: dict[tuple[str | None, str], Tensor] = {}  # example key -> its neutral log-prob []

    # -- basic facts ----------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.W_E.device

    def example_ids(self, example: Example) -> tuple[list[int], list[int]]:
        """(middle ids, token ids) of one example: the text between label and token, and the scored token."""
        token = self._encode(self.template.token_text(example.token))
        if not token:
            raise ValueError(f"example token {example.token!r} is empty after tokenization")
        return self._encode(self.template.middle(example.context)), token

    def _example_key(self, example: Example) -> tuple[str | None, str]:
        return (example.context if self.template.uses_context else None, example.token)

    # -- the head's keys and values -------------------------------------------------------------------
    @torch.no_grad()
    def _run_head(self) -> list[tuple[Tensor, Tensor]]:
        tokens = torch.tensor([self.head_ids], dtype=torch.long, device=self.device)  # [1, H]
        kv = TransformerLensKeyValueCache.init_cache(self.model.cfg, self.device, 1)
        self.model(tokens, attention_mask=torch.ones_like(tokens), past_kv_cache=kv,
                   stop_at_layer=self.model.cfg.n_layers)
        return [(e.past_keys, e.past_values) for e in kv.entries]  # per layer [1, H, n_kv_heads, d_head]

    def _head_cache(self, m: int) -> TransformerLensKeyValueCache:
        """The head's keys / values for m rows (views, not copies) in a frozen cache."""
        entries = [TransformerLensKeyValueCacheEntry(k.expand(m, -1, -1, -1), v.expand(m, -1, -1, -1), frozen=True)
                   for k, v in self._head_kv]
        mask = torch.ones((m, len(self.head_ids)), dtype=torch.long, device=self.device)
        return TransformerLensKeyValueCache(entries, mask, frozen=True)

    # -- scoring --------------------------------------------------------------------------------------
    def scores(self, examples: Sequence[Example], label_tokens: Tensor | None = None,
               label_embeds: Tensor | None = None, rows: Tensor | None = None, max_rows: int = 256) -> Tensor:
        """The cause score of M (label, example) pairs -> [M] float32.

        label_tokens [M, K] (hard labels) or label_embeds [M, K, d_model] (soft labels, differentiable: the
        gradient reaches the embeddings). rows [M]: which example each label goes with (indices into
        examples, repeats allowed); default: label m with example m. max_rows: forward rows at a time
        (memory stays bounded; the scores are the same). To score every label on every example, `score_grid`
        is cheaper: it shares rows between examples.
        """
        raw = self.log_probs(examples, label_tokens, label_embeds, rows, max_rows)
        rows = self._rows(examples, raw.shape[0], rows)
        return raw - self.neutral_log_probs(examples, max_rows)[rows]

    def score_grid(self, examples: Sequence[Example], label_tokens: Tensor | None = None,
                   label_embeds: Tensor | None = None, max_rows: int = 256) -> Tensor:
        """The cause score of Q labels on each of N examples -> [Q, N] float32.

        label_tokens [Q, K] or label_embeds [Q, K, d_model] (differentiable). Examples whose text before the
        token's last id is the same (all single-token words under a template without {context}) share one
        forward row per label: their tokens are read at the same position.
        """
        labels = self._check_labels(label_tokens, label_embeds)
        q, n = labels.shape[0], len(examples)
        label_of = torch.arange(q).repeat_interleave(n)  # [Q * N]
        example_of = torch.arange(n).repeat(q)  # [Q * N]
        raw = self._log_probs(examples, labels, label_embeds is not None, label_of, example_of, max_rows)
        return raw.view(q, n) - self.neutral_log_probs(examples, max_rows)[None]

    def score_text(self, examples: Sequence[Example], label: str | Tensor, max_rows: int = 256) -> Tensor:
        """The cause score of one label on every example -> [N] float32.

        `label` is a string (hard tokens) or probabilities over the vocabulary, [d_vocab] or [K, d_vocab],
        injected as p @ W_E (differentiable in p).
        """
        if isinstance(label, str):
            ids = torch.tensor([self.label_ids(label)], device=self.device)  # [1, K]
            return self.score_grid(examples, label_tokens=ids, max_rows=max_rows)[0]
        probs = self._check_probs(label)  # [K, d_vocab]
        embeds = probs.to(self.model.W_E.dtype) @ self.model.W_E  # [K, d_model]
        return self.score_grid(examples, label_embeds=embeds[None], max_rows=max_rows)[0]

    def pair_scores(self, examples: Sequence[Example], label_of: Tensor, example_of: Tensor,
                    label_tokens: Tensor | None = None, label_embeds: Tensor | None = None,
                    max_rows: int = 256) -> Tensor:
        """The cause score of P (label, example) pairs -> [P] float32: label label_of[p] (a row of label_tokens
        [Q, K] or label_embeds [Q, K, d_model], differentiable) on example example_of[p]. Pairs that share a
        label share its forward rows, as in `score_grid`, without scoring every label on every example."""
        labels = self._check_labels(label_tokens, label_embeds)
        label_of, example_of = torch.as_tensor(label_of).cpu(), torch.as_tensor(example_of).cpu()
        if label_of.dim() != 1 or label_of.shape != example_of.shape:
            raise ValueError(f"label_of and example_of must be [P] each, got {tuple(label_of.shape)} and "
                             f"{tuple(example_of.shape)}")
        if len(label_of) and (label_of.min() < 0 or label_of.max() >= labels.shape[0]
                              or example_of.min() < 0 or example_of.max() >= len(examples)):
            raise ValueError(f"label_of must index the {labels.shape[0]} labels and example_of the "
                             f"{len(examples)} examples")
        raw = self._log_probs(examples, labels, label_embeds is not None, label_of, example_of, max_rows)
        return raw - self.neutral_log_probs(examples, max_rows)[example_of]

    def neutral_log_probs(self, examples: Sequence[Example], max_rows: int = 256) -> Tensor:
        """log P(token | neutral label) per example -> [N] float32 (no gradient); each example runs once
        per scorer, later calls read it from memory."""
        if len(examples) == 0:
            raise ValueError("CauseScorer needs at least one example")
        missing = list({self._example_key(ex): ex for ex in examples
                        if self._example_key(ex) not in self._neutral}.values())
        if missing:
            ids = torch.tensor([self.neutral_ids], device=self.device)  # [1, K]
            with torch.no_grad():
                values = self._log_probs(missing, ids, False, torch.zeros(len(missing), dtype=torch.long),
                                         torch.arange(len(missing)), max_rows)
            self._neutral.update({self._example_key(ex): v for ex, v in zip(missing, values)})
        return torch.stack([self._neutral[self._example_key(ex)] for ex in examples])

    def log_probs(self, examples: Sequence[Example], label_tokens: Tensor | None = None,
                  label_embeds: Tensor | None = None, rows: Tensor | None = None, max_rows: int = 256) -> Tensor:
        """log P(token | head + label + middle) of M (label, example) pairs, without the neutral baseline
        -> [M] float32 (arguments as in `scores`)."""
        labels = self._check_labels(label_tokens, label_embeds)
        rows = self._rows(examples, labels.shape[0], rows)
        return self._log_probs(examples, labels, label_embeds is not None, torch.arange(labels.shape[0]), rows,
                               max_rows)

    def _log_probs(self, examples: Sequence[Example], labels: Tensor, soft: bool, label_of: Tensor,
                   example_of: Tensor, max_rows: int) -> Tensor:
        """log P(token) of P pairs (label label_of[p], example example_of[p]) -> [P]. One forward row per
        distinct (label, text before the token's last id); each pair reads its token's ids from its row."""
        if len(examples) == 0:
            raise ValueError("CauseScorer needs at least one example")
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        k = labels.shape[1]
        pieces = [self.example_ids(ex) for ex in examples]
        row_of: dict[tuple[int, tuple[int, ...]], int] = {}
        row_label: list[int] = []
        row_rest: list[list[int]] = []  # middle + all token ids but the last: each id is read one position early
        row_reads: list[list[tuple[int, int, int]]] = []  # (pair, position, target id)
        for pair, (q, n) in enumerate(zip(label_of.tolist(), example_of.tolist())):
            middle, token = pieces[n]
            rest = middle + token[:-1]
            r = row_of.setdefault((q, tuple(rest)), len(row_label))
            if r == len(row_label):
                row_label.append(q)
                row_rest.append(rest)
                row_reads.append([])
            first = k + len(middle) - 1  # the position that predicts the token's first id
            row_reads[r] += [(pair, first + j, t) for j, t in enumerate(token)]
        out = torch.zeros(len(label_of), dtype=torch.float32, device=self.device)  # [P]
        for s in range(0, len(row_label), max_rows):
            chunk_labels = labels[torch.tensor(row_label[s:s + max_rows], device=labels.device)]  # [m, K(, d_model)]
            out = out + self._forward(chunk_labels, soft, row_rest[s:s + max_rows], row_reads[s:s + max_rows],
                                      len(label_of))
        return out

    def _forward(self, labels: Tensor, soft: bool, rests: list[list[int]], reads: list[list[tuple[int, int, int]]],
                 n_pairs: int) -> Tensor:
        """One forward of m rows label + rest after the cached head; the pairs' log-probs scattered into [n_pairs]."""
        m, k = labels.shape[:2]
        width = k + max(len(r) for r in rests)
        if len(self.head_ids) + width > self.model.cfg.n_ctx:
            raise ValueError(f"a prompt of {len(self.head_ids) + width + 1} tokens exceeds the model's context of "
                             f"{self.model.cfg.n_ctx}; shorten the template's head or the example contexts")
        tokens = torch.full((m, width), self.pad_id, dtype=torch.long)  # [m, W], right-padded
        mask = torch.zeros((m, width), dtype=torch.long)  # [m, W]
        for i, rest in enumerate(rests):
            tokens[i, k:k + len(rest)] = torch.tensor(rest, dtype=torch.long)
            mask[i, :k + len(rest)] = 1
        pair, row, pos, target = (torch.tensor(col, dtype=torch.long, device=self.device) for col in
                                  zip(*[(p, i, j, t) for i, rr in enumerate(reads) for p, j, t in rr]))  # [R] each
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        hooks = []
        if soft:  # placeholders in the label slot; the hook writes the embeddings over them
            tokens[:, :k] = self.neutral_ids[0]

            def inject(embed: Tensor, hook) -> Tensor:  # [m, W, d_model]
                return torch.cat([labels.to(embed.dtype), embed[:, k:]], dim=1)
            hooks.append(("hook_embed", inject))
        else:
            tokens[:, :k] = labels
        with torch.set_grad_enabled(torch.is_grad_enabled() and soft and labels.requires_grad):
            with self.model.hooks(fwd_hooks=hooks):
                resid = self.model(tokens, attention_mask=mask, past_kv_cache=self._head_cache(m),
                                   stop_at_layer=self.model.cfg.n_layers)  # [m, W, d_model]
            # reads at the same place share one normaliser: all single-token words of a label's row are read
            # at one position, and its full-vocabulary logsumexp is most of a read's cost
            place, source = torch.unique(row * width + pos, return_inverse=True)  # [U], [R]
            log_p = _token_log_probs(self.model, resid[place // width, place % width], target, source)  # [R]
            return torch.zeros(n_pairs, dtype=torch.float32, device=self.device).index_add(0, pair, log_p)

    # -- checks ---------------------------------------------------------------------------------------
    def _check_labels(self, label_tokens: Tensor | None, label_embeds: Tensor | None) -> Tensor:
        if (label_tokens is None) == (label_embeds is None):
            raise ValueError("give exactly one of label_tokens and label_embeds")
        if label_tokens is not None:
            if label_tokens.dim() != 2 or label_tokens.shape[1] < 1 or label_tokens.is_floating_point():
                raise ValueError(f"label_tokens must be integer ids of shape [M, K] with K >= 1; got "
                                 f"{tuple(label_tokens.shape)} {label_tokens.dtype}")
            return label_tokens.to(self.device)
        d_model = self.model.cfg.d_model
        if label_embeds.dim() != 3 or label_embeds.shape[1] < 1 or label_embeds.shape[2] != d_model:
            raise ValueError(f"label_embeds must have shape [M, K, d_model] with d_model={d_model}; got "
                             f"{tuple(label_embeds.shape)}")
        return label_embeds.to(self.device)

    def _rows(self, examples: Sequence[Example], m: int, rows: Tensor | None) -> Tensor:
        if rows is None:
            if m != len(examples):
                raise ValueError(f"{m} labels for {len(examples)} examples: give rows [M] (which example each "
                                 "label goes with) or one label per example")
            return torch.arange(m)
        rows = torch.as_tensor(rows).cpu()
        if rows.shape != (m,):
            raise ValueError(f"rows must have shape [M] = ({m},), one example index per label; got {tuple(rows.shape)}")
        if m and (rows.min() < 0 or rows.max() >= len(examples)):
            raise ValueError(f"rows must index the {len(examples)} examples; got values from {int(rows.min())} "
                             f"to {int(rows.max())}")
        return rows

    def _check_probs(self, label: Tensor) -> Tensor:
        if not isinstance(label, Tensor):
            raise ValueError(f"label must be a str or a Tensor of probabilities, got {type(label).__name__}")
        d_vocab = self.model.cfg.d_vocab
        probs = label.unsqueeze(0) if label.dim() == 1 else label
        if probs.dim() != 2 or probs.shape[1] != d_vocab:
            raise ValueError(f"a probability label must have shape [d_vocab] or [K, d_vocab] with d_vocab={d_vocab}; "
                             f"got {tuple(label.shape)}")
        if not torch.isfinite(probs).all():
            raise ValueError("the probability label contains NaN or infinite values")
        return probs.to(self.device)


def _token_log_probs(model: HookedTransformer, resid: Tensor, targets: Tensor, source: Tensor | None = None,
                     chunk: int = 32768) -> Tensor:
    """log softmax(unembed(final_norm(resid[source])))[target] in float32: resid [U, d_model], targets [R],
    source [R] (which row of resid each target is read at; default: row r for target r) -> [R].

    A log-prob needs the whole vocabulary's normaliser, but only at the R read positions; the target
    logits read just their own unembedding columns, and the normaliser is a logsumexp over vocabulary
    chunks, so a bfloat16 W_U is never copied to float32 whole (GBs for a 256k vocabulary).
    """
    if model.cfg.normalization_type is not None:
        resid = model.ln_final(resid)
    resid = resid.float()
    cap = model.cfg.output_logits_soft_cap
    W_U, b_U = model.W_U, model.b_U  # [d_model, d_vocab], [d_vocab]
    at = resid if source is None else resid.index_select(0, source)  # [R, d_model]
    target = (at * W_U.index_select(1, targets).T.float()).sum(-1) + b_U.index_select(0, targets).float()  # [R]
    if W_U.dtype == torch.float32 or W_U.shape[1] <= chunk:
        lse = torch.logsumexp(apply_softcap(resid @ W_U.float() + b_U.float(), cap), dim=-1)  # [U]
    else:
        parts = [torch.logsumexp(apply_softcap(resid @ W_U[:, s:s + chunk].float() + b_U[s:s + chunk].float(), cap),
                                 dim=-1) for s in range(0, W_U.shape[1], chunk)]
        lse = torch.logsumexp(torch.stack(parts, dim=-1), dim=-1)  # [U]
    return apply_softcap(target, cap) - (lse if source is None else lse.index_select(0, source))
