"""Train the toy discriminator with plain torch: next-token LM on corpus sentences + membership questions."""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from transformer_lens import HookedTransformer

from sae_gd_labeler.toyworld.corpus import SentenceGenerator
from sae_gd_labeler.toyworld.discriminator import PromptEncoder, yes_no_margin
from sae_gd_labeler.toyworld.packing import packed_windows
from sae_gd_labeler.toyworld.questions import QuestionSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiscriminatorTrainingConfig:
    steps: int = 1400
    question_rows: int = 160  # membership questions per step
    compound_fraction: float = 0.0  # compound questions on top, per one-word question ("is apple a red fruit ?")
    lm_rows: int = 16  # packed corpus windows per step
    lm_window: int = 64  # tokens per window (the model's n_ctx): every position sees packed text
    lm_weight: float = 0.5  # weight of the next-token loss against the answer loss
    lr: float = 2e-3
    warmup: int = 100
    final_lr_fraction: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 250
    n_probe: int = 2000  # held-out questions for the progress log

    def to_dict(self) -> dict:
        return asdict(self)


def _lr_factor(step: int, cfg: DiscriminatorTrainingConfig) -> float:
    """Linear warm-up, then cosine decay to `final_lr_fraction`."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.final_lr_fraction + (1 - cfg.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * t))


class _BatchMaker:
    """Seeded training rows: question prompts (answer target at the end) and packed corpus windows (LM)."""

    def __init__(self, encoder: PromptEncoder, seed: int, window: int, compound_fraction: float):
        self.encoder = encoder
        # one-word questions from their own stream, as many per step as without compounds; the compound
        # questions (mostly two-word labels) from another
        self.questions = QuestionSampler(seed, compounds=compound_fraction > 0)
        self.compound_fraction = compound_fraction
        self.compound_questions = QuestionSampler(seed + 3, p_compound=1.0) if compound_fraction > 0 else None
        sentences = SentenceGenerator(seed + 2, compounds=compound_fraction > 0)
        stream = (" ".join(sentences.sentence()) for _ in itertools.count())
        self.windows = packed_windows(encoder, stream, window)

    def questions_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n one-word questions, then `round(n * compound_fraction)` compound ones (N rows in all): prompt ids
        [N, L] (right-padded), LM targets [N, L] (-100 = none), answer targets [N]."""
        enc = self.encoder
        questions = [self.questions.sample() for _ in range(n)]
        if self.compound_questions is not None:
            questions += [self.compound_questions.sample() for _ in range(round(n * self.compound_fraction))]
        rows, context_lens, answers = [], [], []
        for q in questions:
            rows.append(enc.prompt(q.context, q.token, q.label))
            context_lens.append(1 + len(q.context.split()))  # BOS + context: a prefix of a corpus sentence
            answers.append(enc.yes if q.answer else enc.no)
        ids, _ = enc.pad_batch(rows)  # [n, L]
        lm_targets = torch.full_like(ids, -100)  # [n, L]
        lm_targets[:, :-1] = ids[:, 1:]
        inside = torch.arange(ids.shape[1])[None, :] < (torch.tensor(context_lens)[:, None] - 1)  # [n, L]
        lm_targets[~inside] = -100  # the question part is not corpus text
        return ids, lm_targets, torch.tensor(answers)

    def lm_batch(self, n: int) -> torch.Tensor:
        return torch.stack([next(self.windows) for _ in range(n)])  # [n, window]


def train_discriminator(model: HookedTransformer, encoder: PromptEncoder,
                        cfg: DiscriminatorTrainingConfig) -> dict:
    """Train `model` in place; returns a log of losses, probe accuracies and the wall time."""
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    maker = _BatchMaker(encoder, cfg.seed, cfg.lm_window, cfg.compound_fraction)
    probe_sampler = QuestionSampler(cfg.seed + 1000, p_compound=cfg.compound_fraction)
    probe = [probe_sampler.sample() for _ in range(cfg.n_probe)]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "W_pos" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "W_pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    history = []
    start = time.perf_counter()
    model.train()
    for step in range(cfg.steps):
        # questions and LM windows differ in length: two passes, so short prompts carry no padding
        ids, q_lm_targets, answers = maker.questions_batch(cfg.question_rows)
        logits = model(ids)  # [Q, L, d_vocab]
        last = (ids != encoder.pad).sum(1) - 1  # [Q]: prompts have no pad inside
        answer_loss = F.cross_entropy(logits[torch.arange(len(ids)), last], answers)
        q_lm = F.cross_entropy(logits.flatten(0, 1), q_lm_targets.flatten(), ignore_index=-100, reduction="sum")
        n_lm = (q_lm_targets >= 0).sum()
        if cfg.lm_rows:
            windows = maker.lm_batch(cfg.lm_rows)  # [W, window]
            w_logits = model(windows)  # [W, window, d_vocab]
            q_lm = q_lm + F.cross_entropy(w_logits[:, :-1].flatten(0, 1), windows[:, 1:].flatten(), reduction="sum")
            n_lm = n_lm + windows[:, 1:].numel()
        lm_loss = q_lm / n_lm
        loss = answer_loss + cfg.lm_weight * lm_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            model.eval()
            margin = yes_no_margin(model, encoder, [(q.context, q.token, q.label) for q in probe])
            model.train()
            truth = torch.tensor([q.answer for q in probe])
            pred = margin > 0
            acc = 0.5 * ((pred & truth).sum() / truth.sum() + (~pred & ~truth).sum() / (~truth).sum()).item()
            row = {"step": step + 1, "seconds": round(time.perf_counter() - start, 1),
                   "answer_loss": round(answer_loss.item(), 4), "lm_loss": round(lm_loss.item(), 4),
                   "probe_balanced_accuracy": round(acc, 4)}
            history.append(row)
            log.info("discriminator %s", row)
    model.eval()
    return {"history": history, "seconds": round(time.perf_counter() - start, 1), "config": cfg.to_dict()}
