"""The discriminator template and readout chosen, by measurement, for each packaged model.

`Discriminator(load_packaged_model(name))` uses these with no other argument. The figures that chose them
come from `sae-gd-labeler bench-readouts` (see README, "Real models").
"""

from __future__ import annotations

import json

from transformer_lens import HookedTransformer

from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate

# cfg.model_name, lower-cased (load_packaged_model and TransformerLens set "SmolLM2-135M-Instruct" and
# "gemma-3-270m") -> the template of its default readout
DEFAULT_TEMPLATES: dict[str, PromptTemplate | AnswerTemplate] = {
    "smollm2-135m-instruct": AnswerTemplate(),
    "gemma-3-270m": AnswerTemplate(),
}


def packaged_default_template(model: HookedTransformer) -> PromptTemplate | AnswerTemplate | None:
    """The default template of a packaged model or of the shipped toy world's model, None for any other."""
    from sae_gd_labeler.toyworld.discriminator import MODEL_NAME as TOY_WORLD_MODEL

    name = str(getattr(model.cfg, "model_name", "")).lower()
    if name == TOY_WORLD_MODEL:  # its discriminator was trained on its own question; its words lack "Yes" / "No"
        return toy_world_template()
    return DEFAULT_TEMPLATES.get(name)


def default_example_fn(model: HookedTransformer):
    """How examples must be cut for this discriminator to judge them, None when they are used as they come: the
    toy world's discriminator was trained on one-sentence contexts, so its examples are cut to the sentence
    that holds the token (without this its labels are at chance)."""
    from sae_gd_labeler.toyworld.discriminator import MODEL_NAME as TOY_WORLD_MODEL
    from sae_gd_labeler.toyworld.world import ToyWorld

    name = str(getattr(model.cfg, "model_name", "")).lower()
    return ToyWorld.within_sentence if name == TOY_WORLD_MODEL else None


def toy_world_template() -> PromptTemplate:
    from sae_gd_labeler.toyworld.world import DATA_DIR

    tmpl = json.loads((DATA_DIR / "template.json").read_text())
    return PromptTemplate(tmpl["text"], tmpl["yes"], tmpl["no"])
