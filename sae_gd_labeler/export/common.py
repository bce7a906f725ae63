"""What every export needs: the run read back (and checked), and files written whole or not at all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sae_gd_labeler.runs.run_dir import CONFIG_FILE, EXAMPLES_FILE, LABELS_FILE, SUMMARY_FILE, RunDirectory

LABELED = ("ok", "weak")  # the statuses that carry a label (FeatureLabel.labeled)
EXPORT_DIR = "export"  # default place of the exports, inside the run directory


class ExportError(ValueError):
    """An export cannot be made as asked; the one-line message says why and what to do."""


@dataclass
class Run:
    path: Path
    config: dict[str, Any]
    records: list[dict[str, Any]]  # one per feature, sorted by feature

    @property
    def labeled(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") in LABELED and r.get("label") is not None]

    def hook_name(self, record: dict[str, Any]) -> str:
        return record.get("hook_name") or (self.config.get("sae") or {}).get("hook_name") or "sae"


def load_run(run_dir: Path | str) -> Run:
    path = Path(run_dir)
    run = RunDirectory(path)
    fix = "give the folder a `sae-gd-labeler label` run wrote (its --out)"
    if not path.is_dir():
        raise ExportError(f"{path} is not a run directory (no such folder); {fix}")
    config = run.config()
    if config is None:
        raise ExportError(f"{path} is not a run directory (no {CONFIG_FILE}); {fix}")
    if not run.labels.path.exists() and not run.shards("labels"):
        raise ExportError(f"{path} is not a run directory, or one that has finished no feature yet (no "
                          f"{LABELS_FILE}); {fix}, or wait for its first batch")
    records = sorted(run.label_records(), key=lambda r: _feature_order(r["feature"]))
    return Run(path, config, records)


def output_file(run: Run, out: Path | str | None, default_name: str) -> Path:
    """`out` is a folder (the default name goes inside) or a file path with the default name's suffix."""
    if out is None:
        target = run.path / EXPORT_DIR / default_name
    else:
        out = Path(out)
        is_file = not out.is_dir() and out.suffix == Path(default_name).suffix
        target = out if is_file else out / default_name
    check_not_run_file(run, target)
    return target


def check_not_run_file(run: Run, target: Path) -> None:
    """An export must never replace the run's own files."""
    own = {(run.path / name).resolve() for name in (CONFIG_FILE, LABELS_FILE, EXAMPLES_FILE, SUMMARY_FILE)}
    if target.resolve() in own:
        raise ExportError(f"--out {target} would replace the run's own {target.name}; choose another --out")


def write_atomic(path: Path, data: bytes, sync: bool = True) -> None:
    """Write through a temporary file renamed into place: a failed export leaves the old file whole."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    ensure_dir(path.parent)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise ExportError(f"cannot write {e.filename or path} ({e.strerror}); choose an output folder you can "
                          "write to (--out)") from None
    finally:
        tmp.unlink(missing_ok=True)


def ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create {e.filename or path} ({e.strerror}); choose an output folder you can "
                          "write to (--out)") from None


def _feature_order(feature):
    # bulk runs key features by int; anything else sorts after them, by its text
    return (0, feature, "") if isinstance(feature, int) else (1, 0, str(feature))
