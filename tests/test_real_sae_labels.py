"""The pieces of the real-SAE labeling benchmark that do not need the packaged models."""

import pytest

from sae_gd_labeler.bench.real_sae_labels import pick_features, summarize, top_contexts
from sae_gd_labeler.data.activations import ActivationConfig, collect_activations
from sae_gd_labeler.data.sampling import FeatureExamples
from sae_gd_labeler.runs.example_records import TokenTexts
from tests.builders import random_corpus, random_sae, tiny_model


def test_features_are_drawn_by_seed_among_those_that_can_be_labeled():
    sampled = {f: FeatureExamples(f, status="ok" if f % 3 else "dead") for f in range(30)}
    picked = pick_features(sampled, 5, seed=0)
    assert picked == pick_features(sampled, 5, seed=0) and len(set(picked)) == 5
    assert all(f % 3 for f in picked) and picked != pick_features(sampled, 5, seed=1)
    assert pick_features(sampled, 100, seed=0) == [f for f in range(30) if f % 3]


def test_means_are_taken_over_the_features_every_method_could_be_scored_on():
    scores = {"ours": {1: {"balanced_accuracy": 0.9, "f1": 0.8, "auroc": 0.95},
                       2: {"balanced_accuracy": 0.7, "f1": 0.6, "auroc": 0.75}},
              "base": {1: {"balanced_accuracy": 0.5, "f1": 0.4, "auroc": 0.5}, 2: {}}}
    out = summarize(scores, weak_threshold=0.75)
    assert out["n_features"] == 1 and out["ours"]["balanced_accuracy"] == 0.9
    assert out["base"]["below_weak_threshold"] == 1.0
    assert summarize({"ours": {1: {}}}, 0.75) == {"n_features": 0}


def test_top_contexts_mark_the_firing_token_with_its_activation():
    model = tiny_model("gpt2")
    tokens = random_corpus(model.tokenizer, 8, 16)
    sae = random_sae("standard", model, "blocks.0.hook_resid_post", calibrate_on=tokens, fire_rate=0.3)
    records = collect_activations(model, sae, tokens, [0, 1], ActivationConfig(n_top=4), context_size=16)
    lines = top_contexts(records[0], TokenTexts(model.tokenizer), n=3)
    top = records[0].top
    assert len(lines) == min(3, len(top))
    first_token = TokenTexts(model.tokenizer)([int(top.token_id[0])])[0]
    assert lines[0].endswith(f"[[{first_token}]]  ({top.activation[0].item():.2f})")
    assert top.activation[0] == pytest.approx(top.activation.max().item())


def test_the_context_template_shows_the_sentence_before_the_word():
    from sae_gd_labeler.bench.real_sae_labels import run
    from sae_gd_labeler.data.example import Example
    from sae_gd_labeler.data.sentence import last_sentence
    from sae_gd_labeler.readout.template import CONTEXT_CLOZE_TEXT, AnswerTemplate

    template = AnswerTemplate(CONTEXT_CLOZE_TEXT)
    ex = last_sentence(Example("An old gloss.A former party in the early", " early", 3.0))
    prefix = template.prefix(ex.context, ex.token)
    assert prefix.endswith("Text: A former party in the early\nWord:  early\nCategory:")
    assert "An old gloss" not in prefix and template.head.startswith("Text: I fixed the shelf")
    with pytest.raises(ValueError, match="template must be one of"):
        run(features=1, template="sentence")
