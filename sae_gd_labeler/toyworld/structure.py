"""Does the residual stream carry category structure? A nearest-centroid probe on corpus tokens."""

from __future__ import annotations

import torch
from transformer_lens import HookedTransformer

from sae_gd_labeler.toyworld import taxonomy as tx
from sae_gd_labeler.toyworld.corpus import SentenceGenerator
from sae_gd_labeler.toyworld.discriminator import PromptEncoder


@torch.inference_mode()
def category_probe(model: HookedTransformer, encoder: PromptEncoder, hooks: list[str], n_sentences: int = 600,
                   seed: int = 4242) -> dict[str, float]:
    """Held-out accuracy of classifying a word's leaf category from its activation, per hook.

    Centroids (of unit-normalised, mean-centred activations) come from half of the sentences, accuracy from
    the other half; words seen in the second half only also count, so a hook must generalise by category.
    """
    leaf = tx.leaf_of()
    gen = SentenceGenerator(seed)
    sentences = [gen.sentence() for _ in range(n_sentences)]
    ids, _ = encoder.pad_batch([encoder.sentence(" ".join(s)) for s in sentences])  # [n, L]
    _, cache = model.run_with_cache(ids, names_filter=hooks)
    cats = sorted(set(leaf.values()))
    rows, labels, halves = [], [], []
    for i, s in enumerate(sentences):
        for j, w in enumerate(s):
            if w in leaf:
                rows.append((i, j + 1))  # +1: BOS
                labels.append(cats.index(leaf[w]))
                halves.append(i % 2)
    idx_s = torch.tensor([r[0] for r in rows])
    idx_p = torch.tensor([r[1] for r in rows])
    y = torch.tensor(labels)  # [tokens]
    test = torch.tensor(halves).bool()  # [tokens]
    out = {}
    for hook in hooks:
        x = cache[hook][idx_s, idx_p]  # [tokens, d_model]
        x = x - x[~test].mean(0)
        x = x / x.norm(dim=-1, keepdim=True)
        centroids = torch.stack([x[~test & (y == c)].mean(0) if (~test & (y == c)).any()
                                 else torch.zeros(x.shape[1]) for c in range(len(cats))])  # [cats, d_model]
        pred = (x[test] @ centroids.T).argmax(-1)  # [test tokens]
        out[hook] = round((pred == y[test]).float().mean().item(), 4)
    return out
