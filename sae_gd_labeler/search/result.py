"""What the labeler returns for one feature."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# Every status a FeatureLabel can have; "ok" and "weak" carry a label (`FeatureLabel.labeled`), the others none.
STATUSES = {
    "ok": "labeled",
    "weak": "labeled, but not to be believed: see sae_gd_labeler.scoring.weak for the rule",
    "too_few_examples": "fewer positive or negative examples than LabelerConfig.min_examples_per_class",
    "dead": "the feature never fired on the corpus",
    "too_rare": "the feature fired, but on fewer occurrences than LabelerConfig.min_examples_per_class",
}


# keys a bulk run adds to to_dict() in labels.jsonl (see runs.bulk.label_record)
RUN_RECORD_KEYS = ("hook_name", "weak_reason")


@dataclass(frozen=True)
class Candidate:
    """A hard label that was tried, with its exact loss on all training examples."""

    label: str
    token_ids: tuple[int, ...]
    loss: float


@dataclass
class FeatureLabel:
    feature: Any
    label: str | None
    token_ids: tuple[int, ...] = ()
    candidates: list[Candidate] = field(default_factory=list)  # best (lowest loss) first
    metrics: dict[str, float] = field(default_factory=dict)  # on held-out examples, hard label
    n_positive: int = 0
    n_negative: int = 0
    steps: int = 0
    status: str = "ok"
    trajectory: dict[str, list[float]] | None = None  # soft phase: p(top tokens) over steps
    # likelihood readouts: the fitted map from the label's raw score to the logit of "the feature fires"
    calibration: dict[str, float] | None = None
    # other labels scored on the same held-out examples: {name: {"label": str, "metrics": {...}, ...}}
    baselines: dict[str, dict] | None = None
    # how the search went, for the report: {"method": "discrete", "restarts": [{"tokens", "losses"}]}, ...
    # (see labeler.label_batch and answer_search)
    search_history: dict | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"FeatureLabel.status must be one of {sorted(STATUSES)}, got {self.status!r}")

    @property
    def ok(self) -> bool:
        """A label to believe (status "ok"); a weak label is not ok but still `labeled`."""
        return self.status == "ok"

    @property
    def labeled(self) -> bool:
        """A label exists (status "ok" or "weak")."""
        return self.status in ("ok", "weak")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["token_ids"] = list(self.token_ids)
        out["candidates"] = [{**asdict(c), "token_ids": list(c.token_ids)} for c in self.candidates]
        out["metrics"] = _json_metrics(self.metrics)
        if self.baselines is not None:
            out["baselines"] = {name: {**b, "metrics": _json_metrics(b.get("metrics", {}))}
                                for name, b in self.baselines.items()}
        if self.search_history is not None:
            out["search_history"] = _json_numbers(self.search_history)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLabel:
        """The inverse of to_dict; also reads a run's labels.jsonl lines (their extra keys are not fields)."""
        data = {k: v for k, v in data.items() if k not in RUN_RECORD_KEYS}
        feature = data["feature"]
        data["feature"] = tuple(feature) if isinstance(feature, list) else feature
        data["token_ids"] = tuple(data.get("token_ids", ()))
        data["candidates"] = [
            Candidate(c["label"], tuple(c["token_ids"]), float(c["loss"])) for c in data.get("candidates", [])
        ]
        data["metrics"] = _float_metrics(data.get("metrics", {}))
        if data.get("baselines") is not None:  # absent in dicts written before baselines existed
            data["baselines"] = {name: {**b, "metrics": _float_metrics(b.get("metrics", {}))}
                                 for name, b in data["baselines"].items()}
        if data.get("search_history") is not None:
            data["search_history"] = _nan_numbers(data["search_history"])
        return cls(**data)

    @classmethod
    def without_label(cls, feature: Any, status: str, n_positive: int = 0, n_negative: int = 0):
        return cls(feature=feature, label=None, status=status, n_positive=n_positive, n_negative=n_negative)


# JSON has no NaN: undefined metrics (e.g. precision with no predicted positive) become None and back.
def _json_metrics(metrics: dict) -> dict:
    return {k: (None if v is None or math.isnan(v) else float(v)) for k, v in metrics.items()}


def _float_metrics(metrics: dict) -> dict:
    return {k: (math.nan if v is None else float(v)) for k, v in metrics.items()}


def _json_numbers(value):
    """A copy of nested dicts / lists with every NaN float as None (e.g. the losses in a search history)."""
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_numbers(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _nan_numbers(value):
    """_json_numbers undone for the lists of numbers in a search history: None inside "losses" is NaN."""
    if isinstance(value, dict):
        return {k: ([math.nan if x is None else x for x in v] if k == "losses" and isinstance(v, list)
                    else _nan_numbers(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_numbers(v) for v in value]
    return value
