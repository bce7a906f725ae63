"""Trust and comparison: the weak-label rule, scoring any text label on equal terms, baselines, and
external label files.

    from sae_gd_labeler.scoring import score_text_labels, add_baselines, read_label_file
"""

from __future__ import annotations

from sae_gd_labeler.lazy_exports import lazy_exports

# lazy: the labeler imports scoring.weak, and text_score imports the labeler
_EXPORTS = {
    "weak_reason": "weak", "label_weak_reason": "weak", "apply_weak_rule": "weak",
    "score_text_labels": "text_score", "score_label_sets": "text_score", "labeler_split": "text_score",
    "most_frequent_token": "baselines", "output_projection_tokens": "baselines", "add_baselines": "baselines",
    "read_label_file": "label_files",
    "explain_feature": "explainer", "explain_features": "explainer", "explainer_prompt": "explainer",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
