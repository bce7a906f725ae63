"""Real SAEs of a real model: trained here with sae_lens's trainer on SmolLM2-135M-Instruct over the real
corpus, shipped with the package, and the command that retrains them.

    from sae_gd_labeler.saes import load_packaged_saes
    saes = load_packaged_saes("smollm2-135m-instruct")     # {hook name: SAE}

See packaged (what ships, how it was trained), activation_cache (one model pass for several hooks) and
training (sae_lens's SAETrainer on cached activations, and the quality figures). Names load on first use.
"""

from __future__ import annotations

from sae_gd_labeler.lazy_exports import lazy_exports

_PUBLIC = {"load_packaged_saes": "packaged", "PACKAGED_SAES": "packaged", "SAESet": "packaged",
           "train_sae_set": "packaged", "training_report": "packaged", "TrainingSettings": "training",
           "train_topk_sae": "training", "sae_quality": "training", "cache_activations": "activation_cache"}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
