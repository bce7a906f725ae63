"""An on-disk cache of what a pass over the corpus kept per feature, so a later run with the same corpus
settings (say, another LabelerConfig) skips the pass.

    cache = RecordCache(folder, settings)      # settings: everything that decides the records
    records = cache.load(ids)                  # None unless every id is cached
    cache.save(records)

Layout: `<folder>/<key>/` with key a hash of the settings, holding `settings.json` and one part per pass:
`part-<hash of its ids>.safetensors` (per kept slot and field, the features' rows concatenated, with
offsets) and `part-<...>.json` (ids and per-feature counts). No pickle. A feature's record does not depend
on which other features were collected with it, so parts can be combined freely. Parts are written under a
temporary name and renamed, so a killed run never leaves a half-written part.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sae_gd_labeler.data.activations import ActivationRecords, FeatureRecord, Occurrences

SLOTS = ("top", "positives", "negatives", "hard_negatives")
SCALARS = ("n_tokens", "n_fired", "max_activation", "firing_threshold")
INFO = ("hook_name", "context_size", "prepend_bos", "n_sequences", "n_tokens", "firing_threshold", "state_bytes")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


class RecordCache:
    def __init__(self, folder: Path | str, settings: dict[str, Any]):
        self.folder = Path(folder) / _digest(settings)
        self.settings = settings

    def _parts(self) -> list[tuple[Path, dict[str, Any]]]:
        metas = sorted(self.folder.glob("part-*.json"))
        return [(p.with_suffix(".safetensors"), json.loads(p.read_text())) for p in metas]

    def load(self, ids: list[int]) -> ActivationRecords | None:
        """The records of `ids` if the cache holds all of them, else None."""
        wanted, found, info = set(ids), {}, None
        for tensors_path, meta in self._parts():
            if not wanted & set(meta["features"]) - set(found):
                continue
            tensors = load_file(str(tensors_path))
            for i, feature in enumerate(meta["features"]):
                if feature in wanted and feature not in found:
                    found[feature] = _record(tensors, meta, i)
            info = meta["info"]
        if set(found) != wanted:
            return None
        return ActivationRecords({f: found[f] for f in ids}, **info)

    def save(self, records: ActivationRecords) -> Path:
        ids = list(records)
        tensors: dict[str, torch.Tensor] = {}
        for slot in SLOTS:
            occ = [getattr(records[f], slot) for f in ids]
            tensors[f"{slot}.offsets"] = torch.tensor([0] + [len(o) for o in occ]).cumsum(0)
            for name in (f.name for f in fields(Occurrences)):
                tensors[f"{slot}.{name}"] = torch.cat([getattr(o, name) for o in occ]).contiguous()
        meta = {"features": ids, "info": {k: getattr(records, k) for k in INFO},
                "scalars": {k: [getattr(records[f], k) for f in ids] for k in SCALARS}}
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "settings.json").write_text(json.dumps(self.settings, indent=1, sort_keys=True))
        stem = self.folder / f"part-{_digest(ids)}"
        tmp = stem.with_name(f".{stem.name}.tmp-{os.getpid()}")
        save_file(tensors, str(tmp))
        os.replace(tmp, stem.with_suffix(".safetensors"))
        stem.with_suffix(".json").write_text(json.dumps(meta))  # written last: a part counts once this exists
        return stem


def _record(tensors: dict[str, torch.Tensor], meta: dict[str, Any], i: int) -> FeatureRecord:
    slots = {}
    for slot in SLOTS:
        start, stop = tensors[f"{slot}.offsets"][i:i + 2].tolist()
        slots[slot] = Occurrences(*(tensors[f"{slot}.{f.name}"][start:stop] for f in fields(Occurrences)))
    scalars = {k: meta["scalars"][k][i] for k in SCALARS}
    return FeatureRecord(feature=meta["features"][i], **scalars, **slots)
