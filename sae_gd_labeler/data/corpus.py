"""Turn whatever names a corpus (hub name, local path, Dataset, strings, token tensor) into token batches.

Texts are packed the way sae_lens's ActivationsStore packs them (its own `concat_and_batch_sequences`):
tokenized without special tokens, concatenated with a separator, cut into `context_size` windows, each
starting with BOS when the SAE was trained with `prepend_bos`. Activations then sit in the same kind of
context the SAE saw in training. Pre-tokenised rows are taken as windows already (sae_lens does the same)
and only cut to `context_size`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from sae_lens.tokenization_and_batching import concat_and_batch_sequences

TOKEN_COLUMNS = ("tokens", "input_ids")  # sae_lens's order: a pre-tokenised column wins over text
TEXT_COLUMNS = ("text", "problem")
FILE_BUILDERS = {".txt": "text", ".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def iter_token_batches(dataset: Any, tokenizer: Any, context_size: int, batch_size: int,
                       prepend_bos: bool = True, text_column: str | None = None,
                       max_tokens: int | None = None, split: str = "train",
                       sequence_separator: int | str | None = "bos") -> Iterator[torch.Tensor]:
    """Yield LongTensors [batch, context_size] (the last batch may hold fewer rows) from `dataset`.

    `dataset` is a hub dataset name or local path (streamed with `datasets.load_dataset`; a folder written
    by `Dataset.save_to_disk` is loaded from disk), a `datasets.Dataset` / `IterableDataset`, a list of
    strings, or a token tensor [n, ctx] (ctx < context_size is kept as is). `tokenizer` is an HF
    tokenizer or a model carrying one (`model.tokenizer`). `sequence_separator` ("bos", "eos", a token id
    or None) goes between packed texts, as in sae_lens. Stops after `max_tokens` tokens (whole windows).
    Raises ValueError when the corpus yields no window at all.
    """
    if context_size < 1 or batch_size < 1:
        raise ValueError(f"context_size and batch_size must be >= 1, got {context_size} and {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1 or None, got {max_tokens}")
    tok = getattr(tokenizer, "tokenizer", tokenizer)  # a HookedTransformer carries its tokenizer
    windows = _iter_windows(dataset, tok, context_size, prepend_bos, text_column, split, sequence_separator)
    max_windows = None if max_tokens is None else -(-max_tokens // context_size)
    batch: list[torch.Tensor] = []
    n_windows = 0
    for window in windows:
        if batch and window.shape[0] != batch[0].shape[0]:
            raise ValueError(f"pre-tokenised rows have different lengths ({batch[0].shape[0]} and "
                             f"{window.shape[0]}); give rows of at least context_size={context_size} tokens")
        batch.append(window)
        n_windows += 1
        if len(batch) == batch_size:
            yield torch.stack(batch)  # [batch, ctx]
            batch = []
        if max_windows is not None and n_windows >= max_windows:
            break
    if batch:
        yield torch.stack(batch)  # [<batch, ctx]
    if n_windows == 0:
        raise ValueError(f"the corpus {_describe(dataset)} is empty: it gave no token window of up to "
                         f"{context_size} tokens; give at least one non-empty text or token row")


def _iter_windows(dataset, tok, context_size, prepend_bos, text_column, split,
                  separator) -> Iterator[torch.Tensor]:
    """One 1-D LongTensor per context window."""
    if isinstance(dataset, torch.Tensor):
        if dataset.dim() != 2 or dataset.is_floating_point():
            raise ValueError(f"a token tensor corpus must be an integer tensor [n, ctx], got "
                             f"{dataset.dtype} of shape {tuple(dataset.shape)}")
        yield from dataset[:, :context_size].long().cpu()
        return
    rows, column = _open_rows(dataset, text_column, split)
    values = (row if column is None else row[column] for row in rows)
    first = next(values, None)
    if first is None:
        return
    values = itertools.chain([first], values)
    if not isinstance(first, str):  # token ids: already windows, only cut to context_size
        yield from _token_rows(values, context_size)
        return
    if tok is None:
        raise ValueError("a text corpus needs a tokenizer (or a model with one) to be tokenized")
    bos = tok.bos_token_id if prepend_bos else None
    if prepend_bos and bos is None:
        raise ValueError("prepend_bos=True but the tokenizer has no bos_token_id; pass prepend_bos=False")
    tokens = (torch.tensor(tok(t, add_special_tokens=False)["input_ids"], dtype=torch.long)
              for t in _check_texts(values))
    yield from concat_and_batch_sequences(
        tokens_iterator=(t for t in tokens if t.numel() > 0), context_size=context_size,
        begin_batch_token_id=bos, begin_sequence_token_id=None,
        sequence_separator_token_id=_special_id(separator, tok))


def _open_rows(dataset, text_column, split) -> tuple[Iterable, str | None]:
    """The dataset's rows and the column to read (None: the rows are texts themselves)."""
    import datasets  # imported lazily: it is slow to import and only some corpora need it

    if isinstance(dataset, str):
        dataset = _load(dataset, split, datasets)
    if isinstance(dataset, (datasets.Dataset, datasets.IterableDataset)):
        columns = list(dataset.column_names or [])
        if not columns:  # streamed datasets may not know their columns before the first row
            first = next(iter(dataset), None)
            columns = list(first) if first is not None else []
        if text_column is not None:
            if text_column not in columns:
                raise ValueError(f"text_column {text_column!r} is not in the dataset; "
                                 f"its columns are {columns}")
            return dataset, text_column
        for name in TOKEN_COLUMNS + TEXT_COLUMNS:
            if name in columns:
                return dataset, name
        if not columns:
            return [], None
        raise ValueError(f"the dataset has no 'tokens', 'input_ids', 'text' or 'problem' column (columns: "
                         f"{columns}); pass text_column=")
    if isinstance(dataset, (list, tuple)):
        return dataset, None
    raise ValueError(f"cannot read a corpus from a {type(dataset).__name__}; give a dataset name or path, "
                     "a datasets.Dataset, a list of strings or a token tensor [n, ctx]")


