"""Label sparse-autoencoder features by token-space gradient descent.

    from sae_gd_labeler import label_features
    labels = label_features(sae, [12, 345], model=model, dataset="corpus.jsonl")

The public names are imported on first use (PEP 562), so `sae-gd-labeler --help` and argument errors
answer before torch, TransformerLens and sae_lens are loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_PUBLIC = {
    "ActivationConfig": "sae_gd_labeler.activations",
    "collect_activations": "sae_gd_labeler.activations",
    "LabelerConfig": "sae_gd_labeler.config",
    "Discriminator": "sae_gd_labeler.discriminator",
    "Example": "sae_gd_labeler.example",
    "label_examples": "sae_gd_labeler.labeler",
    "Candidate": "sae_gd_labeler.result",
    "FeatureLabel": "sae_gd_labeler.result",
    "label_features": "sae_gd_labeler.sae_labeling",
    "FeatureExamples": "sae_gd_labeler.sampling",
    "SamplingConfig": "sae_gd_labeler.sampling",
    "sample_examples": "sae_gd_labeler.sampling",
    "PromptTemplate": "sae_gd_labeler.template",
}
__all__ = sorted(_PUBLIC)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from sae_gd_labeler.activations import ActivationConfig, collect_activations  # noqa: F401
    from sae_gd_labeler.config import LabelerConfig  # noqa: F401
    from sae_gd_labeler.discriminator import Discriminator  # noqa: F401
    from sae_gd_labeler.example import Example  # noqa: F401
    from sae_gd_labeler.labeler import label_examples  # noqa: F401
    from sae_gd_labeler.result import Candidate, FeatureLabel  # noqa: F401
    from sae_gd_labeler.sae_labeling import label_features  # noqa: F401
    from sae_gd_labeler.sampling import FeatureExamples, SamplingConfig, sample_examples  # noqa: F401
    from sae_gd_labeler.template import PromptTemplate  # noqa: F401


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'sae_gd_labeler' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
