"""A feature's own firing tokens as label candidates (label-as-answer readout, one-token labels).

Many features of a real model's middle layers fire on one token or a few ("you", "than", "ith"). Under the
label-as-answer readout the best description of such a feature is the token itself: the discriminator
readily repeats the example's word in the label slot, far more after the token than after others. But the
candidate vocabulary holds whole English words only, and the naturalness term (how readily the
discriminator says the label after the positives) rightly favours category words over a repeated token, so
the vocabulary search returns generic words ("language", "food") for them instead.

So the tokens that a feature's training positives fire on most often challenge the vocabulary's label on fit
alone: the one that fits best (class-balanced cross-entropy of its calibrated score on the training examples)
replaces that label when it fits better than the label does. The naturalness term still decides among the
vocabulary's words, where it guards against what a search of tens of thousands of tokens may pick; a feature's
own token needs no such guard. Measured on real SAE features and WordNet categories (README, "Real SAEs of a
real model"; `python -m sae_gd_labeler.bench.real_sae_labels --own-tokens 0` for the comparison).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator


def own_token_ids(disc: Discriminator, positives: Sequence[Example], n: int) -> list[int]:
    """The label-slot token ids of the `n` texts the positives fire on most often (ties: first seen), among
    the texts that are one token in the label slot (the template's lead space included); [] when n = 0."""
    if n <= 0:
        return []
    counts = Counter(ex.token.strip() for ex in positives if ex.token.strip())
    out: list[int] = []
    for text, _ in counts.most_common():
        ids = disc.label_ids(text)
        if len(ids) == 1 and ids[0] not in out:
            out.append(ids[0])
            if len(out) == n:
                break
    return out
