"""Does the search survive a large vocabulary? The toy world's discriminator with N distractor tokens.

`with_distractors(world, n)` copies the toy world's discriminator and appends n tokens, each an English word
the toy world does not use, with an embedding and unembedding drawn like those of its words: real label
vocabularies are tens of thousands of whole words, almost none of them near a given feature, and a search
that works on the toy world's ~700 words may only work because any random start is one of them.
`run_large_vocab` then labels the toy world's synthetic category features with that discriminator and
reports, per run, whether the category name came back, the exact losses of the returned label and of the
name, and the time per label.

    sae-gd-labeler bench-quality --distractors 50000 --json large_vocab.json
    python -m sae_gd_labeler.bench.large_vocab --distractors 50000 --config '{"discrete_topk": 16}'
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from transformer_lens import HookedTransformer

from sae_gd_labeler.bench.quality import labeled_seeds
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.feature_batch import FeatureBatch
from sae_gd_labeler.search.labeler import split_examples
from sae_gd_labeler.search.objective import prediction_loss
from sae_gd_labeler.toyworld.discriminator import model_config
from sae_gd_labeler.toyworld.tokenizer import word_level_tokenizer

DISTRACTORS = 50_000


def distractor_words(n: int, taken: set[str], seed: int = 0) -> list[str]:
    """n distinct English words (from the shipped WordNet list) that are not in `taken`, drawn at random:
    whole words to every candidate filter ("words", and "dictionary", which the default vocabulary is for a
    tokenizer this large). Their text means nothing to the model: what it reads is the embedding."""
    from sae_gd_labeler.data.english_words import english_words

    pool = sorted(w for w in english_words() if w not in taken)
    if n > len(pool):
        raise ValueError(f"{n} distractors asked for; the English word list has only {len(pool)} words to spare")
    return random.Random(seed).sample(pool, n)


def distractor_weights(model: HookedTransformer, real_ids: torch.Tensor, n: int,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W_E rows [n, d_model], W_U columns [d_model, n], b_U entries [n]) for n new tokens.

    Each new token's (embedding, unembedding, bias) is drawn jointly from a Gaussian with the mean and full
    covariance of those of the real word tokens `real_ids`. Why this rather than per-dimension statistics:
    it keeps the norms, the directions the real words share and the correlation between a word's embedding
    and its unembedding, so a distractor is as plausible an input (and as plausible a next token, which the
    start pool's prior and the naturalness term read) as a real word. It does not copy any real word's
    meaning: a distractor is a random point of the real words' cloud, not a near-synonym of a category.
    """
    rows = torch.cat([model.W_E[real_ids], model.W_U[:, real_ids].T, model.b_U[real_ids, None]], dim=1)
    rows = rows.detach().double()  # [V, 2 * d_model + 1]
    mean = rows.mean(0)
    cov = torch.cov(rows.T)  # [D, D]
    jitter = 1e-6 * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)
    chol = torch.linalg.cholesky(cov + jitter)
    gen = torch.Generator().manual_seed(seed)
    drawn = mean + torch.randn(n, len(mean), generator=gen, dtype=torch.float64) @ chol.T  # [n, D]
    drawn = drawn.to(model.W_E.dtype)
    d = model.cfg.d_model
    return drawn[:, :d], drawn[:, d:2 * d].T.contiguous(), drawn[:, 2 * d]


