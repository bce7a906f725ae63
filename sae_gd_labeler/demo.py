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

from sae_gd_labeler.activations import ActivationConfig, collect_activations
from sae_gd_labeler.config import LabelerConfig
from sae_gd_labeler.discriminator import Discriminator
from sae_gd_labeler.example import Example
from sae_gd_labeler.labeler import label_examples
from sae_gd_labeler.report import FeatureData, report_html
from sae_gd_labeler.runs.example_records import TokenTexts, example_record
from sae_gd_labeler.sae_labeling import label_features
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
N_TOP_CONTEXTS = 5  # per row; the page shows all the records hold


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
    pages = {name: FeatureData({**labels[name].to_dict(), "feature": name}, _synthetic_record(features[name]))
             for name, _, _ in PAPER_FEATURES}
    rows = [_row(name, cat, labels[name], pages[name].examples) for name, cat, _ in PAPER_FEATURES]

    hook = DEMO_SAE if DEMO_SAE in world.saes else sorted(world.saes)[-1]
    sae = world.saes[hook]
    records = collect_activations(world.model, sae, world.corpus, range(sae.cfg.d_sae), ActivationConfig(n_top=16))
    decode = world.model.tokenizer.decode
    top_tokens = {f: [decode([int(t)]) for t in records[f].top.token_id[:8]] for f in records}
    # the most active features whose top tokens are content words: a label word cannot describe a
    # feature of "." or "the", and the world's function words belong to no category
    content = set(world.words) - set(world.function_words)
    wordy = [f for f in records if not records[f].dead and sum(t in content for t in top_tokens[f]) >= 4]
    most_active = sorted(wordy, key=lambda f: -records[f].n_fired)[:n_sae_features]
    texts = TokenTexts(world.model.tokenizer)
    for lab in label_features(sae, most_active, model=world.model, discriminator=disc, dataset=world.corpus,
                              config=config, example_fn=world.within_sentence):
        shown = sorted(set(top_tokens[lab.feature]))
        name = f"{hook} #{lab.feature}"
        record = example_record(records[lab.feature], texts, hook, [], [])
        rows.append(_row(name, "top tokens: " + " ".join(shown), lab, record))
        pages[name] = FeatureData({**lab.to_dict(), "feature": name, "hook_name": hook}, record)
    intro = ("<p>The seed paper's synthetic features (truth known) and real features of the toy world's SAE "
             f"{hook}, labeled with the hybrid search.</p>")
    return rows, report_html(list(pages.values()), "sae-gd-labeler demo: the toy world", intro=intro)


def _synthetic_record(examples: list[Example]) -> dict:
    """The examples.jsonl record of a synthetic feature: its positives as top contexts (activation 1 by
    construction, so no histogram)."""
    positives = sorted((ex for ex in examples if ex.activation > 0), key=lambda ex: -ex.activation)
    top = [{"tokens": [ex.context[: len(ex.context) - len(ex.token)], ex.token], "activation": ex.activation}
           for ex in positives[:16] if ex.context.endswith(ex.token)]
    return {"top": top, "max_activation": max((ex.activation for ex in positives), default=None)}


def _row(name: str, expected: str, lab, record: dict) -> dict:
    top = [{"context": "".join(c["tokens"][:-1]), "token": c["tokens"][-1], "activation": c["activation"]}
           for c in record.get("top", [])[:N_TOP_CONTEXTS] if c["tokens"]]
    return {"feature": name, "expected": expected, "label": lab.label, "status": lab.status,
            "balanced_accuracy": lab.metrics.get("balanced_accuracy"),
            "candidates": [{"label": c.label, "loss": c.loss} for c in lab.candidates], "top_contexts": top}
