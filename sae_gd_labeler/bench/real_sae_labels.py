"""Our labels of real SAE features of a real model, against the baselines and an LLM-written explanation,
under two judges.

    python -m sae_gd_labeler.bench.real_sae_labels --features 200 --seed 0 --json real_sae_labels.json

The subject is SmolLM2-135M-Instruct with one of its shipped SAEs (`saes.load_packaged_saes`), read over the
real corpus (`data.real_corpus`). Features are drawn at random (by `--seed`) among those alive with enough
examples to label. Each is labeled by `label_sampled` (as `label_features` and bulk runs label), with SmolLM2
itself as the discriminator (its measured default readout), beside:
- the most frequent firing token and the output projection (top token of W_dec[i] @ W_U), our baselines;
- an LLM-written explanation: SmolLM2-135M-Instruct prompted as delphi's explainer (`scoring.explainer`), for
  `--explain` of the features drawn at random among them (about 20 s per explanation on one CPU core).
Every label is scored on the same held-out examples by SmolLM2 (the judge ours were fitted to) and a second
time by Gemma-3-270M (`--judge`), which none of them was fitted to. Reported: mean held-out balanced accuracy,
F1 and AUROC per method and judge (over all labeled features for ours and the two baselines, and over the
explained subset for all four), the weak fraction of ours, seconds per feature, and `--show` features drawn
at random with their top contexts.

`--template context` labels and judges with the cloze that shows each example's text before its word
(`template.CONTEXT_CLOZE_TEXT`, contexts cut to their last sentence by `data.sentence.last_sentence`) instead
of each model's default, which shows the word alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUBJECT = "smollm2-135m-instruct"
METRICS = ("balanced_accuracy", "f1", "auroc")
OURS, EXPLANATION = "ours", "llm_explanation"
TEMPLATES = ("default", "context")


def pick_features(sampled: dict, n: int, seed: int) -> list[int]:
    """`n` features drawn at random among those with enough examples to label (all of them if fewer)."""
    ready = sorted(f for f, s in sampled.items() if s.ok)
    return sorted(random.Random(seed).sample(ready, min(n, len(ready))))


def summarize(scores: dict[str, dict[int, dict[str, float]]], weak_threshold: float) -> dict[str, Any]:
    """Mean of each metric per method over the features every method could be scored on."""
    common = set.intersection(*(set(f for f, m in per.items() if m) for per in scores.values()))
    if not common:
        return {"n_features": 0}
    out: dict[str, Any] = {"n_features": len(common)}
    for method, per in scores.items():
        out[method] = {m: round(statistics.fmean(per[f][m] for f in common), 4) for m in METRICS}
        out[method]["below_weak_threshold"] = round(
            sum(per[f]["balanced_accuracy"] < weak_threshold for f in common) / max(len(common), 1), 4)
    return out


def top_contexts(record, texts, n: int = 5) -> list[str]:
    """The feature's highest-activation contexts as text, the firing token in [[ ]]."""
    top = record.top
    lines = []
    for i in range(min(n, len(top))):
        tokens = texts.context(top.context_ids(i))
        lines.append(f"{''.join(tokens[:-1])}[[{tokens[-1]}]]  ({top.activation[i].item():.2f})")
    return lines


