"""Train the toy world's SAEs with sae_lens's own trainer, one per hook of every layer."""

from __future__ import annotations

import itertools
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import torch
from sae_lens import (
    SAE,
    LanguageModelSAERunnerConfig,
    LanguageModelSAETrainingRunner,
    LoggingConfig,
    StandardTrainingSAEConfig,
)
from transformer_lens import HookedTransformer

from sae_gd_labeler.toyworld.corpus import SentenceGenerator
from sae_gd_labeler.toyworld.discriminator import MODEL_NAME, PromptEncoder
from sae_gd_labeler.toyworld.packing import packed_windows
from sae_gd_labeler.toyworld.questions import QuestionSampler

log = logging.getLogger(__name__)

HOOK_KINDS = ("hook_resid_post", "hook_mlp_out", "hook_attn_out")


def hook_names(n_layers: int) -> list[str]:
    return [f"blocks.{layer}.{kind}" for layer in range(n_layers) for kind in HOOK_KINDS]


def sae_dir_name(hook_name: str) -> str:
    return hook_name


@dataclass(frozen=True)
class SAETrainingConfig:
    expansion: int = 4  # d_sae = expansion * d_model
    training_tokens: int = 300_000  # per SAE (nominal; BOS positions are dropped)
    batch_tokens: int = 1024
    context_size: int = 32  # tokens per packed window
    n_rows: int = 10_000  # dataset windows (sae_lens starts another epoch when they run out)
    question_fraction: float = 0.2
    compound_fraction: float = 0.0  # of the questions with two-word labels (worlds with compound concepts)
    l1_coefficient: float = 3.0
    lr: float = 3e-3
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def activation_dataset(encoder: PromptEncoder, cfg: SAETrainingConfig) -> datasets.Dataset:
    """Pre-tokenized windows of `context_size`: corpus sentences and question prompts, packed as sae_lens
    packs text (BOS first, BOS between texts), so the SAEs see what sae_lens-style readers of the corpus see.
    The trainer drops the BOS positions (exclude_special_tokens)."""
    rng = random.Random(cfg.seed)
    sentences = SentenceGenerator(cfg.seed + 7, compounds=cfg.compound_fraction > 0)
    questions = QuestionSampler(cfg.seed + 8, p_compound=cfg.compound_fraction)

    def texts():
        while True:
            if rng.random() < cfg.question_fraction:
                q = questions.sample()
                yield encoder.template.render(q.context, q.token, q.label)
            else:
                yield " ".join(sentences.sentence())

    windows = packed_windows(encoder, texts(), cfg.context_size)
    return datasets.Dataset.from_dict({"input_ids": [next(windows).tolist() for _ in range(cfg.n_rows)]})


def train_sae(model: HookedTransformer, dataset: datasets.Dataset, hook_name: str, cfg: SAETrainingConfig,
              out_dir: Path) -> SAE:
    """Train one standard (L1) SAE on `hook_name`, save its inference form to `out_dir`, reload it."""
    d_in = model.cfg.d_model
    runner_cfg = LanguageModelSAERunnerConfig(
        sae=StandardTrainingSAEConfig(d_in=d_in, d_sae=cfg.expansion * d_in, l1_coefficient=cfg.l1_coefficient,
                                      normalize_activations="expected_average_only_in", dtype="float32",
                                      device="cpu"),
        model_name=MODEL_NAME, hook_name=hook_name, dataset_path="sae-gd-labeler-toyworld-corpus",
        is_dataset_tokenized=True, streaming=False, context_size=cfg.context_size,
        training_tokens=cfg.training_tokens, train_batch_size_tokens=cfg.batch_tokens,
        store_batch_size_prompts=64,
        exclude_special_tokens=True,
        n_batches_in_buffer=4 * cfg.batch_tokens // cfg.context_size + 1,  # the buffer is counted in tokens
        prepend_bos=True, lr=cfg.lr, lr_warm_up_steps=10, lr_scheduler_name="constant",
        n_batches_for_norm_estimate=20, n_eval_batches=2, device="cpu", seed=cfg.seed,
        logger=LoggingConfig(log_to_wandb=False), n_checkpoints=0, checkpoint_path=None, output_path=None,
        verbose=False,
    )
    runner = LanguageModelSAETrainingRunner(runner_cfg, override_model=model, override_dataset=dataset)
    trained = runner.run()
    trained.save_inference_model(out_dir)
    sort_config_keys(out_dir / "cfg.json")
    return SAE.load_from_disk(str(out_dir), device="cpu")


def sort_config_keys(path: Path) -> None:
    """Rewrite an SAE's cfg.json with its keys sorted: sae_lens writes them in an order that varies from one
    Python process to another, and a rebuild of the toy world should give the same bytes."""
    path.write_text(json.dumps(json.loads(path.read_text()), sort_keys=True))


def train_saes(model: HookedTransformer, encoder: PromptEncoder, cfg: SAETrainingConfig, out_root: Path) -> dict:
    """Train every hook's SAE into `out_root/<hook name>/`; returns timings and quality numbers."""
    torch.manual_seed(cfg.seed)
    dataset = activation_dataset(encoder, cfg)
    report = {"config": cfg.to_dict(), "saes": {}}
    start = time.perf_counter()
    for hook in hook_names(model.cfg.n_layers):
        t0 = time.perf_counter()
        sae = train_sae(model, dataset, hook, cfg, out_root / sae_dir_name(hook))
        report["saes"][hook] = {"seconds": round(time.perf_counter() - t0, 1), **sae_quality(model, encoder, sae)}
        log.info("sae %s %s", hook, report["saes"][hook])
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


@torch.inference_mode()
def sae_quality(model: HookedTransformer, encoder: PromptEncoder, sae: SAE, n: int = 256, seed: int = 99) -> dict:
    """L0, fraction of variance unexplained and alive fraction on fresh packed corpus windows (BOS dropped)."""
    gen = SentenceGenerator(seed)
    stream = (" ".join(gen.sentence()) for _ in itertools.count())
    windows = packed_windows(encoder, stream, sae.cfg.metadata.context_size or 32)
    ids = torch.stack([next(windows) for _ in range(n)])  # [n, ctx]
    hook = sae.cfg.metadata.hook_name
    _, cache = model.run_with_cache(ids, names_filter=[hook])
    x = cache[hook][ids != encoder.bos]  # [tokens, d_model]
    f = sae.encode(x)  # [tokens, d_sae]
    x_hat = sae.decode(f)  # [tokens, d_model]
    fvu = ((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()).item()
    return {"l0": round((f > 0).float().sum(-1).mean().item(), 2), "fvu": round(fvu, 4),
            "alive_fraction": round((f > 0).any(0).float().mean().item(), 3)}
