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
    "ActivationConfig": "data.activations",
    "collect_activations": "data.activations",
    "LabelerConfig": "search.config",
    "Discriminator": "readout.discriminator",
    "Example": "data.example",
    "label_examples": "search.labeler",
    "Candidate": "search.result",
    "FeatureLabel": "search.result",
    "label_features": "sae_labeling",
    "FeatureExamples": "data.sampling",
    "SamplingConfig": "data.sampling",
    "sample_examples": "data.sampling",
    "PromptTemplate": "readout.template",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from sae_gd_labeler.data.activations import ActivationConfig, collect_activations  # noqa: F401
    from sae_gd_labeler.data.example import Example  # noqa: F401
    from sae_gd_labeler.data.sampling import FeatureExamples, SamplingConfig, sample_examples  # noqa: F401
    from sae_gd_labeler.readout.discriminator import Discriminator  # noqa: F401
    from sae_gd_labeler.readout.template import PromptTemplate  # noqa: F401
    from sae_gd_labeler.sae_labeling import label_features  # noqa: F401
    from sae_gd_labeler.search.config import LabelerConfig  # noqa: F401
    from sae_gd_labeler.search.labeler import label_examples  # noqa: F401
    from sae_gd_labeler.search.result import Candidate, FeatureLabel  # noqa: F401