def run(features: int = 200, seed: int = 0, hook: str = "blocks.7.hook_resid_post", max_tokens: int = 100_000,
        judge: str | None = "gemma-3-270m", show: int = 10, dataset: str | None = None,
        explain: int = 40, examples_per_feature: int = 64, own_tokens: int | None = None,
        kl_weight: float | None = None, template: str = "default",
        save: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The benchmark (see the module docstring); `save` is handed the results after every stage."""
    import torch

    from sae_gd_labeler.data.activations import ActivationConfig, collect_activations
    from sae_gd_labeler.data.real_corpus import cached_corpus
    from sae_gd_labeler.data.sampling import sample_examples
    from sae_gd_labeler.data.sentence import last_sentence
    from sae_gd_labeler.models import load_packaged_model
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.readout.template import CONTEXT_CLOZE_TEXT, AnswerTemplate
    from sae_gd_labeler.runs.example_records import TokenTexts
    from sae_gd_labeler.sae_labeling import label_sampled
    from sae_gd_labeler.saes import load_packaged_saes
    from sae_gd_labeler.scoring.baselines import MOST_FREQUENT, OUTPUT_PROJECTION
    from sae_gd_labeler.scoring.explainer import explain_features
    from sae_gd_labeler.scoring.text_score import labeler_split, score_label_sets
    from sae_gd_labeler.search.config import LabelerConfig

    if template not in TEMPLATES:
        raise ValueError(f"template must be one of {TEMPLATES}, got {template!r}")
    in_context = template == "context"
    prompt = AnswerTemplate(CONTEXT_CLOZE_TEXT) if in_context else None  # None: each model's default
    prepare = last_sentence if in_context else (lambda ex: ex)
    torch.manual_seed(seed)
    changes = {"own_token_candidates": own_tokens, "kl_weight": kl_weight}
    config = LabelerConfig(examples_per_feature=examples_per_feature,
                           **{name: value for name, value in changes.items() if value is not None})
    if dataset is None:
        dataset = str(cached_corpus())
    model = load_packaged_model(SUBJECT)
    sae = load_packaged_saes(SUBJECT, [hook])[hook]
    disc = Discriminator(model, prompt)
    timings = {}

    t0 = time.perf_counter()
    records = collect_activations(model, sae, dataset, range(sae.cfg.d_sae), ActivationConfig(max_tokens=max_tokens))
    sampled = sample_examples(records, model.tokenizer, config)
    timings["corpus_pass_s"] = round(time.perf_counter() - t0, 1)
    ids = pick_features(sampled, features, seed)
    statuses = [s.status for s in sampled.values()]
    log.info("%d of %d features can be labeled; labeling %d", sum(s == "ok" for s in statuses), len(statuses),
             len(ids))

    t0 = time.perf_counter()
    labels, examples = label_sampled(ids, sampled, records, sae=sae, model=model, disc=disc, config=config,
                                     prepare=prepare, baselines=True)
    timings["label_s_per_feature"] = round((time.perf_counter() - t0) / len(ids), 2)
    log.info("labeled %d features: %s", len(ids), timings)

    labeled = [f for f in ids if labels[f].labeled]
    explained = sorted(random.Random(seed + 2).sample(labeled, min(explain, len(labeled))))
    t0 = time.perf_counter()
    explanations = explain_features(model, records, explained)
    timings["explanation_s_per_feature"] = round((time.perf_counter() - t0) / max(len(explained), 1), 2)
    log.info("explained %d features: %s", len(explained), timings)

    split = labeler_split({f: examples[f][0] for f in labeled}, config, heldout={f: examples[f][1] for f in labeled})
    texts = {
        OURS: {f: labels[f].label for f in labeled},
        MOST_FREQUENT: {f: labels[f].baselines[MOST_FREQUENT]["label"] for f in labeled},
        OUTPUT_PROJECTION: {f: labels[f].baselines[OUTPUT_PROJECTION]["label"] for f in labeled},
        EXPLANATION: explanations,
    }
    texts = {name: {f: t for f, t in per.items() if t and t.strip()} for name, per in texts.items()}
    token_texts = TokenTexts(model.tokenizer)
    shown = sorted(random.Random(seed + 1).sample(labeled, min(show, len(labeled))))
    results: dict[str, Any] = {}

    def snapshot() -> dict[str, Any]:
        """The results so far (written after every stage, so a stopped run keeps what it measured)."""
        return {
            "subject": SUBJECT, "hook": hook, "seed": seed, "max_tokens": max_tokens, "n_requested": features,
            "examples_per_feature": examples_per_feature, "n_explained": len(explained), "template": template,
            "own_token_candidates": config.own_token_candidates, "kl_weight": config.kl_weight,
            "own_token_labels": sum(bool((labels[f].search_history or {}).get("own_token_label")) for f in labeled),
            "n_labelable": sum(s == "ok" for s in statuses), "n_features_in_sae": len(statuses),
            "n_labeled": len(labeled), "weak_fraction": round(sum(labels[f].status == "weak" for f in labeled)
                                                              / max(len(labeled), 1), 4),
            "timings": timings, "judges": {j: r["summary"] for j, r in results.items()},
            "shown": [{"feature": f, "label": labels[f].label, "status": labels[f].status,
                       "balanced_accuracy": labels[f].metrics.get("balanced_accuracy"),
                       "most_frequent_token": texts[MOST_FREQUENT].get(f),
                       "llm_explanation": texts[EXPLANATION].get(f),
                       "top_contexts": top_contexts(records[f], token_texts)} for f in shown],
            "features": {str(f): {"label": labels[f].label, "status": labels[f].status,
                                  **{name: texts[name].get(f) for name in texts if name != OURS},
                                  "scores": {j: r["per_feature"][str(f)] for j, r in results.items()}}
                         for f in labeled},
        }

    if save is not None:
        save(snapshot())
    judges = {SUBJECT: disc}
    for judge_name in [SUBJECT] + ([judge] if judge else []):
        t0 = time.perf_counter()
        judge_disc = judges.get(judge_name) or Discriminator(load_packaged_model(judge_name), prompt)
        if judge_name == SUBJECT:  # ours and the baselines were scored while labeling: the same numbers
            scores = {OURS: {f: labels[f].metrics for f in labeled},
                      **{b: {f: labels[f].baselines[b]["metrics"] for f in labeled}
                         for b in (MOST_FREQUENT, OUTPUT_PROJECTION)},
                      EXPLANATION: score_label_sets(judge_disc, split, [texts[EXPLANATION]], config)[0]}
        else:
            scored = score_label_sets(judge_disc, split, list(texts.values()), config)
            scores = dict(zip(texts, scored))
        without_explanation = {name: per for name, per in scores.items() if name != EXPLANATION}
        on_explained = {name: {f: per.get(f, {}) for f in explained} for name, per in scores.items()}
        results[judge_name] = {
            "summary": {"all_labeled": summarize(without_explanation, config.weak_threshold),
                        "explained_subset": summarize(on_explained, config.weak_threshold)},
            "per_feature": {str(f): {name: per.get(f, {}) for name, per in scores.items()} for f in labeled}}
        timings[f"judge_{judge_name}_s"] = round(time.perf_counter() - t0, 1)
        log.info("judge %s: %s %s", judge_name, json.dumps(results[judge_name]["summary"]), timings)
        del judge_disc
        if save is not None:
            save(snapshot())
    return snapshot()



def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hook", default="blocks.7.hook_resid_post")
    p.add_argument("--max-tokens", type=int, default=100_000, help="corpus tokens read for the examples")
    p.add_argument("--examples", type=int, default=64, help="examples per feature (a quarter held out)")
    p.add_argument("--explain", type=int, default=40, help="features also given an LLM explanation")
    p.add_argument("--own-tokens", type=int, help="LabelerConfig.own_token_candidates (default: the config's)")
    p.add_argument("--kl-weight", type=float, help="LabelerConfig.kl_weight (default: the config's)")
    p.add_argument("--template", choices=TEMPLATES, default="default",
                   help="'context': the cloze with each example's sentence before its word (default: the word alone)")
    p.add_argument("--judge", default="gemma-3-270m", help="the second judge ('none' to skip)")
    p.add_argument("--show", type=int, default=10, help="features shown with their top contexts")
    p.add_argument("--dataset", help="a JSON-lines corpus (default: the real corpus, built once into the user cache)")
    p.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    def save(out: dict[str, Any]) -> None:
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")

    out = run(args.features, args.seed, args.hook, args.max_tokens, None if args.judge == "none" else args.judge,
              args.show, args.dataset, explain=args.explain, examples_per_feature=args.examples,
              own_tokens=args.own_tokens, kl_weight=args.kl_weight, template=args.template, save=save)
    save(out)
    print(json.dumps({k: out[k] for k in ("n_labeled", "weak_fraction", "timings", "judges")}, indent=1))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
