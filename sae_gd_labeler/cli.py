"""The `sae-gd-labeler` command: label, score, report, export, flow, steer, demo, bench-quality, bench-readouts,
bench-run-memory, bench.

    sae-gd-labeler label --toy-world blocks.1.hook_resid_post   # a bulk run into a run directory, offline
    sae-gd-labeler report label_runs/toy-world_blocks.1.hook_resid_post    # its feature pages
    sae-gd-labeler flow --toy-world --feature blocks.1.hook_resid_post:459 --label   # a labelled flow graph
    sae-gd-labeler demo                       # label features of the shipped toy world, offline
    sae-gd-labeler demo --model smollm2-135m-instruct   # the same on a packaged real LM and its SAE
    sae-gd-labeler bench-quality --json q.json
    sae-gd-labeler bench-readouts --model smollm2-135m-instruct --json readouts.json
    sae-gd-labeler bench --json speed.json
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sae_gd_labeler.demo_real import DEMO_TOKENS, REAL_DEMOS
from sae_gd_labeler.flow.command import add_flow_parser, run_flow
from sae_gd_labeler.runs.command import add_label_parser, input_error, non_negative_int, positive_int, run_label
from sae_gd_labeler.steering.command import add_steer_parser, run_steer

# torch, TransformerLens and sae_lens are imported inside the commands: --help and argument errors answer at once
console = Console(width=None if sys.stdout.isatty() else 140)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sae-gd-labeler", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    add_label_parser(sub)
    add_flow_parser(sub)
    add_steer_parser(sub)
    score = sub.add_parser("score", help="score any labels with a run's discriminator on its held-out examples, "
                                         "beside the run's own labels")
    score.add_argument("run_dir", type=Path, help="a run directory of `sae-gd-labeler label`")
    score.add_argument("--labels", type=Path, required=True,
                       help="labels to score: JSON {feature: text}, a JSON list or JSON lines of objects (our "
                            "labels.jsonl, Neuronpedia exports) or a delphi explanations/ folder")
    score.add_argument("--module", default=None, help="for a delphi folder holding several modules: which one")
    score.add_argument("--device", default=None, help="default: the run's device")
    score.add_argument("--out", type=Path, default=None, help="write the per-feature results here (JSON)")
    report = sub.add_parser("report", help="one self-contained HTML page of a run's features, offline")
    report.add_argument("run_dir", type=Path, help="a run directory of `sae-gd-labeler label`")
    report.add_argument("--out", type=Path, default=None, help="default: RUN_DIR/report.html")
    report.add_argument("--max-features-per-page", type=positive_int, default=1000,
                        help="more features go to report-2.html, ... (default: %(default)s)")
    export = sub.add_parser("export", help="write a run directory's labels for delphi, Neuronpedia or as CSV")
    export.add_argument("run_dir", type=Path, help="a run directory of `sae-gd-labeler label`")
    export.add_argument("--format", required=True, choices=["delphi", "neuronpedia", "csv"])
    export.add_argument("--out", type=Path, default=None, help="folder or file (default: RUN_DIR/export/...)")

    demo = sub.add_parser("demo", help="label the paper's synthetic features and SAE features of the toy world "
                                       "(or of a packaged real LM: --model)")
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="folder for labels.json and the figure")
    demo.add_argument("--sae-features", type=non_negative_int, default=6,
                      help="how many of the most active SAE features (default: %(default)s)")
    demo.add_argument("--model", choices=sorted(REAL_DEMOS), default=None,
                      help="a packaged real LM: the synthetic features in real words and features of its packaged "
                           "SAE over the real corpus, the LM as subject and discriminator (default: the toy world)")
    demo.add_argument("--n-tokens", type=positive_int, default=None,
                      help=f"with --model: corpus tokens read for the SAE features (default: {DEMO_TOKENS})")

    quality = sub.add_parser("bench-quality", help="recovery rate of category labels on the toy world")
    quality.add_argument("--json", type=Path, help="write the full results here")
    quality.add_argument("--seeds", type=positive_int, default=2,
                         help="seeds per category (0..N-1) (default: %(default)s)")
    quality.add_argument("--categories", type=str, default=None, help="comma-separated; default all")
    quality.add_argument("--method", choices=["discrete", "soft", "hybrid"], default=None,
                         help="search method (default: LabelerConfig's default)")
    quality.add_argument("--no-sae", action="store_true", help="skip the SAE-feature part")
    quality.add_argument("--no-compounds", action="store_true",
                         help="skip the compound concepts (two-word labels: K = 1, K = 2 and auto side by side, and "
                              "auto on the one-word categories)")
    quality.add_argument("--multi-token", action="store_true",
                         help="with --model: also the WordNet categories whose names are two or more tokens (K = 1, "
                              "K = 2 and auto side by side; about 70 s per category on 2 CPU cores)")
    quality.add_argument("--world", type=Path, default=None, metavar="DIR",
                         help="a toy world written by `python -m sae_gd_labeler.toyworld.train --out DIR` instead of "
                              "the shipped one")
    quality.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                         help="the discriminator's dtype (a copy of the world's model; the SAEs read the original)")
    quality.add_argument("--distractors", type=int, default=0, metavar="N",
                         help="the large-vocabulary stress test: N word-like distractor tokens added to a copy of the "
                              "toy world's discriminator (category runs only; see bench/large_vocab.py)")
    quality.add_argument("--model", default=None, metavar="NAME",
                         help="a packaged real LM (smollm2-135m-instruct, gemma-3-270m) as the discriminator, with "
                              "its default readout, on WordNet categories and the paper's synthetic features in "
                              "real words, instead of the toy world")

    readouts = sub.add_parser("bench-readouts", help="the discriminator's own accuracy per readout on a packaged "
                                                     "real LM: 20 concepts x 20 words")
    readouts.add_argument("--model", required=True, metavar="NAME",
                          help="a packaged real LM (smollm2-135m-instruct, gemma-3-270m)")
    readouts.add_argument("--readouts", default="yes_no,answer,cause", help="comma-separated, of yes_no,answer,cause")
    readouts.add_argument("--negatives", type=int, default=3, help="other concepts per word (1-19)")
    readouts.add_argument("--json", type=Path, help="write the full results (every pair's score) here")
    readouts.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    readouts.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")

    run_memory = sub.add_parser("bench-run-memory", help="peak memory of a bulk label run as the corpus grows")
    run_memory.add_argument("--multipliers", default="1,10", help="corpus sizes, as multiples of the toy corpus")
    run_memory.add_argument("--features", default="0:64", help="features labeled in each run (default: %(default)s)")
    run_memory.add_argument("--json", type=Path, help="write the results here")

    bench = sub.add_parser("bench", help="speed of the engine against the reference (seed paper) method")
    bench.add_argument("--json", type=Path, help="write the full results here")
    bench.add_argument("--quick", action="store_true", help="fewer features and steps (a smoke run)")
    bench.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    bench.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                       help="our engine's dtype (default bfloat16 on CUDA, float32 elsewhere); the reference "
                            "always runs in float32")
    bench.add_argument("--gemma", action=argparse.BooleanOptionalAction, default=None,
                       help="also the Gemma-2-2B configuration (default: on CUDA only)")
    bench.add_argument("--projection", type=int, default=None, metavar="N",
                       help="label N random features with the default config to project whole-layer hours "
                            "(default 512 on CUDA, none elsewhere)")
    bench.add_argument("--projection-config", type=json.loads, default=None, metavar="JSON",
                       help='LabelerConfig fields for the projections, e.g. \'{"max_rows_per_forward": 8192}\' '
                            "(default: the defaults)")
    bench.add_argument("--toy-world", action=argparse.BooleanOptionalAction, default=True,
                       help="the toy-world speedup (runs on the CPU whatever --device; default on)")
    bench.add_argument("--scaling", action=argparse.BooleanOptionalAction, default=None,
                       help="the scaling grid (default: unless --quick)")
    bench.add_argument("--peak-tflops", type=float, default=None,
                       help="the device's dense matrix peak at --dtype, for the peak fraction "
                            "(default: looked up for known GPUs)")

    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    if args.command == "label":
        return run_label(parser, args, console)
    if args.command == "flow":
        return run_flow(args)
    if args.command == "steer":
        return run_steer(args)
    if args.command == "bench-run-memory":
        return run_bench_run_memory(args)
    if args.command == "score":
        return run_score(args)
    if args.command == "report":
        return run_report(args)
    if args.command == "export":
        return run_export(args)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "bench-quality":
        return run_bench_quality(args)
    if args.command == "bench-readouts":
        return run_bench_readouts(args)
    return run_bench(args)


def run_score(args) -> int:
    from sae_gd_labeler.scoring.run_score import score_run

    try:
        result = score_run(args.run_dir, args.labels, module=args.module, device=args.device)
    except ValueError as e:
        return input_error(e)
    table = Table(title=f"{result['n_scored']} of {result['n_given']} given labels scored on {args.run_dir}'s "
                        "held-out examples")
    for col in ("feature", "given label", "bal. acc.", "F1", "AUROC", "our label", "status", "bal. acc.", "F1",
                "AUROC"):
        table.add_column(col)
    keys = ("balanced_accuracy", "f1", "auroc")
    for row in result["features"][:40]:
        given, ours = row["given"], row.get("ours") or {}
        gm, om = given["metrics"] or {}, ours.get("metrics") or {}
        table.add_row(str(row["feature"]), given["label"][:40], *(_fmt(gm.get(k)) for k in keys),
                      str(ours.get("label", "-")), ours.get("status", "-"), *(_fmt(om.get(k)) for k in keys))
    summary = result["summary"]
    table.add_row("mean", "", *(_fmt(summary["given"].get(k)) for k in keys), "", "",
                  *(_fmt(summary["ours"].get(k)) for k in keys))
    console.print(table)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
        console.print(f"wrote {args.out}")
    return 0


def run_report(args) -> int:
    from sae_gd_labeler.report import write_report

    try:
        path = write_report(args.run_dir, args.out, args.max_features_per_page)
    except (ValueError, FileNotFoundError) as e:
        return input_error(e)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); open it in a browser, it works offline")
    return 0


def run_export(args) -> int:
    from sae_gd_labeler.export import export_run

    try:
        path = export_run(args.run_dir, args.format, args.out)
    except ValueError as e:
        return input_error(e)
    console.print(f"wrote {path}")
    return 0


def run_bench_run_memory(args) -> int:
    from sae_gd_labeler.bench.run_memory import run_memory_bench

    result = run_memory_bench([int(k) for k in args.multipliers.split(",")], args.features, log=console.print)
    console.print(f"peak RSS, largest corpus / smallest: {result['peak_ratio_largest_to_smallest']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


def run_demo(args) -> int:
    from sae_gd_labeler.runs.run_dir import RunDirectory, RunDirectoryError

    if args.n_tokens is not None and args.model is None:
        return input_error(ValueError("--n-tokens applies only with --model (the toy world reads its whole corpus)"))
    try:  # before minutes of work, not after
        RunDirectory(args.out).check_writable()
    except RunDirectoryError as e:
        return input_error(e)
    start = time.perf_counter()
    if args.model is None:
        from sae_gd_labeler.demo import demo

        rows, html = demo(n_sae_features=args.sae_features)
    else:
        from sae_gd_labeler.demo_real import real_demo
        from sae_gd_labeler.models import PackagedModelNotInstalled

        try:
            rows, html = real_demo(args.model, n_sae_features=args.sae_features,
                                   max_tokens=args.n_tokens or DEMO_TOKENS)
        except (PackagedModelNotInstalled, FileNotFoundError) as e:  # each names what to install
            return input_error(e)
    console.print(_demo_table(rows, "toy world" if args.model is None else args.model))
    n_weak = sum(row["status"] == "weak" for row in rows)
    if n_weak:
        console.print(f"{n_weak} of {len(rows)} labels are weak: their held-out score is too low to believe them "
                      "(LabelerConfig.weak_threshold); the page shows why")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "labels.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    (args.out / "report.html").write_text(html)
    console.print(f"wrote {args.out / 'labels.json'} and {args.out / 'report.html'} "
                  f"in {time.perf_counter() - start:.0f} s")
    return 0


def _demo_table(rows: list[dict], world: str) -> Table:
    table = Table(title=f"sae-gd-labeler demo: {world} (truth known for the synthetic features)", show_lines=True)
    for col in ("feature", "expected", "label", "status", "held-out bal. acc.", "top contexts (firing token in [ ])",
                "top candidates (exact loss)"):
        table.add_column(col)
    for row in rows:
        status = "[bold yellow]weak[/]" if row["status"] == "weak" else row["status"]
        contexts = "\n".join(f"...{escape(c['context'][-40:])}[bold]\\[{escape(c['token'])}][/]"
                             for c in row.get("top_contexts", [])[:3])
        table.add_row(row["feature"], row["expected"], str(row["label"]), status, _fmt(row["balanced_accuracy"]),
                      contexts, ", ".join(f"{c['label']} {c['loss']:.2f}" for c in row["candidates"][:4]))
    return table


def run_bench_quality(args) -> int:
    if args.distractors:
        from sae_gd_labeler.bench.large_vocab import run_cli

        return run_cli(args.distractors, args.seeds, args.categories, args.method, args.json)
    if args.model is not None:
        return run_real_bench_quality(args)
    from sae_gd_labeler.bench.quality import as_dicts, run_quality, summarize
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.search.config import LabelerConfig
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world(args.world)
    names = args.categories.split(",") if args.categories else [*world.categories, *world.compounds]
    unknown = sorted(set(names) - set(world.taxonomy))
    if unknown:
        raise SystemExit(f"unknown categories {unknown}; valid: {', '.join(world.taxonomy)}")
    categories = [c for c in names if c not in world.compounds]
    compounds = [] if args.no_compounds else [c for c in names if c in world.compounds]
    import torch

    config = LabelerConfig() if args.method is None else LabelerConfig(method=args.method)
    disc = Discriminator(world.model if args.dtype == "float32" else
                         copy.deepcopy(world.model).to(getattr(torch, args.dtype)), world.template)
    runs = run_quality(world, categories, range(args.seeds), config, disc=disc)
    table = Table(title=f"label quality on the toy world (method {config.method}, {args.seeds} seeds, "
                        f"{args.dtype})")
    for col in ("category", "seed", "ceiling", "label", "ok", "bal. acc.", "baseline", "baseline bal. acc."):
        table.add_column(col)
    for r in runs:
        table.add_row(r.category, str(r.seed), r.ceiling_label + ("" if r.ceiling_ok else " (!)"), str(r.label),
                      "yes" if r.recovered else "no", _fmt(r.balanced_accuracy), r.baseline_label,
                      _fmt(r.baseline_balanced_accuracy))
    console.print(table)
    summary = summarize(runs)
    result = {"config": config.to_dict(), "dtype": args.dtype, "summary": summary, "runs": as_dicts(runs)}
    if not args.no_sae:
        from sae_gd_labeler.bench.sae_quality import sae_category_quality

        result["sae_features"] = sae_category_quality(world, config, disc=disc)
        summary["sae_features_named_right"] = result["sae_features"]["named_right_rate"]
        summary["sae_features_matching_a_category"] = result["sae_features"]["n_matching"]
        summary["sae_features_whose_ceiling_is_the_name"] = result["sae_features"]["n_ceiling_ok"]
        summary["sae_features_named_right_where_ceiling_ok"] = result["sae_features"]["named_right_where_ceiling_ok"]
    if compounds:
        result["compounds"] = _bench_compounds(world, compounds, categories, args.seeds, config, disc)
        summary["compounds"] = result["compounds"]["summary"]
    console.print_json(data=summary)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


def _bench_compounds(world, compounds: list[str], categories: list[str], seeds: int, config, disc) -> dict:
    """The compound part of bench-quality: K = 1, K = 2 and auto on every compound, auto on the one-word
    categories (all but the untaught ones, which no word names)."""
    from sae_gd_labeler.bench.compound_quality import (
        as_dicts,
        auto_length_on_categories,
        run_compound_quality,
        summarize_compounds,
    )

    runs = run_compound_quality(world, compounds, range(seeds), config, disc=disc)
    table = Table(title=f"compound concepts on the toy world ({seeds} seeds)")
    for col in ("concept", "seed", "ceiling", "K=1", "bal. acc.", "K=2", "bal. acc.", "auto", "bal. acc.",
                "best single token", "bal. acc."):
        table.add_column(col)
    for r in runs:
        table.add_row(r.concept, str(r.seed), "ok" if r.ceiling_ok else f"{r.best_rival} (!)", str(r.label_k1),
                      _fmt(r.balanced_accuracy_k1), str(r.label_k2), _fmt(r.balanced_accuracy_k2),
                      str(r.label_auto), _fmt(r.balanced_accuracy_auto), r.best_single_token,
                      _fmt(r.best_single_token_balanced_accuracy))
    console.print(table)
    summary = summarize_compounds(runs)
    taught = [c for c in categories if c not in world.untaught]
    single = auto_length_on_categories(world, taught, range(seeds), config, disc=disc) if taught else None
    if single is not None:
        summary["auto_on_one_word_categories"] = {k: single[k] for k in ("runs", "kept_one_token",
                                                                         "named_the_category")}
    return {"summary": summary, "runs": as_dicts(runs), "auto_on_one_word_categories": single}


def run_real_bench_quality(args) -> int:
    from sae_gd_labeler.bench.real_quality import as_dicts, run_real_quality, summarize_real
    from sae_gd_labeler.data.real_categories import load_categories
    from sae_gd_labeler.models import PACKAGED_MODELS, load_packaged_model
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.search.config import LabelerConfig

    if args.model not in PACKAGED_MODELS:
        raise SystemExit(f"--model {args.model!r}: unknown; valid: {', '.join(PACKAGED_MODELS)}")
    taxonomy = load_categories()
    categories = args.categories.split(",") if args.categories else None
    unknown = sorted(set(categories or ()) - {c.name for c in taxonomy})
    if unknown:
        raise SystemExit(f"unknown categories {unknown}; valid: {', '.join(c.name for c in taxonomy)}")
    disc = Discriminator(load_packaged_model(args.model, dtype=args.dtype))
    config = LabelerConfig() if args.method is None else LabelerConfig(method=args.method)
    runs = run_real_quality(disc, range(args.seeds), config, categories=categories)
    table = Table(title=f"label quality, {args.model} as discriminator ({disc.readout} readout, {args.seeds} seeds)")
    for col in ("feature", "seed", "label", "ok", "top 5", "bal. acc.", "baseline", "baseline bal. acc."):
        table.add_column(col)
    for r in runs:
        table.add_row(r.feature, str(r.seed), str(r.label), "yes" if r.recovered else "no", ", ".join(r.top5),
                      _fmt(r.balanced_accuracy), r.baseline_label, _fmt(r.baseline_balanced_accuracy))
    console.print(table)
    summary = summarize_real(runs)
    result = {"model": args.model, "readout": disc.readout, "config": config.to_dict(), "summary": summary,
              "runs": as_dicts(runs)}
    if args.multi_token and disc.readout != "answer":
        console.print(f"--multi-token needs the label-as-answer readout (this discriminator's is {disc.readout!r}); "
                      "the multi-token categories were left out")
    elif args.multi_token:
        result["multi_token_categories"] = _bench_multi_token(disc, args.model, args.seeds, config)
        summary["multi_token_categories"] = result["multi_token_categories"]["summary"]
    console.print_json(data=summary)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


def _bench_multi_token(disc, model: str, seeds: int, config) -> dict:
    """The compound part of bench-quality --model: WordNet categories whose names are two or more tokens in the
    label slot, labeled with K = 1, K = 2 and auto side by side."""
    from sae_gd_labeler.bench.real_multi_token import as_dicts, run_multi_token_quality, summarize_multi_token

    runs = run_multi_token_quality(disc, range(seeds), config)
    table = Table(title=f"WordNet categories with multi-token names, {model} ({seeds} seeds)")
    for col in ("category", "seed", "tokens", "K=1", "bal. acc.", "K=2", "bal. acc.", "auto", "bal. acc.",
                "name bal. acc.", "ceiling"):
        table.add_column(col)
    for r in runs:
        table.add_row(r.category, str(r.seed), str(r.name_tokens), str(r.label_k1), _fmt(r.balanced_accuracy_k1),
                      str(r.label_k2) + (" (=)" if r.recovered_k2 else ""), _fmt(r.balanced_accuracy_k2),
                      str(r.label_auto) + (" (=)" if r.recovered_auto else ""), _fmt(r.balanced_accuracy_auto),
                      _fmt(r.name_balanced_accuracy), "ok" if r.ceiling_ok else f"{r.rival} (!)")
    console.print(table)
    return {"summary": summarize_multi_token(runs), "runs": as_dicts(runs)}


def run_bench_readouts(args) -> int:
    import torch

    from sae_gd_labeler.bench.readout_accuracy import CONCEPTS, READOUTS, concept_pairs, readout_accuracy
    from sae_gd_labeler.models import PACKAGED_MODELS, load_packaged_model

    if args.model not in PACKAGED_MODELS:
        raise SystemExit(f"--model {args.model!r}: unknown; valid: {', '.join(PACKAGED_MODELS)}")
    names = args.readouts.split(",")
    unknown = sorted(set(names) - set(READOUTS))
    if unknown:
        raise SystemExit(f"unknown readouts {unknown}; valid: {', '.join(READOUTS)}")
    if not 1 <= args.negatives < len(CONCEPTS):
        raise SystemExit(f"--negatives must be from 1 to {len(CONCEPTS) - 1}, got {args.negatives}")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_packaged_model(args.model, dtype=args.dtype)
    pairs = concept_pairs(args.negatives)
    table = Table(title=f"readout accuracy, {args.model} ({len(pairs)} pairs, {args.dtype})")
    for col in ("readout", "AUROC", "top1", "s / 100 pairs"):
        table.add_column(col)
    results = []
    for name in names:
        r = readout_accuracy(model, name, pairs)
        console.print(f"{name}: AUROC {r['auroc']:.3f}, top1 {r['top1']:.3f}, {r['seconds']:.0f} s")
        table.add_row(name, _fmt(r["auroc"]), _fmt(r["top1"]), f"{r['seconds_per_100_pairs']:.2f}")
        results.append(r)
    console.print(table)
    if args.json:
        result = {"model": args.model, "dtype": args.dtype, "threads": torch.get_num_threads(), "pairs": pairs,
                  "readouts": results}
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


def run_bench(args) -> int:
    import torch

    from sae_gd_labeler.bench.run import run_speed_bench
    from sae_gd_labeler.search.config import LabelerConfig

    try:
        projection_config = None if args.projection_config is None else LabelerConfig.from_dict(args.projection_config)
    except ValueError as e:
        raise SystemExit(f"--projection-config: {e}") from None
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    result = run_speed_bench(device=device, quick=args.quick, log=console.print,
                             dtype=None if args.dtype is None else getattr(torch, args.dtype), gemma=args.gemma,
                             projection_features=args.projection, peak_tflops=args.peak_tflops,
                             toy_world=args.toy_world, scaling_grid=args.scaling,
                             projection_config=projection_config)
    console.print(_speed_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


def _speed_table(result: dict) -> Table:
    """The measured figures beside the issue's targets."""
    table = Table(title=f"engine and labeler against the reference method ({result['device']})")
    for col in ("measure", "ours", "reference", "ratio"):
        table.add_column(col)
    if "toy_world" in result:
        toy = result["toy_world"]
        table.add_row("toy world: features per s to a finished label", _fmt(toy["ours"]["features_per_s"]),
                      _fmt(toy["reference"]["features_per_s"]), f"{toy['speedup']:.1f}x (speedup)")
        table.add_row("toy world: categories recovered", _fmt(toy["ours"]["recovery"]),
                      _fmt(toy["reference"]["recovery"]), "")
        table.add_row("toy world: peak MB", f"{toy['ours']['peak_mb']:.0f}", f"{toy['reference']['peak_mb']:.0f}",
                      "")
    for key, name in (("gpt2_small", "GPT-2 small"), ("gemma_2_2b", "Gemma-2-2B")):
        if key in result:
            r = result[key]
            table.add_row(f"{name}: feature-steps per s ({r['engine']['dtype']} engine, float32 reference)",
                          _fmt(r["engine"]["feature_steps_per_s"]), _fmt(r["reference"]["feature_steps_per_s"]),
                          f"{r['engine_speedup']:.1f}x (engine_speedup)")
            if "engine_float32" in r:
                table.add_row(f"{name}: feature-steps per s (both float32)",
                              _fmt(r["engine_float32"]["feature_steps_per_s"]),
                              _fmt(r["reference"]["feature_steps_per_s"]), f"{r['engine_speedup_float32']:.1f}x")
            table.add_row(f"{name}: step loop TFLOP/s (matrix products)", _fmt(r["engine"]["loop_tflops_per_s"]),
                          "", f"{r['peak_fraction']:.1%} of peak" if "peak_fraction" in r else "")
            table.add_row(f"{name}: peak MB", f"{r['engine']['peak_mb']:.0f}", f"{r['reference']['peak_mb']:.0f}", "")
    for key, name in (("gpt2_small_layer_projection", "GPT-2 small"), ("gemma_2_2b_layer_projection", "Gemma-2-2B")):
        if key in result:
            r = result[key]
            table.add_row(f"{name}: hours for a {r['layer_features']}-feature layer",
                          f"{r['projected_hours_per_layer']:.2f}", "", f"from {r['features']} features")
    return table


def _fmt(x) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
