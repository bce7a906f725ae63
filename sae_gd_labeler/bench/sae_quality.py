"""Do labels of real SAE features name the category they detect? (toy world, truth known)

A feature "matches" a category when, on held-out corpus sentences, firing (activation > 0) predicts the
token being a member of the category with F1 >= min_f1. Each matching feature is then labeled as
`label_features` labels it, on the other sentences, and the label is right when it is that category's name.

As for the category runs (bench.quality), each feature's ceiling is the one-token label with the lowest exact
loss on its training examples: where it is not the name, the discriminator itself prefers another label for
what the feature does (an SAE feature is not its category), and a search that finds the optimum does not name
it (one that stops short of it may). Recovery where the ceiling is the name is the figure comparable with the
category runs'; named right overall also depends on what the world's SAEs detect.
"""

from __future__ import annotations

import torch

from sae_gd_labeler.bench.quality import best_hard_label
from sae_gd_labeler.data.activations import collect_activations
from sae_gd_labeler.data.sampling import sample_examples
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.sae_labeling import label_sampled
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.labeler import split_examples


@torch.no_grad()
def _firing(world, sae, sentences: list[str], batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(firing [n_tokens, d_sae] bool, token ids [n_tokens]) over the sentences' word tokens."""
    model, hook = world.model, sae.cfg.metadata.hook_name
    special = torch.tensor(model.tokenizer.all_special_ids)
    fired, ids = [], []
    for s in range(0, len(sentences), batch):
        tokens = model.to_tokens(sentences[s:s + batch], padding_side="right")  # [B, T]
        _, cache = model.run_with_cache(tokens, names_filter=[hook])
        acts = sae.encode(cache[hook])  # [B, T, d_sae]
        keep = ~torch.isin(tokens, special)
        fired.append(acts[keep] > 0)
        ids.append(tokens[keep])
    return torch.cat(fired), torch.cat(ids)


def _f1(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """F1 of every column of pred [N, d_sae] against truth [N] -> [d_sae]."""
    tp = (pred & truth[:, None]).sum(0).float()
    return 2 * tp / (pred.sum(0) + truth.sum()).clamp_min(1).float()


def sae_category_quality(world, config: LabelerConfig | None = None, min_f1: float = 0.8,
                         max_per_sae: int = 16, disc: Discriminator | None = None) -> dict:
    """disc: as in run_quality; the SAEs always read the world's own (float32) model."""
    config = config if config is not None else LabelerConfig()
    disc = disc if disc is not None else Discriminator(world.model, world.template)
    half = len(world.corpus) // 2
    train_sentences, test_sentences = world.corpus[:half], world.corpus[half:]
    vocab = world.model.tokenizer.get_vocab()
    results = []
    for hook, sae in world.saes.items():
        fired, ids = _firing(world, sae, test_sentences)
        best_f1, best_cat = torch.zeros(sae.cfg.d_sae), [None] * sae.cfg.d_sae
        for cat in world.categories:
            members = torch.tensor([vocab[w] for w in world.taxonomy[cat] if w in vocab])
            f1 = _f1(fired, torch.isin(ids, members))
            better = f1 > best_f1
            best_f1 = torch.where(better, f1, best_f1)
            for f in better.nonzero().flatten().tolist():
                best_cat[f] = cat
        matching = (best_f1 >= min_f1).nonzero().flatten()
        matching = matching[best_f1[matching].argsort(descending=True)][:max_per_sae].tolist()
        if not matching:
            continue
        # as label_features(sae, matching, ..., example_fn=world.within_sentence), keeping each one's examples
        records = collect_activations(world.model, sae, train_sentences, matching)
        sampled = sample_examples(records, world.model.tokenizer, config)
        labels, examples = label_sampled(matching, sampled, records, sae=sae, model=world.model, disc=disc,
                                         config=config, prepare=world.within_sentence, baselines=False)
        for f in matching:
            lab, ceiling = labels[f], None
            if lab.labeled:  # its split held enough examples: the same split again, for the ceiling
                train, heldout = examples[f]
                with disc.frozen():
                    ceiling = best_hard_label(disc, split_examples(f, train, config, heldout), config)
            results.append({"hook": hook, "feature": f, "category": best_cat[f], "f1": float(best_f1[f]),
                            "label": lab.label, "status": lab.status, "right": lab.label == best_cat[f],
                            "ceiling_label": ceiling, "ceiling_ok": ceiling == best_cat[f]})
    named = [r["right"] for r in results]
    fair = [r["right"] for r in results if r["ceiling_ok"]]
    return {"min_f1": min_f1, "n_matching": len(results),
            "named_right_rate": sum(named) / len(named) if named else float("nan"),
            "n_ceiling_ok": len(fair), "named_right_where_ceiling_ok": sum(fair), "features": results}
