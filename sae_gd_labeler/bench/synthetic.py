"""Random-weight discriminators of real model configurations, for throughput figures.

Throughput does not depend on the weights' values, so a random GPT-2 small (or Gemma-2-2B) with a
word-level tokenizer of the real vocabulary size gives real step times without the model hub.
"""

from __future__ import annotations

import random
import string

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import PromptTemplate
from sae_gd_labeler.toyworld.tokenizer import SPECIAL_TOKENS, word_level_tokenizer

# The seed paper's question (its label sits mid-question, inside quotes).
PAPER_STYLE = PromptTemplate('{context}\nIs the word "{token}" an example of the concept "{label}"? Answer:',
                             " Yes", " No")
TEMPLATE_WORDS = ("Is", "the", "word", "an", "example", "of", "concept", "Answer", "Yes", "No", '"', "?", ":")

CONFIGS = {
    # GPT-2 small: the model behind gpt2-small-res-jb.
    "gpt2-small": dict(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_ctx=1024, d_vocab=50257,
                       act_fn="gelu_new", normalization_type="LN", positional_embedding_type="standard"),
    # Gemma-2-2B: the model behind Gemma Scope (local / global attention, soft caps, GQA).
    "gemma-2-2b": dict(n_layers=26, d_model=2304, n_heads=8, d_head=256, d_mlp=9216, n_ctx=8192, d_vocab=256000,
                       n_key_value_heads=4, act_fn="gelu_pytorch_tanh", normalization_type="RMS",
                       positional_embedding_type="rotary", rotary_dim=256, rotary_base=10000, gated_mlp=True,
                       final_rms=True, eps=1e-6, use_local_attn=True, window_size=4096,
                       attn_types=["global", "local"] * 13, attn_scores_soft_cap=50.0,
                       output_logits_soft_cap=30.0, use_normalization_before_and_after=True),
}


def synthetic_words(n: int) -> list[str]:
    """n distinct alphabetic words ("ab", "ac", ...) after the template's own words."""
    words = list(TEMPLATE_WORDS)
    letters = string.ascii_lowercase
    i = 0
    while len(words) < n:
        i += 1
        w, k = "", i
        while k:
            k, r = divmod(k, 26)
            w = letters[r] + w
        words.append("x" + w)  # "x" keeps them apart from the template's words
    return words[:n]


def random_discriminator(name: str, *, n_ctx: int = 256, dtype: torch.dtype = torch.float32,
                         device: str = "cpu", seed: int = 0) -> Discriminator:
    """A random-weight model of configuration `name` ('gpt2-small', 'gemma-2-2b')."""
    if name not in CONFIGS:
        raise ValueError(f"unknown model configuration {name!r}; choose one of {sorted(CONFIGS)}")
    cfg = dict(CONFIGS[name], n_ctx=n_ctx)
    tokenizer = word_level_tokenizer(synthetic_words(cfg["d_vocab"] - len(SPECIAL_TOKENS)))
    torch.manual_seed(seed)
    model = HookedTransformer(HookedTransformerConfig(**cfg, seed=seed, dtype=dtype, device=device),
                              tokenizer=tokenizer, move_to_device=True)
    return Discriminator(model.eval(), PAPER_STYLE)


def random_feature(disc: Discriminator, n_examples: int, context_words: int, seed: int) -> list[Example]:
    """A random feature: half the examples positive, contexts of `context_words` random words."""
    rng = random.Random(seed)
    vocab = synthetic_words(2000)[len(TEMPLATE_WORDS):]
    out = []
    for i in range(n_examples):
        words = rng.choices(vocab, k=context_words)
        out.append(Example(" ".join(words), words[-1], float(i % 2 == 0)))
    return out
