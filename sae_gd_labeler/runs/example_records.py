"""What a run keeps of each feature's data, for pages a researcher can check by eye and for re-scoring:
its top contexts, a sample spread over its activation quantiles, a sample of its activations (for the
histogram) and the exact train / held-out examples its label was fitted and scored on."""

from __future__ import annotations

import math
from typing import Any

import torch

from sae_gd_labeler.data.activations import FeatureRecord, Occurrences
from sae_gd_labeler.data.example import Example

N_TOP_SHOWN = 16  # highest-activation contexts kept for the pages
N_QUANTILES, PER_QUANTILE = 4, 3  # the quantile sample: this many bins of the firing activations, each


class TokenTexts:
    """Token id -> its text as it reads inside a text, so that a context's token texts joined without
    separators read as the text; decoded once for the whole vocabulary (per occurrence is too slow).

    `decode([i])` alone drops the space before a word in word-level and SentencePiece tokenizers ("the",
    not " the"): each token is decoded after a plain anchor token, and the anchor's own text cut off.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.special = set(tokenizer.all_special_ids)
        # left out of contexts: the tokens that separate texts, not <unk> (it stands for a word of the text)
        names = ("bos", "eos", "sep", "pad", "cls")
        self.separators = {getattr(tokenizer, f"{name}_token_id") for name in names} - {None}
        anchor = [i for i in tokenizer.encode("a", add_special_tokens=False) if i not in self.special]
        self.anchor = anchor[:1]
        self.anchor_text = tokenizer.decode(self.anchor) if self.anchor else ""
        self.table: list[str] = []

    def _text(self, i: int) -> str:
        alone = self.tokenizer.decode([i])
        if not self.anchor or i in self.separators:
            return alone
        pair = self.tokenizer.decode(self.anchor + [i])
        return pair[len(self.anchor_text):] if pair.startswith(self.anchor_text) else alone

    def __call__(self, ids: list[int]) -> list[str]:
        top = max(ids, default=-1)
        if top >= len(self.table):
            size = max(top + 1, len(self.tokenizer))
            self.table += [self._text(i) for i in range(len(self.table), size)]
        return [self.table[i] for i in ids]

    def context(self, ids: list[int]) -> list[str]:
        """A context's token texts, separators (BOS, EOS, ...) left out but for the last (firing) token."""
        return self([i for i in ids[:-1] if i not in self.separators] + ids[-1:])


def example_record(record: FeatureRecord, texts: TokenTexts, hook_name: str, train: list[Example],
                   heldout: list[Example]) -> dict[str, Any]:
    positives = record.positives
    return {
        "feature": record.feature,
        "hook_name": hook_name,
        "n_tokens": record.n_tokens,
        "n_fired": record.n_fired,
        "max_activation": _finite(record.max_activation),
        "top": _contexts(record.top, range(min(N_TOP_SHOWN, len(record.top))), texts),
        "quantiles": quantile_sample(positives, texts),
        "activation_sample": [round(a, 6) for a in positives.activation.tolist()],
        "train": [ex.to_dict() for ex in train],
        "heldout": [ex.to_dict() for ex in heldout],
    }


def quantile_sample(occ: Occurrences, texts: TokenTexts) -> list[dict[str, Any]]:
    """PER_QUANTILE contexts from each of N_QUANTILES equal-count bins of the firing activations."""
    if len(occ) == 0:
        return []
    order = torch.argsort(occ.activation, stable=True)  # lowest first
    out = []
    for q, part in enumerate(order.tensor_split(N_QUANTILES)):
        picks = part[torch.linspace(0, len(part) - 1, min(PER_QUANTILE, len(part))).long()] if len(part) else part
        out += [{**c, "quantile": q} for c in _contexts(occ, picks.tolist(), texts)]
    return out


def _contexts(occ: Occurrences, rows, texts: TokenTexts) -> list[dict[str, Any]]:
    return [{"tokens": texts.context(occ.context_ids(i)), "activation": round(float(occ.activation[i]), 6)}
            for i in rows]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
