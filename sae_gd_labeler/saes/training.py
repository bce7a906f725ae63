"""Train a TopK SAE on cached activations with sae_lens's own trainer (`SAETrainer`), and measure it.

The trainer is fed shuffled batches of the cached rows (one fixed permutation per epoch, from the seed), so a
run is reproducible on the same machine. Activations are normalised to norm sqrt(d_model) during training
(sae_lens's "expected_average_only_in") and the factor is folded into the weights at the end, so the saved
SAE takes raw activations.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sae_lens import SAE, LoggingConfig, TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.config import SAETrainerConfig
from sae_lens.saes.sae import SAEMetadata
from sae_lens.training.sae_trainer import SAETrainer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSettings:
    d_sae: int = 2048
    k: int = 32  # active features per token
    batch_tokens: int = 1024
    lr: float = 1e-3
    lr_warm_up_steps: int = 50
    lr_decay_fraction: float = 0.2  # the last fifth of the steps decays the learning rate linearly to 0
    epochs: int = 1
    dead_feature_window: int = 50  # steps without firing before AuxK trains a feature back to life
    autocast: bool = True  # bfloat16 matmuls (weights stay float32): about 2x faster on CPUs with AVX512-BF16
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def shuffled_batches(rows: np.ndarray, batch: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless float32 batches [batch, d_model] of `rows`, a new seeded permutation per epoch."""
    gen = np.random.default_rng(seed)
    while True:
        order = gen.permutation(len(rows))
        for start in range(0, len(order) - batch + 1, batch):
            index = np.sort(order[start:start + batch])  # sorted: memory-mapped reads go forward
            yield torch.from_numpy(np.asarray(rows[index], dtype=np.float32))


def train_topk_sae(rows: np.ndarray, metadata: dict, settings: TrainingSettings, out_dir: str | Path) -> SAE:
    """Train on `rows` [n, d_model], save the inference SAE (float32) to `out_dir` and return it reloaded.

    `metadata` (hook_name, model_name, context_size, prepend_bos, ...) becomes the SAE's `cfg.metadata`,
    which tells labeling how to read the model."""
    torch.manual_seed(settings.seed)
    d_in = rows.shape[1]
    sae_cfg = TopKTrainingSAEConfig(d_in=d_in, d_sae=settings.d_sae, k=settings.k,
                                    normalize_activations="expected_average_only_in", dtype="float32",
                                    device="cpu", metadata=SAEMetadata(**metadata))
    sae = TopKTrainingSAE(sae_cfg)
    samples = settings.epochs * (len(rows) // settings.batch_tokens) * settings.batch_tokens
    steps = samples // settings.batch_tokens
    trainer_cfg = SAETrainerConfig(
        total_training_samples=samples, train_batch_size_samples=settings.batch_tokens, lr=settings.lr,
        lr_end=0.0, lr_scheduler_name="constant", lr_warm_up_steps=settings.lr_warm_up_steps,
        lr_decay_steps=int(settings.lr_decay_fraction * steps), device="cpu", autocast=settings.autocast,
        dead_feature_window=settings.dead_feature_window, feature_sampling_window=max(steps // 4, 1),
        n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False,
        logger=LoggingConfig(log_to_wandb=False), n_batches_for_norm_estimate=20)
    data = shuffled_batches(rows, settings.batch_tokens, settings.seed)
    trained = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=data).fit()
    out_dir = Path(out_dir)
    trained.save_inference_model(out_dir)
    return SAE.load_from_disk(out_dir, device="cpu")


@torch.inference_mode()
def sae_quality(sae: SAE, rows: np.ndarray, batch: int = 4096) -> dict:
    """Explained variance, mean L0 and dead fraction (features that never fire) on held-out rows [n, d_model]."""
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    residual, total, l0, n = 0.0, 0.0, 0.0, 0
    mean = torch.from_numpy(np.asarray(rows, dtype=np.float32).mean(0))  # [d_model]
    for start in range(0, len(rows), batch):
        x = torch.from_numpy(np.asarray(rows[start:start + batch], dtype=np.float32))  # [b, d_model]
        f = sae.encode(x)  # [b, d_sae]
        x_hat = sae.decode(f)  # [b, d_model]
        residual += (x - x_hat).pow(2).sum().item()
        total += (x - mean).pow(2).sum().item()
        l0 += (f > 0).sum().item()
        fired |= (f > 0).any(0)
        n += len(x)
    return {"explained_variance": round(1 - residual / total, 4), "l0": round(l0 / n, 2),
            "dead_fraction": round(1 - fired.float().mean().item(), 4), "eval_tokens": n}
