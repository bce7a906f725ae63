"""Label sparse-autoencoder features by token-space gradient descent.

    from sae_gd_labeler import label_features
    labels = label_features(sae, [12, 345], model=model, dataset="corpus.jsonl")
"""

from sae_gd_labeler.activations import ActivationConfig, collect_activations
from sae_gd_labeler.config import LabelerConfig
from sae_gd_labeler.discriminator import Discriminator
from sae_gd_labeler.example import Example
from sae_gd_labeler.labeler import label_examples
from sae_gd_labeler.result import Candidate, FeatureLabel
from sae_gd_labeler.sae_labeling import label_features
from sae_gd_labeler.sampling import FeatureExamples, SamplingConfig, sample_examples
from sae_gd_labeler.template import PromptTemplate

__all__ = [
    "ActivationConfig",
    "Candidate",
    "Discriminator",
    "Example",
    "FeatureExamples",
    "FeatureLabel",
    "LabelerConfig",
    "PromptTemplate",
    "SamplingConfig",
    "collect_activations",
    "label_examples",
    "label_features",
    "sample_examples",
]
