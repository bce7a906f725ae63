"""Tiny offline stand-ins shared by the tests: random-weight models of real architectures and random SAEs.

Nothing here touches the network. Models are `HookedTransformer`s built from a `HookedTransformerConfig`
that mirrors the real architecture's switches (GPT-2: LayerNorm + learned positions; Llama: RMSNorm,
rotary, gated SiLU MLP, grouped-query attention; Gemma-2: Llama's plus soft caps, pre+post norms and
local/global layers) at a size that runs in milliseconds, with a word-level tokenizer built in code.

    model = tiny_model("llama")                      # HookedTransformer, tokenizer attached
    sae = random_sae("jumprelu", model, "blocks.1.hook_resid_post", d_sae=32,
                     calibrate_on=random_corpus(model.tokenizer, 16, 24))
"""

from __future__ import annotations

import random

import torch
from sae_lens import (
    GatedSAE,
    GatedSAEConfig,
    JumpReLUSAE,
    JumpReLUSAEConfig,
    StandardSAE,
    StandardSAEConfig,
    TopKSAE,
    TopKSAEConfig,
)
from sae_lens.saes.sae import SAE, SAEMetadata
from transformer_lens import HookedTransformer, HookedTransformerConfig

from sae_gd_labeler.toyworld.tokenizer import word_level_tokenizer

# Real words so that decoded contexts are readable when a test fails.
WORDS = tuple(
    "the a cat dog bird fish tree house car road river city king queen man woman child red blue green "
    "big small old new fast slow happy sad runs eats sees likes has makes takes gives one two three "
    "four five and or but if then when where why how what who is was are were be been very not".split()
)
ARCHITECTURES = ("gpt2", "llama", "gemma2")
SAE_ARCHITECTURES = ("standard", "jumprelu", "topk", "gated")


