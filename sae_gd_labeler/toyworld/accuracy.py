"""How well the discriminator knows the world: balanced accuracy over (word, label) pairs on fresh contexts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformer_lens import HookedTransformer

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.toyworld import taxonomy as tx
from sae_gd_labeler.toyworld.corpus import SentenceGenerator
from sae_gd_labeler.toyworld.discriminator import PromptEncoder
from sae_gd_labeler.toyworld.questions import UNTAUGHT, is_member


def _balanced(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float, float, float]:
    """(balanced accuracy, true-positive rate, true-negative rate); a missing class counts as 1.0."""
    pos, neg = truth, ~truth
    tpr = (pred & pos).sum().item() / pos.sum().item() if pos.any() else 1.0
    tnr = (~pred & neg).sum().item() / neg.sum().item() if neg.any() else 1.0
    return (tpr + tnr) / 2, tpr, tnr


@torch.no_grad()
def label_sweep_margins(disc: Discriminator, pairs: Sequence[tuple[str, str]], labels: Sequence[str],
                        max_rows: int = 1024) -> torch.Tensor:
    """yes-minus-no margins [n_pairs, n_labels] of (context, token) pairs for every label (all of the same
    length in tokens): each prefix runs once and all labels are scored after it (`Discriminator.answer_grid`)."""
    label_ids = torch.tensor([disc.label_ids(lab) for lab in labels], device=disc.device)  # [L, K]
    cache = disc.cache_prefixes([Example(context, token, 0.0) for context, token in pairs], max_rows=max_rows)
    return disc.answer_grid(cache, label_ids.expand(len(pairs), -1, -1), max_rows=max_rows).cpu()


def membership_accuracy(model: HookedTransformer, encoder: PromptEncoder, words: Sequence[str] | None = None,
                        labels: Sequence[str] | None = None, seed: int = 12345, worst: int = 10) -> dict:
    """Balanced accuracy of the yes / no answers over every (word, label) pair.

    Each word is asked about in one fresh corpus context (from a generator seeded with `seed`, not used in
    training). Defaults: every label word, and every label except the untaught `palindrome`.
    Returns pooled balanced accuracy, TPR, TNR, the per-label balanced accuracies and the worst labels.
    """
    words = list(tx.label_words() if words is None else words)
    labels = list([w for w in tx.label_words() if w != UNTAUGHT] if labels is None else labels)
    gen = SentenceGenerator(seed)
    pred = torch.zeros(len(words), len(labels), dtype=torch.bool)  # [n_words, n_labels]
    truth = torch.zeros(len(words), len(labels), dtype=torch.bool)  # [n_words, n_labels]
    contexts = []
    for word in words:
        sentence, pos = gen.sentence_with(word)
        contexts.append(" ".join(sentence[: pos + 1]))
    disc = Discriminator(model, encoder.template)
    by_length: dict[int, list[int]] = {}  # a sweep scores labels of one length: one-word and two-word apart
    for j, lab in enumerate(labels):
        by_length.setdefault(len(lab.split()), []).append(j)
    for columns in by_length.values():
        margins = label_sweep_margins(disc, list(zip(contexts, words)), [labels[j] for j in columns])  # [n, c]
        pred[:, columns] = margins > 0
    for i, word in enumerate(words):
        truth[i] = torch.tensor([is_member(word, lab) for lab in labels])
    bal, tpr, tnr = _balanced(pred, truth)
    per_label = {lab: _balanced(pred[:, j], truth[:, j])[0] for j, lab in enumerate(labels)}
    wrong = (pred != truth).nonzero().tolist()
    return {
        "balanced_accuracy": bal, "tpr": tpr, "tnr": tnr,
        "n_pairs": pred.numel(), "n_positive": int(truth.sum()), "n_errors": len(wrong),
        "per_label": per_label,
        "worst_labels": sorted(per_label.items(), key=lambda kv: kv[1])[:worst],
        "example_errors": [(words[i], labels[j], bool(truth[i, j])) for i, j in wrong[:20]],
    }
