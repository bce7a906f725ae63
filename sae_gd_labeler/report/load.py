"""Read a run directory for the report, defensively: every optional part may be absent (an older writer,
an unfinished run), and a line that does not parse is reported on the page instead of stopping it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FeatureData:
    """One feature as the page shows it: its labels.jsonl record and its examples.jsonl record (or None)."""

    label: dict[str, Any]
    examples: dict[str, Any] | None = None


@dataclass
class Run:
    config: dict[str, Any] | None
    features: list[FeatureData]
    summary: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # said at the top of the page


def feature_key(feature: Any) -> str:
    """A feature id as a hashable, stable key (JSON lists, e.g. tuples written out, included)."""
    return json.dumps(feature, sort_keys=True)


def load_run(run_dir: Path | str) -> Run:
    run_dir = Path(run_dir)
    if not (run_dir / "labels.jsonl").exists():
        raise FileNotFoundError(f"{run_dir} has no labels.jsonl: not a run directory, or no feature finished yet")
    problems: list[str] = []
    config = _read_json(run_dir / "run_config.json", problems)
    summary = _read_json(run_dir / "summary.json", problems)
    if summary is None:
        problems.append("summary.json is absent: the run may be unfinished")
    labels = _read_jsonl(run_dir / "labels.jsonl", problems)
    examples = _read_jsonl(run_dir / "examples.jsonl", problems)
    features = [FeatureData(lab, examples.get(key)) for key, lab in labels.items()]
    unlabeled = len(set(examples) - set(labels))
    if unlabeled:
        problems.append(f"{unlabeled} features have examples but no label yet (the run is unfinished)")
    return Run(config, features, summary, problems)


def _read_json(path: Path, problems: list[str]) -> dict | None:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        problems.append(f"{path.name} does not parse ({err}); ignored")
        return None
    return value if isinstance(value, dict) else None


def _read_jsonl(path: Path, problems: list[str]) -> dict[str, dict]:
    """Records keyed by feature, in order of first appearance; a later line for the same feature replaces
    the earlier one (a crash and resume may write a feature twice)."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    bad = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad.append(n)  # e.g. a line cut short by a crash
                continue
            if not isinstance(record, dict) or "feature" not in record:
                bad.append(n)
                continue
            out[feature_key(record["feature"])] = record
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        problems.append(f"{path.name}: {len(bad)} lines skipped that are not feature records (line {shown})")
    return out
