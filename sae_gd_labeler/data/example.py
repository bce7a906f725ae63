"""One data point of a feature: a token in its context, with the feature's activation there."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """A token the feature was (or was not) active on.

    `context` is the text that ends with `token`; `token` is the item the discriminator is asked about.
    Examples travel as text so the discriminator may use another tokenizer than the subject model;
    `token_ids` may carry the subject model's ids of `token` when they are known.
    """

    context: str
    token: str
    activation: float
    token_ids: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        out = {"context": self.context, "token": self.token, "activation": float(self.activation)}
        if self.token_ids is not None:
            out["token_ids"] = list(self.token_ids)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Example:
        ids = data.get("token_ids")
        return cls(data["context"], data["token"], float(data["activation"]), tuple(ids) if ids else None)


def check_examples(feature, examples: Sequence[Example], threshold: float) -> None:
    """Raise ValueError if a feature's example set cannot be labeled at all.

    Empty sets, non-finite activations and sets with only one class are input mistakes; a set that is
    merely small gets an explicit status from the labeler instead.
    """
    if len(examples) == 0:
        raise ValueError(f"feature {feature!r}: the example set is empty; give at least one positive "
                         "and one negative Example")
    for i, ex in enumerate(examples):
        if not isinstance(ex, Example):
            raise ValueError(f"feature {feature!r}: item {i} is a {type(ex).__name__}, expected an Example")
        if not math.isfinite(ex.activation):
            raise ValueError(f"feature {feature!r}: example {i} ({ex.token!r}) has activation "
                             f"{ex.activation}; activations must be finite numbers")
        if not ex.token:
            raise ValueError(f"feature {feature!r}: example {i} has an empty token")
    n_pos = sum(ex.activation > threshold for ex in examples)
    if n_pos == 0 or n_pos == len(examples):
        kind = "positive" if n_pos else "negative"
        raise ValueError(f"feature {feature!r}: all {len(examples)} examples are {kind} "
                         f"(activation threshold {threshold}); a label needs both positive and "
                         "negative examples to be learned")
