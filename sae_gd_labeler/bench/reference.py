"""The original authors' method, written plainly: the baseline that `sae-gd-labeler bench` compares to.

What their code did (see the project notes on the method): one feature per run, one restart, a free
vector v over the whole vocabulary (N(0, 1)), p = softmax(v), e = p @ W_E in the label slot. Only the
sentence (context) is cached; every step runs the whole question, which holds the asked-about token
and the label mid-question, with full-vocabulary logits at every position. The readout is the
cross-entropy of the yes / no answer token in the full softmax; the naturalness term KL(p || q) takes q
from those same full logits at the position before the label. float32, AdamW, fixed steps; the label
is the argmax of p at the end.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator, PrefixCache
from sae_gd_labeler.readout.template import CONTEXT, LABEL
from sae_gd_labeler.search.objective import entropy


@dataclass(frozen=True)
class ReferenceSettings:
    """Their typical settings (they tuned these by hand per feature)."""

    steps: int = 300
    lr: float = 0.1
    weight_decay: float = 0.01
    kl_weight: float = 0.2
    entropy_weight: float = 0.2
    batch: int = 15
    activation_threshold: float = 0.0
    seed: int = 0


@dataclass
class ReferenceResult:
    label: str
    token_id: int
    top10: list[tuple[str, float]]  # the top tokens of p at the end with their probabilities
    seconds: float
    steps: int
    losses: list[float] = field(default_factory=list)


class ReferencePrompts:
    """One feature's prompts split as in their code: cached context, then the question run every step."""

    def __init__(self, disc: Discriminator, examples: Sequence[Example], threshold: float = 0.0):
        text = disc.template.text
        context_end = text.index(CONTEXT) + len(CONTEXT)
        head, question = text[:context_end], text[context_end:text.index(LABEL)].rstrip()
        if "{token}" not in question:
            raise ValueError("the reference path needs {token} after {context} in the template")
        self.disc = disc
        encode = disc._encode
        contexts = [disc.bos_ids + encode(head.replace(CONTEXT, ex.context)) for ex in examples]
        self.cache: PrefixCache = disc.cache_token_rows(contexts)
        self.questions = [encode(question.replace("{token}", ex.token)) for ex in examples]
        if min(len(q) for q in self.questions) == 0:
            raise ValueError("the reference path needs at least one token between {context} and {label}")
        self.positive = torch.tensor([ex.activation > threshold for ex in examples])

    def loss(self, v: Tensor, rows: Tensor, kl_weight: float, entropy_weight: float) -> Tensor:
        """Their objective on examples `rows` for label logits v [d_vocab] -> scalar."""
        disc, model = self.disc, self.disc.model
        suffix = disc.suffix_ids
        seqs = [self.questions[r] + [disc.yes_id] + suffix for r in rows.tolist()]  # yes_id: placeholder
        width = max(len(s) for s in seqs)
        tokens = torch.full((len(seqs), width), disc.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):  # right-padded: padding after the answer changes nothing before it
            tokens[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        label_pos = torch.tensor([len(self.questions[r]) for r in rows.tolist()])  # [B]
        answer_pos = torch.tensor([len(s) - 1 for s in seqs])  # [B]

        p = v.softmax(-1)  # [d_vocab]
        embed = p.to(model.W_E.dtype) @ model.W_E  # [d_model]

        def inject(x: Tensor, hook) -> Tensor:  # x [B, T, d_model]
            x = x.clone()
            x[torch.arange(len(seqs)), label_pos] = embed.to(x.dtype)
            return x

        prefixes = self.cache.select(rows)
        with model.hooks(fwd_hooks=[("hook_embed", inject)]):  # the cache prepends the prefix mask
            logits = model(tokens.to(disc.device), attention_mask=mask.to(disc.device),
                           past_kv_cache=prefixes.frozen_kv_cache())  # [B, T, d_vocab], all positions
        log_probs = logits.float().log_softmax(-1)
        b = torch.arange(len(seqs))
        target = torch.where(self.positive[rows], disc.yes_id, disc.no_id).to(log_probs.device)
        ce = -log_probs[b, answer_pos, target].mean()
        log_q = log_probs[b, label_pos - 1].detach()  # [B, d_vocab] the model's guess for the slot
        kl = ((p * p.clamp_min(1e-30).log())[None] - p[None] * log_q).sum(-1).mean()
        return ce + kl_weight * kl + entropy_weight * entropy(p)


def reference_label(disc: Discriminator, examples: Sequence[Example],
                    settings: ReferenceSettings | None = None) -> ReferenceResult:
    """Label one feature the way the seed paper's code did."""
    s = settings if settings is not None else ReferenceSettings()
    start = time.perf_counter()
    prompts = ReferencePrompts(disc, examples, s.activation_threshold)
    gen = torch.Generator().manual_seed(s.seed)
    pos = prompts.positive.nonzero().flatten()
    neg = (~prompts.positive).nonzero().flatten()
    v = torch.randn(disc.d_vocab, generator=gen).to(disc.device).requires_grad_(True)
    opt = torch.optim.AdamW([v], lr=s.lr, weight_decay=s.weight_decay)
    losses = []
    with disc.frozen():
        for _ in range(s.steps):
            n_pos = s.batch // 2  # 50 / 50 batches, as they found necessary
            rows = torch.cat([pos[torch.randint(len(pos), (n_pos,), generator=gen)],
                              neg[torch.randint(len(neg), (s.batch - n_pos,), generator=gen)]])
            loss = prompts.loss(v, rows, s.kl_weight, s.entropy_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    p = v.detach().softmax(-1)
    top = p.topk(10)
    decode = disc.tokenizer.decode
    return ReferenceResult(
        label=decode([int(top.indices[0])]).strip(),
        token_id=int(top.indices[0]),
        top10=[(decode([int(i)]).strip(), float(pr)) for pr, i in zip(top.values, top.indices)],
        seconds=time.perf_counter() - start,
        steps=s.steps,
        losses=losses,
    )