def tiny_config(arch: str, d_vocab: int, *, d_model: int = 32, n_layers: int = 2, n_ctx: int = 64,
                seed: int = 0, **overrides) -> HookedTransformerConfig:
    """A `HookedTransformerConfig` of architecture `arch` ("gpt2", "llama", "gemma2") at toy size."""
    common = dict(d_model=d_model, n_layers=n_layers, n_ctx=n_ctx, d_vocab=d_vocab, seed=seed,
                  d_head=d_model // 4, n_heads=4, d_mlp=2 * d_model)
    if arch == "gpt2":
        # Absolute learned positions, LayerNorm, GELU: the GPT-2 block.
        cfg = dict(act_fn="gelu_new", normalization_type="LN", positional_embedding_type="standard",
                   original_architecture="GPT2LMHeadModel")
    elif arch == "llama":
        # GQA: 4 query heads share 2 key/value heads, as Llama-2-70B / Llama-3 do.
        cfg = dict(act_fn="silu", normalization_type="RMS", positional_embedding_type="rotary",
                   rotary_dim=d_model // 4, rotary_adjacent_pairs=False, gated_mlp=True, final_rms=True,
                   n_key_value_heads=2, eps=1e-5, original_architecture="LlamaForCausalLM")
    elif arch == "gemma2":
        # The gemma-2-2b switches from loading_from_pretrained, with a window short enough to matter.
        cfg = dict(act_fn="gelu_pytorch_tanh", normalization_type="RMS", positional_embedding_type="rotary",
                   rotary_dim=d_model // 4, gated_mlp=True, final_rms=True, n_key_value_heads=2, eps=1e-6,
                   use_local_attn=True, window_size=8, attn_types=["local", "global"] * ((n_layers + 1) // 2),
                   attn_scores_soft_cap=50.0, output_logits_soft_cap=30.0,
                   use_normalization_before_and_after=True, original_architecture="Gemma2ForCausalLM")
        cfg["attn_types"] = cfg["attn_types"][:n_layers]
    else:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
    return HookedTransformerConfig(**{**common, **cfg, **overrides})


def tiny_model(arch: str = "gpt2", words=WORDS, *, seed: int = 0, **overrides) -> HookedTransformer:
    """A random-weight `HookedTransformer` of `arch` with a word-level tokenizer over `words` (eval mode)."""
    tokenizer = word_level_tokenizer(words)
    torch.manual_seed(seed)
    model = HookedTransformer(tiny_config(arch, len(tokenizer), seed=seed, **overrides), tokenizer=tokenizer)
    return model.eval()


def random_texts(n_texts: int, *, words=WORDS, min_words: int = 3, max_words: int = 30,
                 seed: int = 0) -> list[str]:
    """`n_texts` space-joined random word sequences of varying length (a corpus without a hub)."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(min_words, max_words))) for _ in range(n_texts)]


def random_corpus(tokenizer, n_seq: int, ctx: int, *, seed: int = 0, bos: bool = True) -> torch.Tensor:
    """A pre-tokenised corpus [n_seq, ctx] of random non-special tokens, BOS first when `bos`."""
    gen = torch.Generator().manual_seed(seed)
    special = len(tokenizer.all_special_ids)  # the word-level tokenizer puts specials first
    tokens = torch.randint(special, len(tokenizer), (n_seq, ctx), generator=gen)  # [n_seq, ctx]
    if bos:
        tokens[:, 0] = tokenizer.bos_token_id
    return tokens


def hook_activations(model: HookedTransformer, tokens: torch.Tensor, hook_name: str) -> torch.Tensor:
    """The model's activation at `hook_name` for `tokens` [n, ctx] (the reference every test compares to)."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=hook_name)
    return cache[hook_name]  # [n, ctx, d_in] (or [n, ctx, n_heads, d_head] at hook_z)


def random_sae(arch: str, model: HookedTransformer, hook_name: str, *, d_sae: int = 32, seed: int = 0,
               calibrate_on: torch.Tensor | None = None, fire_rate: float = 0.1, dead: tuple[int, ...] = (),
               k: int = 4, dtype: str = "float32", device: str = "cpu", context_size: int | None = None,
               prepend_bos: bool = True) -> SAE:
    """A random sae_lens SAE of `arch` ("standard", "jumprelu", "topk", "gated") reading `hook_name`.

    With `calibrate_on` (tokens [n, ctx]), each feature's bias (or JumpReLU threshold) is set so that it
    fires on about `fire_rate` of those tokens, with jitter so rates differ; features in `dead` get a
    bias no input can overcome, so they never fire. `d_in` is read from the model at the hook.
    """
    gen = torch.Generator().manual_seed(seed)
    probe = hook_activations(model, torch.zeros(1, 2, dtype=torch.long), hook_name)
    d_in = probe.shape[-1] * (probe.shape[-2] if hook_name.endswith("hook_z") else 1)
    metadata = SAEMetadata(hook_name=hook_name, context_size=context_size, prepend_bos=prepend_bos,
                           model_name="tiny-" + model.cfg.original_architecture)
    common = dict(d_in=d_in, d_sae=d_sae, metadata=metadata,
                  reshape_activations="hook_z" if hook_name.endswith("hook_z") else "none")
    if arch == "standard":
        sae = StandardSAE(StandardSAEConfig(**common))
    elif arch == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(**common))
    elif arch == "topk":
        sae = TopKSAE(TopKSAEConfig(k=k, **common))
    elif arch == "gated":
        sae = GatedSAE(GatedSAEConfig(**common))
    else:
        raise ValueError(f"unknown SAE architecture {arch!r}; expected one of {SAE_ARCHITECTURES}")
    with torch.no_grad():
        w_enc = torch.randn(d_in, d_sae, generator=gen) / d_in**0.5  # [d_in, d_sae]
        sae.W_enc.copy_(w_enc)
        sae.W_dec.copy_(w_enc.T)
        sae.b_dec.copy_(0.1 * torch.randn(d_in, generator=gen))
        bias = torch.zeros(d_sae)
        if calibrate_on is not None:
            # Pre-activations of every calibration token, then a per-feature quantile as the cut.
            x = hook_activations(model, calibrate_on, hook_name).flatten(0, 1)
            pre = (sae.process_sae_in(x) @ sae.W_enc).float()  # [n_tok, d_sae]
            rates = (fire_rate * torch.exp(0.5 * torch.randn(d_sae, generator=gen))).clamp(1e-3, 0.9)
            cut = torch.stack([pre[:, f].quantile(1 - rates[f].item()) for f in range(d_sae)])
            bias = -cut
        bias[list(dead)] = -1e6
        if arch == "gated":
            sae.b_gate.copy_(bias)
            sae.b_mag.copy_(0.5 * torch.rand(d_sae, generator=gen))
            sae.r_mag.copy_(0.3 * torch.randn(d_sae, generator=gen))
        elif arch == "jumprelu":
            # Fire above a positive threshold: b_enc lifts everything, the threshold cuts back.
            lift = torch.rand(d_sae, generator=gen)
            sae.b_enc.copy_(lift)
            sae.threshold.copy_(lift - bias)
            sae.threshold[list(dead)] = 1e6
        else:
            sae.b_enc.copy_(bias)
    return sae.to(device=device, dtype=getattr(torch, dtype))
