"""What the labeler returns for one feature."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# Every status a FeatureLabel can have; anything but "ok" carries no label.
STATUSES = {
    "ok": "labeled",
    "too_few_examples": "fewer positive or negative examples than LabelerConfig.min_examples_per_class",
    "dead": "the feature never fired on the corpus",
    "too_rare": "the feature fired, but on fewer occurrences than LabelerConfig.min_examples_per_class",
}


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

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"FeatureLabel.status must be one of {sorted(STATUSES)}, got {self.status!r}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["token_ids"] = list(self.token_ids)
        out["candidates"] = [{**asdict(c), "token_ids": list(c.token_ids)} for c in self.candidates]
        # JSON has no NaN: undefined metrics (e.g. precision with no predicted positive) become None.
        out["metrics"] = {k: (None if v is None or math.isnan(v) else float(v)) for k, v in self.metrics.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLabel:
        data = dict(data)
        feature = data["feature"]
        data["feature"] = tuple(feature) if isinstance(feature, list) else feature
        data["token_ids"] = tuple(data.get("token_ids", ()))
        data["candidates"] = [
            Candidate(c["label"], tuple(c["token_ids"]), float(c["loss"])) for c in data.get("candidates", [])
        ]
        data["metrics"] = {k: (math.nan if v is None else float(v)) for k, v in data.get("metrics", {}).items()}
        return cls(**data)

    @classmethod
    def without_label(cls, feature: Any, status: str, n_positive: int = 0, n_negative: int = 0):
        return cls(feature=feature, label=None, status=status, n_positive=n_positive, n_negative=n_negative)
