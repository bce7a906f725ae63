"""A word-level tokenizer built in code: one token per word, so every word of the world is a label token."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<bos>", "<eos>", "<pad>", "<unk>")


def word_level_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A fast HF tokenizer whose vocabulary is the special tokens followed by `words` (order kept).

    Text is split on whitespace and punctuation; BOS is prepended when special tokens are added.
    """
    vocab: dict[str, int] = {}
    for word in (*SPECIAL_TOKENS, *words):
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with single spaces
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", add_bos_token=True, padding_side="right",
    )
    # TransformerLens reloads a tokenizer by name unless it already adds BOS; say that it does.
    tokenizer.init_kwargs.update(name_or_path="sae-gd-labeler-word-level", add_bos_token=True)
    return tokenizer
