"""A run directory: what a bulk run was asked to do, what it has finished, and its results.

    run_config.json   everything needed to reproduce the run (SAE, models, corpus, configs, version)
    labels.jsonl      one record per finished feature: FeatureLabel.to_dict() plus "hook_name"
    examples.jsonl    per finished feature: its top contexts, a quantile sample, an activation sample and
                      the train / held-out examples the labels were fitted and scored on
    shards/           while several processes run: labels-rank<R>.jsonl and examples-rank<R>.jsonl each;
                      merged into the two files above when every rank is done
    summary.json      at the end: counts by status, mean held-out metrics, time

Records are appended per finished batch (see jsonl_log), so a run killed at any moment keeps everything
but the batch in flight, and running the same command again labels only what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from sae_gd_labeler.runs.jsonl_log import JsonlLog, write_json_atomic, write_jsonl_atomic

FORMAT_VERSION = 1
CONFIG_FILE, LABELS_FILE, EXAMPLES_FILE, SUMMARY_FILE, SHARDS_DIR = (
    "run_config.json", "labels.jsonl", "examples.jsonl", "summary.json", "shards")
# Settings that do not change any record: a run may be resumed with other values of these.
NOT_IDENTITY = {"package_version", "features", "device", "command", "batch_features"}
NOT_IDENTITY_NESTED = {"labeler_config": {"feature_batch_size", "max_rows_per_forward", "device"},
                       "activation_config": {"feature_chunk_size"}}


class RunDirectoryError(ValueError):
    """The run directory cannot be used as asked; the message says why and what to do."""


class RunDirectory:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    # -- files -------------------------------------------------------------------------------------------
    @property
    def labels(self) -> JsonlLog:
        return JsonlLog(self.path / LABELS_FILE)

    @property
    def examples(self) -> JsonlLog:
        return JsonlLog(self.path / EXAMPLES_FILE)

    def shard(self, kind: str, rank: int) -> JsonlLog:
        return JsonlLog(self.path / SHARDS_DIR / f"{kind}-rank{rank}.jsonl")

    def shards(self, kind: str) -> list[JsonlLog]:
        return [JsonlLog(p) for p in sorted((self.path / SHARDS_DIR).glob(f"{kind}-rank*.jsonl"))]

    def config(self) -> dict[str, Any] | None:
        path = self.path / CONFIG_FILE
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise RunDirectoryError(f"{path} is not valid JSON ({e.msg}); rerun with --overwrite to start over") \
                from None

    # -- checks, all before any work ----------------------------------------------------------------------
    def check_writable(self) -> None:
        """Fail now, not after hours of work, if results cannot be written here."""
        probe_dir = self.path
        while not probe_dir.exists():
            probe_dir = probe_dir.parent
        if not probe_dir.is_dir():
            raise RunDirectoryError(f"--out {self.path}: {probe_dir} is a file, not a folder; choose another --out")
        if not os.access(probe_dir, os.W_OK | os.X_OK):
            raise RunDirectoryError(f"--out {self.path}: {probe_dir} is not writable; choose a folder you can "
                                    "write to")
        for name in (LABELS_FILE, EXAMPLES_FILE, CONFIG_FILE):
            path = self.path / name
            if path.exists() and not os.access(path, os.W_OK):
                raise RunDirectoryError(f"--out {self.path}: {path} is not writable; fix its permissions or "
                                        "choose another --out")

    def check_config(self, config: dict[str, Any], overwrite: bool) -> None:
        """Refuse a directory that holds a run with another config (unless overwrite)."""
        old = self.config()
        if old is None or overwrite:
            return
        differ = config_differences(old, config)
        if differ:
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in differ[:4])
            raise RunDirectoryError(f"--out {self.path} holds a run with another config ({shown}); rerun with "
                                    "--overwrite to start over there, or choose another --out")
        if old.get("format_version") != FORMAT_VERSION:
            raise RunDirectoryError(f"--out {self.path} holds a run of format {old.get('format_version')}, "
                                    f"this version writes format {FORMAT_VERSION}; use --overwrite or another --out")

    # -- state ---------------------------------------------------------------------------------------------
    def start(self, config: dict[str, Any], overwrite: bool) -> None:
        """Create or reuse the directory (single writer: rank 0). With overwrite, remove only our own files."""
        self.check_writable()
        self.check_config(config, overwrite)
        self.path.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for name in (LABELS_FILE, EXAMPLES_FILE, SUMMARY_FILE):
                (self.path / name).unlink(missing_ok=True)
            shutil.rmtree(self.path / SHARDS_DIR, ignore_errors=True)
        for log in [self.labels, self.examples, *self.shards("labels"), *self.shards("examples")]:
            log.repair()
        write_json_atomic(self.path / CONFIG_FILE, config)

    def label_records(self) -> list[dict[str, Any]]:
        """Every finished record (main file and shards), each feature once (the first record wins)."""
        return _unique([r for log in [self.labels, *self.shards("labels")] for r in log.read()])

    def example_records(self) -> dict[Any, dict[str, Any]]:
        """Per feature, its examples record (the last one written wins: a resumed batch rewrites it)."""
        out = {}
        for log in [self.examples, *self.shards("examples")]:
            for r in log.read():
                out[_key(r["feature"])] = r
        return out

    def finished(self) -> set:
        return {_key(r["feature"]) for r in self.label_records()}

    def merge_shards(self) -> None:
        """Fold the shards into labels.jsonl / examples.jsonl (atomically), then remove them."""
        if not (self.path / SHARDS_DIR).exists():
            return
        labels = sorted(self.label_records(), key=lambda r: _sort_key(r["feature"]))
        examples = sorted(self.example_records().values(), key=lambda r: _sort_key(r["feature"]))
        write_jsonl_atomic(self.path / LABELS_FILE, labels)
        write_jsonl_atomic(self.path / EXAMPLES_FILE, examples)
        shutil.rmtree(self.path / SHARDS_DIR)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json_atomic(self.path / SUMMARY_FILE, summary)


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, old, new) for every identity setting that differs (nested keys as 'a.b')."""
    out = []
    for key in sorted(set(old) | set(new)):
        if key in NOT_IDENTITY:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            skip = NOT_IDENTITY_NESTED.get(key, set())
            out += [(f"{key}.{k}", a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
                    if k not in skip and a.get(k) != b.get(k)]
        elif a != b:
            out.append((key, a, b))
    return out


def _key(feature):
    return tuple(feature) if isinstance(feature, list) else feature


def _sort_key(feature):
    return (0, feature, "") if isinstance(feature, int) else (1, 0, str(feature))


def _unique(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for r in records:
        k = _key(r["feature"])
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out
