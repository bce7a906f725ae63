"""Label sparse-autoencoder features by token-space gradient descent."""

from sae_gd_labeler.config import LabelerConfig
from sae_gd_labeler.example import Example
from sae_gd_labeler.result import Candidate, FeatureLabel
from sae_gd_labeler.template import PromptTemplate

__all__ = ["Candidate", "Example", "FeatureLabel", "LabelerConfig", "PromptTemplate"]
