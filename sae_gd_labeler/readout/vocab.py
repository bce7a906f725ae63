"""Which tokens may be a label: by default whole words, never special, punctuation-only or word-piece tokens."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import CONTEXT, LABEL, TOKEN, PromptTemplate
from sae_gd_labeler.search.config import VOCABS

SUBWORD_VOCAB_SIZE = 10_000  # "auto": a tokenizer this large is a real subword (BPE / unigram) vocabulary


def candidate_token_ids(discriminator: Discriminator, spec: str | Sequence[str | int] = "auto") -> Tensor:
    """Sorted token ids [C] that a label may use.

    "words":      tokens whose text is a word (letters of any script, e.g. " animal" or "中文") and that
                  are exactly how that word tokenizes in the label slot, so a hard label round-trips as text.
                  On a subword tokenizer this still keeps word-initial pieces (" desp", " autom").
    "dictionary": the "words" tokens whose text is an English word, any case, per the shipped WordNet word
                  list (`sae_gd_labeler.data.english_words`), plus every "words" token written entirely in a
                  non-Latin script ("中文", Cyrillic), which an English list cannot judge. Drops the pieces,
                  and also non-English words in Latin script.
    "auto":       "dictionary" when the tokenizer has at least 10,000 tokens (a real subword vocabulary),
                  else "words": small word-level tokenizers (the toy world's, the tests') have invented
                  words that are not English but are whole words all the same.
    "all":        every token but the special ones.
    a sequence: these words (each must be a single token in the label slot) or token ids.
    """
    tokenizer = discriminator.tokenizer
    n = min(len(tokenizer), discriminator.d_vocab)
    special = set(tokenizer.all_special_ids)
    if isinstance(spec, str) and spec == "auto":
        spec = auto_vocab(discriminator)
    if isinstance(spec, str) and spec == "all":
        ids = [i for i in range(n) if i not in special]
    elif isinstance(spec, str) and spec == "words":
        ids = _word_ids(discriminator, n, special)
    elif isinstance(spec, str) and spec == "dictionary":
        ids = _word_ids(discriminator, n, special, accept=_english_or_non_latin())
    elif isinstance(spec, str):
        raise ValueError(f"candidate vocabulary must be one of {list(VOCABS)} or a sequence of words / token ids, "
                         f"got {spec!r}")
    else:
        ids = [_one_id(discriminator, item, n) for item in spec]
    ids = sorted(set(ids))
    if not ids:
        raise ValueError(f"the candidate vocabulary {spec!r} is empty for this tokenizer; use "
                         "candidate_vocab='words' or 'all', or give the label words explicitly")
    return torch.tensor(ids, dtype=torch.long, device=discriminator.device)


def question_words(discriminator: Discriminator) -> set[str]:
    """The words of the yes / no question, lower-cased: the template's text from the start of the line that holds
    `{label}` to its end, less the tokenizer's special tokens, and the yes / no answers ("is", "a", "answer",
    "yes" in "is {token} a {label} ? answer :"). As a label each makes the question about itself ("is dog a
    answer ?"), so no "words" or "dictionary" vocabulary offers them. The lines before (a chat template's
    system prompt, the context) are not the question. Empty for the likelihood readouts, whose templates' words
    are their few-shot examples' ("tool") as well."""
    template = discriminator.template
    if not isinstance(template, PromptTemplate):
        return set()
    text = template.text[template.text.rfind("\n", 0, template.text.index(LABEL)) + 1:]
    for special in discriminator.tokenizer.all_special_tokens:
        text = text.replace(special, " ")
    text = " ".join([text.replace(CONTEXT, " ").replace(TOKEN, " ").replace(LABEL, " "), template.yes, template.no])
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def _word_ids(discriminator: Discriminator, n: int, special: set[int],
              accept: Callable[[str], bool] | None = None) -> list[int]:
    """The "words" ids, less the question's own words (question_words) and those whose stripped text `accept`
    rejects (checked first: re-encoding is the slow part)."""
    texts = discriminator.tokenizer.batch_decode([[i] for i in range(n)])
    words = [t.strip() for t in texts]
    lead = discriminator.template.label_lead
    scaffold = question_words(discriminator)
    keep = [i for i, w in enumerate(words) if i not in special and w.isalpha() and w.lower() not in scaffold
            and (accept is None or accept(w))]
    if not keep:
        return []
    encoded = discriminator.tokenizer([lead + words[i] for i in keep], add_special_tokens=False)["input_ids"]
    return [i for i, enc in zip(keep, encoded) if list(enc) == [i]]


def auto_vocab(discriminator: Discriminator) -> str:
    """What "auto" means for this discriminator: "dictionary" or "words" (see `candidate_token_ids`)."""
    return "dictionary" if len(discriminator.tokenizer) >= SUBWORD_VOCAB_SIZE else "words"


def _english_or_non_latin() -> Callable[[str], bool]:
    from sae_gd_labeler.data.english_words import english_words  # the list is read only when asked for

    english = english_words()
    return lambda word: word.lower() in english or _non_latin(word)


def _non_latin(word: str) -> bool:
    """No letter of `word` is Latin: a word of another script, which the English list says nothing about."""
    return all(not unicodedata.name(c, "").startswith("LATIN") for c in word)


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


def round_trips(discriminator: Discriminator, ids: Sequence[int]) -> bool:
    """Whether the label's text (`token_text`), put back in the label slot, tokenizes to exactly these ids:
    then the text a reader sees, and another scorer reads, is the label that was scored. Every one-token
    label of the "words" and "dictionary" vocabularies does; a K-token label may not (two tokens whose text
    merges into other tokens, a word piece after a word)."""
    text = token_text(discriminator, ids)
    return bool(text) and discriminator.label_ids(text) == list(ids)
