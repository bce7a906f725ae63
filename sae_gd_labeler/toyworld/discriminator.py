"""The toy discriminator: a tiny GPT-2-like HookedTransformer, its prompts, and its yes / no answers.

A prompt is [BOS] + the words of `template.render(context, token, label)`; with the world's word-level
tokenizer this equals [BOS] + tokens(prefix) + tokens(label_lead + label) + tokens(suffix), which is how a
labeler splits it. The answer is read at the last position.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from sae_gd_labeler.template import PromptTemplate

MODEL_NAME = "sae-gd-labeler-toyworld"
TEMPLATE = PromptTemplate(text="{context} . question : is {token} a {label} ? answer :", yes=" yes", no=" no")


def model_config(d_vocab: int, seed: int = 0, **overrides) -> HookedTransformerConfig:
    """GPT-2-like: 2 layers, LayerNorm, learned absolute positions, GELU MLP."""
    kw = dict(n_layers=2, d_model=128, n_heads=4, d_head=32, d_mlp=512, act_fn="gelu",
              normalization_type="LN", positional_embedding_type="standard", n_ctx=64,
              d_vocab=d_vocab, model_name=MODEL_NAME, seed=seed, device="cpu",
              default_prepend_bos=True, tokenizer_prepends_bos=True)
    kw.update(overrides)
    return HookedTransformerConfig(**kw)


class PromptEncoder:
    """Turns words and prompts into token ids by direct vocabulary look-up (the tokenizer splits on spaces)."""

    def __init__(self, tokenizer, template: PromptTemplate = TEMPLATE):
        self.vocab: dict[str, int] = tokenizer.get_vocab()
        self.bos = tokenizer.bos_token_id
        self.pad = tokenizer.pad_token_id
        self.template = template
        self.yes = self.id(template.yes.strip())
        self.no = self.id(template.no.strip())
        self.suffix_words = template.suffix.split()

    def id(self, word: str) -> int:
        try:
            return self.vocab[word]
        except KeyError:
            raise ValueError(f"{word!r} is not a token of the toy world's vocabulary") from None

    def ids(self, text: str) -> list[int]:
        return [self.id(w) for w in text.split()]

    def sentence(self, text: str) -> list[int]:
        return [self.bos, *self.ids(text)]

    def prompt(self, context: str, token: str, label: str) -> list[int]:
        return [self.bos, *self.ids(self.template.render(context, token, label))]

    def prefix(self, context: str, token: str) -> list[int]:
        """[BOS] + everything before the label."""
        return [self.bos, *self.ids(self.template.prefix(context, token))]

    def pad_batch(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids [batch, max_len] and each row's length [batch]."""
        lengths = torch.tensor([len(r) for r in rows])
        out = torch.full((len(rows), int(lengths.max())), self.pad, dtype=torch.long)  # [batch, max_len]
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r)
        return out, lengths


@torch.inference_mode()
def yes_no_margin(model: HookedTransformer, encoder: PromptEncoder, questions: Sequence[tuple[str, str, str]],
                  batch_size: int = 2048) -> torch.Tensor:
    """logit(yes) - logit(no) at the last prompt position for (context, token, label) triples [n]."""
    out = []
    for start in range(0, len(questions), batch_size):
        rows = [encoder.prompt(*q) for q in questions[start: start + batch_size]]
        ids, lengths = encoder.pad_batch(rows)  # [b, L], [b]
        logits = model(ids)  # [b, L, d_vocab]; right padding never reaches earlier positions (causal)
        last = logits[torch.arange(len(rows)), lengths - 1]  # [b, d_vocab]
        out.append(last[:, encoder.yes] - last[:, encoder.no])
    return torch.cat(out) if out else torch.zeros(0)


def _yes_no_readout(model: HookedTransformer, encoder: PromptEncoder, resid: torch.Tensor) -> torch.Tensor:
    """logit(yes) - logit(no) from final-block residuals [..., d_model], without the full unembedding."""
    x = model.ln_final(resid)  # [..., d_model]
    cols = [encoder.yes, encoder.no]
    logits = x @ model.W_U[:, cols] + model.b_U[cols]  # [..., 2]
    return logits[..., 0] - logits[..., 1]


@torch.inference_mode()
def label_sweep_margins(model: HookedTransformer, encoder: PromptEncoder, pairs: Sequence[tuple[str, str]],
                        labels: Sequence[str], max_rows: int = 8192) -> torch.Tensor:
    """yes-minus-no margins [n_pairs, n_labels] of (context, token) pairs for every label.

    Each prefix runs once; its key / value cache is repeated over the labels, and only the label and the
    suffix tokens run per (pair, label). Pairs with equal prefix lengths share one batch.
    """
    from transformer_lens import TransformerLensKeyValueCache

    prefixes = [encoder.prefix(c, t) for c, t in pairs]
    suffix = [encoder.id(w) for w in encoder.suffix_words]
    tail = torch.tensor([[encoder.id(lab), *suffix] for lab in labels])  # [n_labels, 1 + S]
    n_lab = len(labels)
    out = torch.zeros(len(pairs), n_lab)  # [n_pairs, n_labels]
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prefixes):
        by_length.setdefault(len(p), []).append(i)
    group = max(1, max_rows // max(1, n_lab))
    for rows in by_length.values():
        for start in range(0, len(rows), group):
            idx = rows[start: start + group]
            prefix = torch.tensor([prefixes[i] for i in idx])  # [g, P]
            cache = TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, len(idx))
            model(prefix, past_kv_cache=cache, attention_mask=torch.ones_like(prefix), stop_at_layer=model.cfg.n_layers)
            for entry in cache.entries:  # each prefix's keys / values, once per label
                entry.past_keys = entry.past_keys.repeat_interleave(n_lab, 0)  # [g * n_lab, P, heads, d_head]
                entry.past_values = entry.past_values.repeat_interleave(n_lab, 0)
            cache.previous_attention_mask = cache.previous_attention_mask.repeat_interleave(n_lab, 0)
            cache.freeze()
            ids = tail.repeat(len(idx), 1)  # [g * n_lab, 1 + S]
            resid = model(ids, past_kv_cache=cache, attention_mask=torch.ones_like(ids),
                          stop_at_layer=model.cfg.n_layers)  # [g * n_lab, 1 + S, d_model]
            out[idx] = _yes_no_readout(model, encoder, resid[:, -1]).view(len(idx), n_lab)
    return out


def label_sweep_margin(model: HookedTransformer, encoder: PromptEncoder, context: str, token: str,
                       labels: Sequence[str]) -> torch.Tensor:
    """yes-minus-no margins [n_labels] of one (context, token) for many labels (see label_sweep_margins)."""
    return label_sweep_margins(model, encoder, [(context, token)], labels)[0]