def with_distractors(world, n: int = DISTRACTORS, seed: int = 0) -> Discriminator:
    """The toy world's discriminator (a copy; the world's own model is untouched) with n distractor tokens
    appended to its vocabulary (ids d_vocab .. d_vocab + n - 1), asked with the world's template."""
    model = world.model
    words = list(model.tokenizer.get_vocab())
    ordered = sorted(words, key=model.tokenizer.get_vocab().get)
    extra = distractor_words(n, set(words), seed)
    tokenizer = word_level_tokenizer([w for w in ordered if w not in model.tokenizer.all_special_tokens] + extra)
    if len(tokenizer) != model.cfg.d_vocab + n:
        raise ValueError(f"the extended tokenizer has {len(tokenizer)} tokens, expected {model.cfg.d_vocab + n}")
    real = candidate_token_ids(Discriminator(model, world.template), "words").cpu()
    W_E, W_U, b_U = distractor_weights(model, real, n, seed)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["embed.W_E"] = torch.cat([state["embed.W_E"], W_E])
    state["unembed.W_U"] = torch.cat([state["unembed.W_U"], W_U], dim=1)
    state["unembed.b_U"] = torch.cat([state["unembed.b_U"], b_U])
    cfg = model_config(d_vocab=model.cfg.d_vocab + n, seed=model.cfg.seed)
    with torch.device("cpu"):
        big = HookedTransformer(cfg, tokenizer=tokenizer)
    big.load_state_dict(state)
    return Discriminator(big.eval(), world.template)


@dataclass
class LargeVocabRun:
    category: str
    seed: int
    ceiling_ok: bool  # no real word has a lower exact loss than the category name
    label: str | None
    recovered: bool
    label_loss: float  # exact loss on all training examples of the returned label
    name_loss: float  # ... and of the category name
    seconds_per_label: float


def best_real_rival(disc: Discriminator, data, name: str, n_real: int, config: LabelerConfig,
                    candidates: torch.Tensor) -> tuple[float, float]:
    """(exact loss of `name`, lowest exact loss of any other real word, ids below n_real) on all training
    examples: the toy world's own ceiling check, restricted to the real words.

    Exhaustive, but pruned exactly: the loss is a weighted sum of non-negative per-example losses plus the
    naturalness term, so its part on a few examples (the probe rows) is a lower bound, and a word whose bound
    is already above the name's loss cannot beat it. Only the others are scored on every example.
    """
    batch = FeatureBatch(disc, [data], candidates, config)
    real = (candidates < n_real).nonzero().squeeze(1).cpu()  # [V] candidate indices of the real words
    target = int((candidates == disc.label_ids(name)[0]).nonzero())
    zeros = lambda n: torch.zeros(n, dtype=torch.long)
    name_loss = float(batch.exact_loss(zeros(1), torch.tensor([target]), rowset="train"))
    pos, neg = len(batch.pos_rows[0]), len(batch.neg_rows[0])
    bound = []
    for rows, answer in batch.hard_answers(zeros(len(real)), real, rowset="probe"):
        loss = prediction_loss(answer, batch.targets_host[rows])  # [probe rows]
        if (loss < 0).any():  # the bound needs non-negative per-example losses
            raise ValueError("a per-example loss is negative; the pruned ceiling does not apply")
        weight = torch.where(batch.positive_host[rows], 0.5 / pos, 0.5 / neg)
        bound.append(float((weight * loss).sum()))
    bound = torch.tensor(bound) - config.kl_weight * batch.log_q[0, real].cpu()  # [V]
    rivals = real[(bound < name_loss) & (real != target)]
    if len(rivals) == 0:
        return name_loss, float("inf")
    return name_loss, float(batch.exact_loss(zeros(len(rivals)), rivals, rowset="train").min())


