"""Measure steering: how often a category's words appear in sampled text, and what it costs in coherence.

    feature, purity = category_feature(model, top_records(model, sae, corpus), members)
    tokens = sample(model, n=64, seed=0)                           # [n, 1 + max_new_tokens], BOS first
    category_rate(model, tokens, members), coherence_loss(model, tokens)

`coherence_loss` is the *unsteered* model's mean next-token loss on the generated tokens: steering that
pushes text off the model's own distribution pays for it there (Laptev et al. use an LLM judge instead).
"""

from __future__ import annotations

import torch

from sae_gd_labeler.data.activations import ActivationConfig, collect_activations


def token_words(model, ids) -> list[str]:
    return [model.tokenizer.decode([int(i)]).strip() for i in ids]


def top_records(model, sae, corpus, *, n_top: int = 32, max_tokens: int | None = None):
    """Every feature's top activations over `corpus` (one pass; reuse it for several categories)."""
    cfg = ActivationConfig(n_top=n_top, n_positive_sample=0, n_negative_sample=0, n_hard_negative=0,
                           max_tokens=max_tokens)
    return collect_activations(model, sae, corpus, range(sae.cfg.d_sae), cfg)


def category_feature(model, records, members, *, n_top: int = 32) -> tuple[int, float]:
    """The feature whose top activations (`records` from `top_records`) fall most on `members` (a set of
    words); ties go to the stronger feature. Returns (feature, purity = share of its top occurrences that
    are members)."""
    members = set(members)
    best, key = None, (-1.0, -1.0)
    for f, rec in records.items():
        if rec.dead or len(rec.top) < n_top // 2:  # too rare to judge from its top activations
            continue
        words = token_words(model, rec.top.token_id)
        purity = sum(w in members for w in words) / len(words)
        if (purity, rec.max_activation) > key:
            best, key = f, (purity, rec.max_activation)
    if best is None:
        raise ValueError("no feature fired often enough on the corpus to be judged")
    return best, key[0]


@torch.no_grad()
def sample(model, *, n: int = 32, seed: int = 0, max_new_tokens: int = 24, temperature: float = 1.0,
           top_p: float | None = None, prompt: str | None = None) -> torch.Tensor:
    """`n` samples of `max_new_tokens` tokens each after BOS (+ `prompt`): [n, prompt_len + max_new_tokens]."""
    start = model.to_tokens(prompt) if prompt else torch.tensor([[model.tokenizer.bos_token_id]])  # [1, P]
    torch.manual_seed(seed)
    out = model.generate(start.repeat(n, 1).to(model.cfg.device), max_new_tokens=max_new_tokens,
                         temperature=temperature, top_p=top_p, stop_at_eos=False, verbose=False,
                         use_past_kv_cache=True)
    return out.clone()  # generate returns an inference-mode tensor, unusable later under autograd


def category_rate(model, tokens: torch.Tensor, members, prompt_len: int = 1) -> float:
    """Share of generated tokens (after the first `prompt_len`) that are category members."""
    members = set(members)
    words = token_words(model, tokens[:, prompt_len:].flatten())
    return sum(w in members for w in words) / max(len(words), 1)


@torch.no_grad()
def coherence_loss(model, tokens: torch.Tensor, prompt_len: int = 1) -> float:
    """The model's mean next-token loss on the generated tokens (call it outside any steering context)."""
    loss = model(tokens.to(model.cfg.device), return_type="loss", loss_per_token=True)  # [n, T - 1]
    return loss[:, prompt_len - 1:].mean().item()


@torch.no_grad()
def output_feature(model, sae, members) -> tuple[int, float]:
    """The feature of a residual-stream `sae` whose decoder row raises the logits of `members` most over the
    vocabulary's mean (through the final norm's linear part). Returns (feature, mean logit gain per unit)."""
    vocab = token_words(model, range(model.cfg.d_vocab))
    ids = torch.tensor([i for i, w in enumerate(vocab) if w in set(members)], dtype=torch.long)
    if ids.numel() == 0:
        raise ValueError("none of the category's words is a token of the model")
    rows = sae.W_dec.float().to(model.W_U.device)  # [d_sae, d_model]
    if model.cfg.normalization_type in ("LN", "LNPre"):
        rows = rows - rows.mean(dim=1, keepdim=True)  # LayerNorm removes the mean first
    gain = getattr(getattr(model, "ln_final", None), "w", None)
    if gain is not None:
        rows = rows * gain.float()
    logits = rows @ model.W_U.float()  # [d_sae, d_vocab]
    score = logits[:, ids].mean(dim=1) - logits.mean(dim=1)  # [d_sae]
    best = int(score.argmax())
    return best, float(score[best])
