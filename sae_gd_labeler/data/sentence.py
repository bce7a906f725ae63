"""Cut an example's context to the sentence that holds its token.

A corpus window of 32 tokens often spans several sentences, and in a corpus of joined short texts (glosses,
quotations, verses) several unrelated ones: "...Someone who stalks game.With the wind; in the direction the
wind is blowing.In a meretric". A small discriminator reads the one sentence that holds the token better
than that run of fragments, and each example costs it fewer tokens.
"""

from __future__ import annotations

import dataclasses
import re

from sae_gd_labeler.data.example import Example

# a sentence ends at . ! ? ; : or a line break, except a point inside a number ("3.5")
SENTENCE_END = re.compile(r"[.!?;:\n](?!\d)")


def last_sentence(example: Example) -> Example:
    """The example with its context cut to the text after the last sentence end before its token (the token's
    own characters are never cut, even when the token is itself a full stop). A context with no sentence end
    is kept whole; so is one whose last sentence would be empty, or one that does not end with its token."""
    if not example.context.endswith(example.token):
        return example
    head = example.context[: len(example.context) - len(example.token)]
    ends = [m.end() for m in SENTENCE_END.finditer(head)]
    start = ends[-1] if ends else 0
    context = (head[start:].lstrip() + example.token).strip()
    if not context:
        return example
    return dataclasses.replace(example, context=context)
