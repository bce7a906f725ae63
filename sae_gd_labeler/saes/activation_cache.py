"""One pass of a corpus through a model, writing several hooks' activations to disk at once.

Training an SAE per hook would otherwise run the model once per hook; on CPU the model pass is most of the
cost. Texts are packed exactly as labeling packs them (`corpus.iter_token_batches`: BOS first, BOS between
texts), so the SAEs are trained on the activations they are later read on. Position 0 (an attention sink with
a norm about 100x the median on the packaged models) and special tokens are left out.

Layout of `out_dir`: `<hook>.f16` (raw float16 rows [n_tokens, d_model], C order) per hook and `meta.json`
(written last: a folder without it is an unfinished pass and is rebuilt; one with other settings is refused).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sae_gd_labeler.data.corpus import iter_token_batches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheSettings:
    hooks: tuple[str, ...]
    context_size: int
    n_tokens: int  # corpus tokens read (windows of context_size, before position 0 / specials are dropped)
    corpus: str  # a description that identifies the corpus (its sha256 for the packaged one)

    def to_dict(self) -> dict:
        return {**asdict(self), "hooks": list(self.hooks)}


def hook_file(out_dir: Path, hook: str) -> Path:
    return out_dir / f"{hook}.f16"


def read_cache(out_dir: str | Path, settings: CacheSettings | None = None) -> dict[str, np.ndarray] | None:
    """The cached activations per hook (read-only memory maps [n, d_model]), None when the pass is unfinished.
    Raises ValueError when the folder holds a finished pass with other settings than `settings`."""
    out_dir = Path(out_dir)
    meta_path = out_dir / "meta.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if settings is not None and meta["settings"] != settings.to_dict():
        raise ValueError(f"{out_dir} holds activations cached with other settings ({meta['settings']}); "
                         "delete the folder or choose another work directory")
    n, d = meta["n_rows"], meta["d_model"]
    return {hook: np.memmap(hook_file(out_dir, hook), dtype=np.float16, mode="r", shape=(n, d))
            for hook in meta["settings"]["hooks"]}


@torch.inference_mode()
def cache_activations(model, dataset: Any, out_dir: str | Path, settings: CacheSettings,
                      batch_size: int = 16, text_column: str | None = None) -> dict[str, np.ndarray]:
    """Run `dataset` through `model` once and write the activations of every hook in `settings.hooks`.

    Returns `read_cache(out_dir)`. A finished pass with the same settings is reused without reading the corpus.
    """
    out_dir = Path(out_dir)
    cached = read_cache(out_dir, settings)
    if cached is not None:
        log.info("activations already cached in %s", out_dir)
        return cached
    if out_dir.exists():
        shutil.rmtree(out_dir)  # an unfinished pass: its files end mid-batch
    out_dir.mkdir(parents=True)
    stop_at = max(int(h.split(".")[1]) for h in settings.hooks) + 1
    tokenizer = model.tokenizer
    special = torch.tensor(sorted(tokenizer.all_special_ids), dtype=torch.long)
    files = {hook: open(hook_file(out_dir, hook), "wb") for hook in settings.hooks}
    n_rows = 0
    try:
        for tokens in iter_token_batches(dataset, tokenizer, settings.context_size, batch_size, prepend_bos=True,
                                         text_column=text_column, max_tokens=settings.n_tokens):  # [B, T]
            _, cache = model.run_with_cache(tokens.to(model.cfg.device), names_filter=list(settings.hooks),
                                            stop_at_layer=stop_at, return_cache_object=False)
            keep = ~torch.isin(tokens, special)  # [B, T]
            keep[:, 0] = False  # the attention sink, whatever token sits there
            for hook in settings.hooks:
                rows = cache[hook][keep.to(model.cfg.device)].float().cpu()  # [kept, d_model]
                half = rows.to(torch.float16)
                if not torch.isfinite(half).all():
                    raise ValueError(f"{hook} has activations beyond float16's range (max |x| "
                                     f"{rows.abs().max().item():.3g}); they cannot be cached as float16")
                files[hook].write(half.numpy().tobytes())
            n_rows += int(keep.sum())
    finally:
        for f in files.values():
            f.close()
    meta = {"settings": settings.to_dict(), "n_rows": n_rows, "d_model": model.cfg.d_model}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    log.info("cached %d activations of %d hooks in %s", n_rows, len(settings.hooks), out_dir)
    return read_cache(out_dir)
