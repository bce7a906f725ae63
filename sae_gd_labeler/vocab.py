"""Which tokens may be a label: by default word-like tokens, never special or punctuation-only ones."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from sae_gd_labeler.discriminator import Discriminator


def candidate_token_ids(discriminator: Discriminator, spec: str | Sequence[str | int] = "words") -> Tensor:
    """Sorted token ids [C] that a label may use.

    "words": tokens whose text is a word (letters of any script, e.g. " animal" or "中文") and that
             are exactly how that word tokenizes in the label slot, so a hard label round-trips as text.
    "all":   every token but the special ones.
    a sequence: these words (each must be a single token in the label slot) or token ids.
    """
    tokenizer = discriminator.tokenizer
    n = min(len(tokenizer), discriminator.d_vocab)
    special = set(tokenizer.all_special_ids)
    if isinstance(spec, str) and spec == "all":
        ids = [i for i in range(n) if i not in special]
    elif isinstance(spec, str) and spec == "words":
        ids = _word_ids(discriminator, n, special)
    elif isinstance(spec, str):
        raise ValueError(f"candidate vocabulary must be 'words', 'all' or a sequence, got {spec!r}")
    else:
        ids = [_one_id(discriminator, item, n) for item in spec]
    ids = sorted(set(ids))
    if not ids:
        raise ValueError(f"the candidate vocabulary {spec!r} is empty for this tokenizer; use "
                         "candidate_vocab='all' or give the label words explicitly")
    return torch.tensor(ids, dtype=torch.long, device=discriminator.device)


def _word_ids(discriminator: Discriminator, n: int, special: set[int]) -> list[int]:
    texts = discriminator.tokenizer.batch_decode([[i] for i in range(n)])
    words = [t.strip() for t in texts]
    lead = discriminator.template.label_lead
    keep = [i for i, w in enumerate(words) if i not in special and w.isalpha()]
    if not keep:
        return []
    encoded = discriminator.tokenizer([lead + words[i] for i in keep], add_special_tokens=False)["input_ids"]
    return [i for i, enc in zip(keep, encoded) if list(enc) == [i]]


def _one_id(discriminator: Discriminator, item: str | int, n: int) -> int:
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        raise ValueError(f"candidate vocabulary items must be words or token ids, got {item!r}")
    if isinstance(item, int):
        if not 0 <= item < n:
            raise ValueError(f"candidate token id {item} is outside the vocabulary [0, {n})")
        return item
    ids = discriminator.label_ids(item)
    if len(ids) != 1:
        raise ValueError(f"candidate word {item!r} is {len(ids)} tokens in the label slot ({ids}); "
                         "single-token labels only, pick another word or give a token id")
    return ids[0]


def token_text(discriminator: Discriminator, ids: Sequence[int]) -> str:
    """The label as text, without the slot's lead whitespace."""
    return discriminator.tokenizer.decode(list(ids)).strip()
