"""`sae-gd-labeler label`: the command line of a bulk run.

    sae-gd-labeler label --release gpt2-small-res-jb --sae-id blocks.8.hook_resid_pre --features 0:1024
    sae-gd-labeler label --toy-world blocks.1.hook_resid_post --features alive --out runs/toy
    torchrun --nproc-per-node 4 -m sae_gd_labeler label --release ... --device cuda

Arguments are parsed and checked (feature spec, output folder, config values, local paths) before torch,
TransformerLens or sae_lens are imported; every bad input exits with code 2 and a one-line message that
names the problem and the fix, before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

from sae_gd_labeler.runs.feature_spec import FeatureSpec, parse_feature_spec
from sae_gd_labeler.runs.run_dir import RunDirectory, RunDirectoryError
from sae_gd_labeler.search.config import LabelerConfig

# LabelerConfig fields that have a flag of their own with a wider meaning
OWN_FLAGS = {"seed", "device", "dtype", "feature_batch_size"}


class InputError(ValueError):
    """Bad command-line input: reported in one line with exit code 2."""


def add_label_parser(sub) -> None:
    p = sub.add_parser("label", help="label features of an SAE into a resumable run directory",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("the SAE (exactly one of --release/--sae-id, --sae-path, --toy-world)")
    src.add_argument("--release", help="an sae_lens release, e.g. gpt2-small-res-jb (needs the model hub)")
    src.add_argument("--sae-id", help="the SAE's id in the release, e.g. blocks.8.hook_resid_pre")
    src.add_argument("--sae-path", help="a folder with an SAE saved by sae_lens (cfg.json, sae_weights.safetensors)")
    src.add_argument("--toy-world", metavar="HOOK", help="the shipped toy world's SAE at HOOK (e.g. "
                     "blocks.1.hook_resid_post), with its model, corpus and discriminator; offline")
    run = p.add_argument_group("the run")
    run.add_argument("--features", default="alive", help="0:1024, 3,17,99, all (dead features recorded as "
                     "such) or alive (dead features skipped) (default: %(default)s)")
    run.add_argument("--model", help="subject model: a packaged LM (smollm2-135m-instruct, gemma-3-270m), "
                     "toy-world, or a TransformerLens name (default: the SAE's metadata model_name)")
    run.add_argument("--discriminator", help="the judging LM, named as --model (default: the subject model)")
    run.add_argument("--dataset", help="corpus: a local file (.txt/.json/.jsonl/.csv/.parquet), a saved "
                     "datasets folder, or a hub name (default: the SAE's metadata dataset_path)")
    run.add_argument("--text-column", help="the corpus column holding text (default: tokens, input_ids, text)")
    run.add_argument("--n-tokens", type=positive_int, default=None,
                     help="corpus tokens to read (default: the whole corpus; streamed, memory does not grow with it)")
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available; under "
                     "torchrun with cuda each rank takes cuda:LOCAL_RANK)")
    run.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                     help="the models' dtype (default: float32)")
    run.add_argument("--batch-features", type=positive_int, default=None,
                     help="features labeled and written together (default: LabelerConfig.feature_batch_size when "
                          "an integer, else 64); a crash loses at most this many")
    run.add_argument("--seed", type=int, default=0, help="seed of the sampling and of the search (default: 0)")
    run.add_argument("--out", type=Path, default=None,
                     help="run directory (default: label_runs/<SAE name>); rerunning resumes it")
    run.add_argument("--overwrite", action="store_true", help="start the run directory over (removes only its "
                     "run files)")
    run.add_argument("--cache-dir", type=Path, default=None,
                     help="keep the corpus pass's per-feature records here (safetensors + JSON) and reuse them in "
                          "later runs with the same SAE, model, corpus and activation settings (default: no cache)")
    run.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                     help="score the most frequent firing token and the output projection (W_dec[i] @ W_U) beside "
                          "every label, on the same held-out examples (default: on)")
    run.add_argument("--no-progress", action="store_true", help="no progress display (logging only)")
    cfg = p.add_argument_group("LabelerConfig (see sae_gd_labeler.search.config)")
    for name, (kind, default, doc) in labeler_fields().items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            cfg.add_argument(flag, dest=f"cfg_{name}", action=argparse.BooleanOptionalAction, default=None,
                             help=f"{doc} (default: {default})")
        else:
            cfg.add_argument(flag, dest=f"cfg_{name}", type=str, default=None, metavar=kind.__name__.upper(),
                             help=f"{doc} (default: {default})")


def labeler_fields() -> dict[str, tuple[type, Any, str]]:
    """LabelerConfig's fields with a flag: name -> (type, default, the comment beside it in config.py)."""
    comments = _field_comments()
    out = {}
    for f in dataclasses.fields(LabelerConfig):
        if f.name in OWN_FLAGS:
            continue
        default = f.default
        kind = type(default) if isinstance(default, (bool, int, float)) else str
        out[f.name] = (kind, default, comments.get(f.name, ""))
    return out


