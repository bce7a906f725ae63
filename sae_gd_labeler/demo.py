"""The offline demo: the seed paper's synthetic features and real SAE features of the shipped toy world.

    sae-gd-labeler demo

Synthetic features (truth known): animal; mammal on balanced data (many non-mammal animals among the
negatives) and on natural data (negatives as they come, where other animals are rare: the paper's
hierarchy failure); number (digits and number words); the second script (Chinese); palindrome (the
discriminator was never taught it: the paper's capability failure). Then the most active features of
one of the world's SAEs (among those whose top activations are content words), labeled from their real activations
with `label_features`. Each row carries the feature's top contexts beside its label, and its status ("weak":
kept, but not to be believed); the page is the report's feature page (sae_gd_labeler.report).
"""

from __future__ import annotations

from sae_gd_labeler.data.activations import ActivationConfig, collect_activations
from sae_gd_labeler.demo_rows import DemoOutput, choose_features, top_token_texts
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.runs.example_records import TokenTexts
from sae_gd_labeler.sae_labeling import label_features
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.labeler import label_examples
from sae_gd_labeler.toyworld import load_toy_world

# (feature name, category, negatives) as in the seed paper's experiments
PAPER_FEATURES = (
    ("animal", "animal", "balanced"),
    ("mammal, balanced data", "mammal", "balanced"),
    ("mammal, natural data", "mammal", "natural"),
    ("number", "number", "balanced"),
    ("chinese", "chinese", "balanced"),
    ("palindrome", "palindrome", "balanced"),
)
DEMO_SAE = "blocks.1.hook_resid_post"


def demo(n_sae_features: int = 6, seed: int = 0) -> tuple[list[dict], str]:
    """Label the demo features; returns (table rows, HTML feature page).

    A row: feature, expected, label, status, balanced_accuracy, candidates [{label, loss}], and
    top_contexts [{context, token, activation}] (highest first; context is the text before the token).
    """
    world = load_toy_world()
    disc = Discriminator(world.model, world.template)
    # hybrid: the soft phase gives the paper's trajectory figure, the discrete phase refines its proposals
    config = LabelerConfig(method="hybrid", seed=seed)
    features = {name: world.examples_for(cat, n=96, seed=seed, negatives=neg) for name, cat, neg in PAPER_FEATURES}
    labels = label_examples(features, disc, config)
    out = DemoOutput()
    for name, cat, _ in PAPER_FEATURES:
        out.add_synthetic(name, cat, labels[name], features[name])

    hook = DEMO_SAE if DEMO_SAE in world.saes else sorted(world.saes)[-1]
    sae = world.saes[hook]
    records = collect_activations(world.model, sae, world.corpus, range(sae.cfg.d_sae), ActivationConfig(n_top=16))
    top_tokens = top_token_texts(records, world.model.tokenizer.decode)
    # the world's function words belong to no category
    content = set(world.words) - set(world.function_words)
    most_active = choose_features(records, top_tokens, content.__contains__, n_sae_features)
    texts = TokenTexts(world.model.tokenizer)
    for lab in label_features(sae, most_active, model=world.model, discriminator=disc, dataset=world.corpus,
                              config=config, example_fn=world.within_sentence):
        out.add_sae_feature(hook, lab, records[lab.feature], top_tokens[lab.feature], texts)
    intro = ("<p>The seed paper's synthetic features (truth known) and real features of the toy world's SAE "
             f"{hook}, labeled with the hybrid search.</p>")
    return out.rows, out.html("sae-gd-labeler demo: the toy world", intro)
