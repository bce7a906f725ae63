"""The toy discriminator: a tiny GPT-2-like HookedTransformer, its prompts, and its yes / no answers.

A prompt is [BOS] + the words of `template.render(context, token, label)`; with the world's word-level
tokenizer this equals [BOS] + tokens(prefix) + tokens(label_lead + label) + tokens(suffix), which is how a
labeler splits it. The answer is read at the last position.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from sae_gd_labeler.readout.template import PromptTemplate

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