def _field_comments() -> dict[str, str]:
    """The comments in LabelerConfig's source, so that --help says what the code says (one place)."""
    out, last = {}, None
    for line in inspect.getsource(LabelerConfig).splitlines():
        field = re.match(r"\s+(\w+): [^=]+=[^#]*(?:#\s*(.*))?$", line)
        if field:
            last = field.group(1)
            out[last] = (field.group(2) or "").strip()
        elif last and re.match(r"\s+#\s{2,}", line):  # an indented continuation of the field's comment
            out[last] += " " + line.strip().lstrip("#").strip()
        else:
            last = None
    return {k: v.replace("%", "%%") for k, v in out.items()}


def labeler_config(args) -> LabelerConfig:
    changes: dict[str, Any] = {"seed": args.seed}
    for name, (kind, _, _) in labeler_fields().items():
        value = getattr(args, f"cfg_{name}")
        if value is None:
            continue
        changes[name] = value if kind is bool else _convert(name, value, kind)
    if args.batch_features is not None:
        changes["feature_batch_size"] = args.batch_features
    try:
        return LabelerConfig(**changes)
    except ValueError as e:
        raise InputError(str(e)) from None


def _convert(name: str, value: str, kind: type):
    if name == "candidate_vocab" and "," in value:
        return [v for v in value.split(",") if v]
    if kind is str:
        return value
    if name == "label_tokens" and value == "auto":  # int | str: a number of tokens, or "auto"
        return value
    try:
        return kind(value)
    except ValueError:
        raise InputError(f"--{name.replace('_', '-')} {value!r}: expected a {kind.__name__}") from None


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def default_out(args) -> Path:
    if args.toy_world:
        name = f"toy-world_{args.toy_world}"
    elif args.sae_path:
        name = Path(args.sae_path).name
    else:
        name = f"{args.release}_{args.sae_id}"
    return Path("label_runs") / re.sub(r"[^\w.-]+", "_", name)


def check_arguments(parser, args) -> tuple[FeatureSpec, RunDirectory, LabelerConfig]:
    """Everything that can be checked without torch; parser.error / InputError exit with code 2."""
    sources = [s for s in ("release", "sae_path", "toy_world") if getattr(args, s)]
    if len(sources) != 1:
        parser.error("give exactly one SAE source: --release R --sae-id ID, --sae-path DIR or --toy-world HOOK")
    if bool(args.release) != bool(args.sae_id):
        parser.error("--release and --sae-id go together (e.g. --release gpt2-small-res-jb --sae-id "
                     "blocks.8.hook_resid_pre)")
    try:
        spec = parse_feature_spec(args.features)
    except ValueError as e:
        raise InputError(str(e)) from None
    run = RunDirectory(args.out or default_out(args))
    run.check_writable()
    config = labeler_config(args)
    from sae_gd_labeler.runs.sources import check_dataset

    check_dataset(args.dataset)
    return spec, run, config


def run_label(parser, args, console) -> int:
    try:
        spec, run, config = check_arguments(parser, args)
    except (InputError, RunDirectoryError) as e:
        return input_error(e)
    return _label(args, spec, run, config, console)


