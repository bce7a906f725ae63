"""Label sparse-autoencoder features by token-space gradient descent.

    from sae_gd_labeler import label_features
    labels = label_features(sae, [12, 345], model=model, dataset="corpus.jsonl")

The public names are imported on first use (PEP 562), so `sae-gd-labeler --help` and argument errors
answer before torch, TransformerLens and sae_lens are loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sae_gd_labeler.lazy_exports import lazy_exports

_PUBLIC = {
    "ActivationConfig": "activations",
    "collect_activations": "activations",
    "LabelerConfig": "config",
    "Discriminator": "discriminator",
    "Example": "example",
    "label_examples": "labeler",
    "Candidate": "result",
    "FeatureLabel": "result",
    "label_features": "sae_labeling",
    "FeatureExamples": "sampling",
    "SamplingConfig": "sampling",
    "sample_examples": "sampling",
    "PromptTemplate": "template",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)

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
