"""Real pretrained LMs that ship inside PyPI packages, loaded offline as TransformerLens models.

    from sae_gd_labeler.models import load_packaged_model
    model = load_packaged_model("smollm2-135m-instruct")

See `sae_gd_labeler.models.packaged` for the install commands, the cache and the measured load times.
"""

from sae_gd_labeler.models.packaged import PACKAGED_MODELS, PackagedModelNotInstalled, load_packaged_model

__all__ = ["PACKAGED_MODELS", "PackagedModelNotInstalled", "load_packaged_model"]
