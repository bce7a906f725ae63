"""Pack sentences into fixed windows exactly as sae_lens's ActivationsStore packs text.

Windows start with BOS and texts are joined with a BOS separator (sae_lens's `concat_and_batch_sequences`),
so a window may start mid-sentence. The discriminator's LM part trains on such windows, so SAE activations
and any tool that packs the corpus the sae_lens way see in-distribution inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from sae_lens.tokenization_and_batching import concat_and_batch_sequences

from sae_gd_labeler.toyworld.discriminator import PromptEncoder


def packed_windows(encoder: PromptEncoder, texts: Iterable[str], context_size: int) -> Iterator[torch.Tensor]:
    """LongTensor windows [context_size] of `texts` (space-separated words), BOS-led and BOS-separated."""
    token_stream = (torch.tensor(encoder.ids(t), dtype=torch.long) for t in texts)
    yield from concat_and_batch_sequences(
        tokens_iterator=token_stream, context_size=context_size, begin_batch_token_id=encoder.bos,
        begin_sequence_token_id=None, sequence_separator_token_id=encoder.bos,
    )