def _label(args, spec: FeatureSpec, run: RunDirectory, config: LabelerConfig, console) -> int:
    import torch

    from sae_gd_labeler.data.activations import ActivationConfig
    from sae_gd_labeler.data.sampling import SamplingConfig
    from sae_gd_labeler.models import PackagedModelNotInstalled
    from sae_gd_labeler.runs.bulk import label_run
    from sae_gd_labeler.runs.distributed import close, init_ranks
    from sae_gd_labeler.runs.progress import RunProgress
    from sae_gd_labeler.runs.run_config import build_run_config
    from sae_gd_labeler.runs.sources import check_corpus, hub_sources, load_sae, toy_world_sources

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    ranks = init_ranks(device)
    args.device = ranks.local_device(device)
    try:
        try:
            if args.toy_world:
                sources = toy_world_sources(args)
                if args.device != "cpu":  # the world loads on the CPU
                    sources.model.to(args.device)
                    sources.sae.to(args.device)
            else:
                sae, described = load_sae(args)
                sources = hub_sources(args, sae, described, config)
                check_corpus(sources, args.text_column)
            try:
                spec.resolve(sources.sae.cfg.d_sae)
            except ValueError as e:
                raise InputError(str(e)) from None
            activation_config = ActivationConfig(max_tokens=args.n_tokens, seed=args.seed)
            sampling = SamplingConfig()
            run_config = build_run_config(sources.description, features=spec.text, seed=args.seed, config=config,
                                          activation_config=activation_config, sampling=sampling,
                                          text_column=args.text_column, n_tokens=args.n_tokens, dtype=args.dtype,
                                          device=args.device, command=sys.argv[1:], baselines=args.baselines)
            run.check_config(run_config, args.overwrite)
            cache = None
            if args.cache_dir is not None:
                from sae_gd_labeler.runs.record_cache import RecordCache

                corpus = {k: run_config[k] for k in ("sae", "model", "dataset", "text_column", "n_tokens")}
                settings = {**corpus, "activation_config": {k: v for k, v in run_config["activation_config"].items()
                                                            if k != "feature_chunk_size"}}
                cache = RecordCache(args.cache_dir, settings)
        except (InputError, RunDirectoryError, PackagedModelNotInstalled) as e:
            return input_error(e)
        with RunProgress(not args.no_progress and ranks.main, console) as progress:
            summary = label_run(run, sources.sae, spec, model=sources.model, discriminator=sources.discriminator,
                                dataset=sources.dataset, run_config=run_config, config=config,
                                activation_config=activation_config, sampling=sampling,
                                text_column=args.text_column, example_fn=sources.example_fn,
                                overwrite=args.overwrite, ranks=ranks, progress=progress,
                                batch_features=args.batch_features, cache=cache, baselines=args.baselines)
    finally:
        close(ranks)
    if summary is not None:
        console.print(closing_table(run, summary))
        console.print(f"run directory: {run.path} (labels.jsonl, examples.jsonl, summary.json); "
                      "rerun the same command to resume, `sae-gd-labeler export` / `report` to use it")
    return 0


def closing_table(run: RunDirectory, summary: dict[str, Any], n_rows: int = 20):
    from rich.table import Table

    records = run.label_records()
    table = Table(title=f"{summary['n_labeled']} of {summary['n_requested']} features labeled in "
                        f"{summary['seconds']:.0f} s ({', '.join(f'{k} {v}' for k, v in summary['counts'].items())})")
    for col in ("feature", "label", "status", "held-out bal. acc.", "F1", "AUROC", "best baseline (bal. acc.)"):
        table.add_column(col)
    for r in records[:n_rows]:
        m = r.get("metrics") or {}
        table.add_row(str(r["feature"]), str(r["label"]), r["status"],
                      *(_fmt(m.get(k)) for k in ("balanced_accuracy", "f1", "auroc")), _best_baseline(r))
    if len(records) > n_rows:
        table.add_row("...", f"{len(records) - n_rows} more in labels.jsonl", "", "", "", "", "")
    means = summary["mean_metrics"]
    table.add_row("mean", "", "", *(_fmt(means.get(k)) for k in ("balanced_accuracy", "f1", "auroc")), "")
    return table


def _best_baseline(record: dict[str, Any]) -> str:
    """The baseline with the best held-out balanced accuracy."""
    scored = [(b["metrics"].get("balanced_accuracy"), b["label"]) for b in (record.get("baselines") or {}).values()
              if b.get("metrics", {}).get("balanced_accuracy") is not None]
    if not scored:
        return "-"
    acc, label = max(scored)
    return f"{label} ({acc:.3f})"


def _fmt(x) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


def input_error(e: Exception) -> int:
    sys.stderr.write(f"sae-gd-labeler: error: {e}\n")
    return 2
