"""Real SAEs of a packaged real model, shipped inside this package, and the command that trains them.

    from sae_gd_labeler.saes import load_packaged_saes
    saes = load_packaged_saes("smollm2-135m-instruct")      # {hook name: sae_lens SAE}, float32, CPU
    sae = saes["blocks.7.hook_resid_post"]

    python -m sae_gd_labeler.saes.packaged --out my_saes    # retrain them from nothing (see PACKAGED_SAES)

Five TopK SAEs on SmolLM2-135M-Instruct (sae_lens's trainer): the residual stream after blocks 6, 7 and 8 and
the MLP and attention outputs of block 7, which is what feature flow needs (residual features of one layer
traced to the previous residual, the MLP and attention of the next). Trained on the real corpus
(`data.real_corpus`, all four sources), windows of 128 tokens packed as labeling packs them, position 0 and
special tokens left out. Shipped in bfloat16 (`data/<model>/<hook>/`); loaded in float32 by default.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sae_gd_labeler.saes.training import TrainingSettings

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class SAESet:
    """How one model's shipped SAEs were trained: everything `train_sae_set` needs to rebuild them."""

    model: str
    hooks: tuple[str, ...]
    context_size: int
    train_tokens: int  # corpus tokens read for training (windows; position 0 / specials then dropped)
    eval_tokens: int  # corpus tokens after them, held out for explained variance, L0 and dead fraction
    model_dtype: str = "bfloat16"  # of the model pass: about 4x faster than float32 on CPUs with AVX512-BF16
    training: TrainingSettings = field(default_factory=TrainingSettings)


PACKAGED_SAES = {
    "smollm2-135m-instruct": SAESet(
        model="smollm2-135m-instruct",
        hooks=("blocks.6.hook_resid_post", "blocks.7.hook_attn_out", "blocks.7.hook_mlp_out",
               "blocks.7.hook_resid_post", "blocks.8.hook_resid_post"),
        context_size=128, train_tokens=786_432, eval_tokens=65_536),
}


def _check_model(model: str) -> SAESet:
    if model not in PACKAGED_SAES:
        raise ValueError(f"no packaged SAEs for {model!r}; there are SAEs for {sorted(PACKAGED_SAES)}")
    return PACKAGED_SAES[model]


def packaged_sae_dir(model: str, hook: str) -> Path:
    spec = _check_model(model)
    if hook not in spec.hooks:
        raise ValueError(f"no packaged SAE of {model} at {hook!r}; its hooks are {list(spec.hooks)}")
    return DATA_DIR / model / hook


def load_packaged_saes(model: str = "smollm2-135m-instruct", hooks: list[str] | None = None, *,
                       device: str = "cpu", dtype: str = "float32") -> dict:
    """The shipped SAEs of `model` as {hook name: sae_lens SAE}, every hook unless `hooks` names some."""
    from sae_lens import SAE

    spec = _check_model(model)
    return {hook: SAE.load_from_disk(packaged_sae_dir(model, hook), device=device, dtype=dtype)
            for hook in (hooks or spec.hooks)}


def training_report(model: str = "smollm2-135m-instruct") -> dict:
    """The shipped SAEs' training report: settings, seconds, explained variance, L0 and dead fraction."""
    _check_model(model)
    return json.loads((DATA_DIR / model / "training_report.json").read_text())


def train_sae_set(spec: SAESet, out_dir: str | Path, work_dir: str | Path, corpus: str | Path | None = None,
                  device: str = "cpu") -> dict:
    """Train every SAE of `spec` into `out_dir/<hook>/` (bfloat16 weights, as shipped) and write
    `out_dir/training_report.json`; returns the report. The model pass is cached in `work_dir`, so a run
    that stops during training resumes without reading the corpus again."""
    import torch
    from sae_lens import SAE

    from sae_gd_labeler.data.real_corpus import build_corpus
    from sae_gd_labeler.models import load_packaged_model
    from sae_gd_labeler.saes.activation_cache import CacheSettings, cache_activations, read_cache
    from sae_gd_labeler.saes.training import sae_quality, train_topk_sae

    out_dir, work_dir = Path(out_dir), Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    corpus_stats = None
    if corpus is None:  # the packaged real corpus, rebuilt byte for byte from the Debian packages
        corpus = work_dir / "corpus.jsonl"
        corpus_stats = build_corpus(corpus)
    model = load_packaged_model(spec.model, device=device, dtype=spec.model_dtype)
    corpus_id = corpus_stats["sha256"] if corpus_stats else str(Path(corpus).resolve())
    settings = CacheSettings(spec.hooks, spec.context_size, spec.train_tokens + spec.eval_tokens,
                             f"{corpus_id} {spec.model_dtype}")
    reused = read_cache(work_dir / "activations", settings) is not None
    t0 = time.perf_counter()
    acts = cache_activations(model, str(corpus), work_dir / "activations", settings)
    cache_seconds = None if reused else round(time.perf_counter() - t0, 1)  # None: an earlier run's pass
    n_train = _train_rows(acts[spec.hooks[0]], spec)
    report = {"model": spec.model, "hooks": list(spec.hooks), "context_size": spec.context_size,
              "train_tokens": spec.train_tokens, "eval_tokens": spec.eval_tokens,
              "training": spec.training.to_dict(), "corpus": corpus_id, "model_dtype": spec.model_dtype,
              "activation_rows": {"train": n_train, "eval": len(acts[spec.hooks[0]]) - n_train},
              "model_pass_seconds": cache_seconds, "torch_threads": torch.get_num_threads(), "saes": {}}
    for hook in spec.hooks:
        rows = acts[hook]
        metadata = {"hook_name": hook, "model_name": model.cfg.model_name, "context_size": spec.context_size,
                    "prepend_bos": True, "seqpos_slice": [1, None], "exclude_special_tokens": True,
                    "dataset_path": "sae_gd_labeler.data.real_corpus"}
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
            sae = train_topk_sae(rows[:n_train], metadata, spec.training, tmp)
        seconds = time.perf_counter() - t0
        _save_bfloat16(sae, out_dir / hook)
        shipped = SAE.load_from_disk(out_dir / hook, device="cpu", dtype="float32")  # measured as shipped
        report["saes"][hook] = {"train_seconds": round(seconds, 1), **sae_quality(shipped, rows[n_train:])}
        log.info("%s: %s", hook, report["saes"][hook])
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    (out_dir / "training_report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _train_rows(rows, spec: SAESet) -> int:
    """Rows before the held-out tail: the same fraction of kept rows as train_tokens of all tokens read."""
    return int(len(rows) * spec.train_tokens / (spec.train_tokens + spec.eval_tokens))


def _save_bfloat16(sae, out_dir: Path) -> None:
    """Save `sae` with bfloat16 weights (half the bytes; labeling loads them back as float32), atomically.
    `sae` is converted in place."""
    import torch

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    sae.to(dtype=torch.bfloat16)
    sae.cfg.dtype = "bfloat16"
    sae.save_model(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct", choices=sorted(PACKAGED_SAES))
    p.add_argument("--out", type=Path, required=True, help="folder for the SAEs (one sub-folder per hook)")
    p.add_argument("--work-dir", type=Path, help="cached model pass and corpus (default: OUT/.work)")
    p.add_argument("--corpus", type=Path, help="a JSON-lines corpus (default: the real corpus, rebuilt)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report = train_sae_set(PACKAGED_SAES[args.model], args.out, args.work_dir or args.out / ".work", args.corpus,
                           args.device)
    print(json.dumps(report["saes"], indent=1))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