def run_large_vocab(world, disc: Discriminator, categories: Sequence[str], seeds: Sequence[int],
                    config: LabelerConfig | None = None, n_examples: int = 96) -> list[LargeVocabRun]:
    """Label every category x seed (the runs of `bench-quality`) with `disc` (from `with_distractors`).

    ceiling_ok is checked over the real words only (`best_real_rival`), as `bench-quality` does over the toy
    world's vocabulary: the distractors change no real word's answers, and its naturalness term only by one
    constant per feature (they add to q's normaliser), so this is the same check. Whether a distractor beats
    the name is left to the losses reported: a miss with label_loss above name_loss is a miss of the search.
    """
    config = config if config is not None else LabelerConfig()
    n_real = world.model.cfg.d_vocab
    candidates = candidate_token_ids(disc, config.candidate_vocab)
    runs = []
    with disc.frozen():
        for seed, cfg, features, labels, per_label in labeled_seeds(world, disc, categories, seeds, config,
                                                                     n_examples):
            for c in categories:
                name_loss, rival = best_real_rival(disc, split_examples(c, features[c], cfg), c, n_real, cfg,
                                                   candidates)
                lab = labels[c]
                runs.append(LargeVocabRun(
                    category=c, seed=seed, ceiling_ok=rival > name_loss, label=lab.label, recovered=lab.label == c,
                    label_loss=lab.candidates[0].loss if lab.candidates else float("nan"), name_loss=name_loss,
                    seconds_per_label=per_label))
    return runs


def summarize(runs: Sequence[LargeVocabRun]) -> dict:
    fair = [r for r in runs if r.ceiling_ok]
    misses = [r for r in fair if not r.recovered]
    return {
        "runs": len(runs),
        "ceiling_ok_runs": len(fair),
        "recovered_where_ceiling_ok": sum(r.recovered for r in fair),
        "recovery_rate_where_ceiling_ok": sum(r.recovered for r in fair) / len(fair) if fair else float("nan"),
        "search_misses": sum(r.label_loss > r.name_loss for r in misses),  # the name was better: never reached
        "seconds_per_label": sum(r.seconds_per_label for r in runs) / len(runs) if runs else float("nan"),
    }


def run_cli(distractors: int, seeds: int, categories: str | None, method: str | None, json_path: Path | None,
            config: dict | None = None, distractor_seed: int = 0) -> int:
    """The stress test as a command: a table of the runs, the summary, optionally everything as JSON."""
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    names = categories.split(",") if categories else list(world.categories)
    unknown = sorted(set(names) - set(world.categories))
    if unknown:
        raise SystemExit(f"unknown categories {unknown}; valid: {', '.join(world.categories)}")
    cfg = LabelerConfig(**(config or {}))
    cfg = cfg if method is None else cfg.replace(method=method)
    disc = with_distractors(world, distractors, seed=distractor_seed)
    runs = run_large_vocab(world, disc, names, range(seeds), cfg)
    table = Table(title=f"label quality with {distractors} distractor tokens (method {cfg.method}, {seeds} seeds)")
    for col in ("category", "seed", "ceiling ok", "label", "ok", "label loss", "name loss", "s / label"):
        table.add_column(col)
    for r in runs:
        table.add_row(r.category, str(r.seed), "yes" if r.ceiling_ok else "no", str(r.label),
                      "yes" if r.recovered else "no", f"{r.label_loss:.3f}", f"{r.name_loss:.3f}",
                      f"{r.seconds_per_label:.3f}")
    console = Console(width=140)
    console.print(table)
    summary = summarize(runs)
    console.print_json(data=summary)
    if json_path:
        result = {"distractors": distractors, "distractor_seed": distractor_seed, "config": cfg.to_dict(),
                  "summary": summary, "runs": [asdict(r) for r in runs]}
        json_path.write_text(json.dumps(result, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distractors", type=int, default=DISTRACTORS)
    parser.add_argument("--distractor-seed", type=int, default=0, help="another draw of the distractors")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per category (0..N-1)")
    parser.add_argument("--categories", type=str, default=None, help="comma-separated; default all")
    parser.add_argument("--method", choices=["discrete", "soft", "hybrid"], default=None)
    parser.add_argument("--config", type=json.loads, default=None, metavar="JSON",
                        help='LabelerConfig fields, e.g. \'{"discrete_topk": 16}\' (default: the defaults)')
    parser.add_argument("--json", type=Path, help="write the runs and the summary here")
    args = parser.parse_args(argv)
    return run_cli(args.distractors, args.seeds, args.categories, args.method, args.json, args.config,
                   args.distractor_seed)


if __name__ == "__main__":
    raise SystemExit(main())