def _load(name: str, split: str, datasets):
    """Stream a hub dataset or a local file / folder without downloading it whole."""
    from sae_gd_labeler.data.real_corpus import REAL_CORPUS, cached_corpus

    if name == REAL_CORPUS:  # the offline real corpus the shipped SAEs were trained on, built on first use
        name = str(cached_corpus())
    if os.path.isdir(name) and any(os.path.exists(os.path.join(name, f))
                                   for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        loaded = datasets.load_from_disk(name)
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    if os.path.isfile(name):
        ext = os.path.splitext(name)[1].lower()
        if ext not in FILE_BUILDERS:
            raise ValueError(f"cannot read corpus file {name!r}: expected one of {sorted(FILE_BUILDERS)}")
        return datasets.load_dataset(FILE_BUILDERS[ext], data_files=name, split="train", streaming=True)
    return datasets.load_dataset(name, split=split, streaming=True)


def _token_rows(rows, context_size) -> Iterator[torch.Tensor]:
    for i, ids in enumerate(rows):
        if isinstance(ids, str):
            raise ValueError(f"corpus row {i} is text but earlier rows are token ids; "
                             "use one kind per corpus")
        ids = torch.as_tensor(ids, dtype=torch.long).flatten()
        if ids.numel() < context_size:
            raise ValueError(f"pre-tokenised row {i} has {ids.numel()} tokens, fewer than context_size="
                             f"{context_size}; pre-tokenise with a longer context or pass a smaller "
                             "context_size")
        yield ids[:context_size]


def _check_texts(texts) -> Iterator[str]:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"corpus row {i} is a {type(text).__name__}, expected a string; name the text "
                             "column with text_column=")
        yield text


def _special_id(separator, tok) -> int | None:
    if separator is None or isinstance(separator, int):
        return separator
    if separator not in ("bos", "eos", "sep"):
        raise ValueError("sequence_separator must be 'bos', 'eos', 'sep', a token id or None, "
                         f"got {separator!r}")
    return getattr(tok, f"{separator}_token_id")


def _describe(dataset) -> str:
    if isinstance(dataset, (str, torch.Tensor)):
        return repr(dataset) if isinstance(dataset, str) else f"tensor {tuple(dataset.shape)}"
    return type(dataset).__name__
