"""Real-word data for label-quality benchmarks on real LMs: WordNet categories and labeled examples."""

from sae_gd_labeler.data.real_categories import (
    Category,
    Taxonomy,
    build_categories,
    load_categories,
    single_token_words,
)
from sae_gd_labeler.data.real_examples import category_examples
from sae_gd_labeler.data.real_synthetic import SyntheticFeature, synthetic_features
from sae_gd_labeler.data.wordnet import Synset, WordNet, load_wordnet

__all__ = ["Category", "SyntheticFeature", "Synset", "Taxonomy", "WordNet", "build_categories", "category_examples",
           "load_categories", "load_wordnet", "single_token_words", "synthetic_features"]
