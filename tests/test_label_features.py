"""label_features end to end on a small random model and SAE, offline (quality is tested on the toy world)."""

import pytest
import torch

from sae_gd_labeler import LabelerConfig, PromptTemplate, label_features
from sae_gd_labeler.data.activations import ActivationConfig
from sae_gd_labeler.readout.discriminator import Discriminator
from tests.builders import WORDS, random_sae, random_texts, tiny_model

TEMPLATE = PromptTemplate("{context} . is {token} a {label} ? answer :", " yes", " no")
EXTRA = ("is", "a", "?", "answer", ":", "yes", "no", ".")
FAST = LabelerConfig(restarts=2, discrete_max_iters=2, batch_examples=4, eval_examples=8, examples_per_feature=16,
                     min_examples_per_class=2)
HOOK = "blocks.0.hook_resid_post"


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    model = tiny_model("gpt2", WORDS + EXTRA)
    corpus = random_texts(40, seed=3)
    calib = model.to_tokens(corpus[:8], padding_side="right")[:, :16]
    sae = random_sae("jumprelu", model, HOOK, d_sae=16, calibrate_on=calib, fire_rate=0.2, dead=(5,),
                     context_size=16)
    return model, sae, corpus


def test_end_to_end_in_order_with_dead_feature(setup):
    model, sae, corpus = setup
    ids = [3, 5, 0]
    labels = label_features(sae, ids, model=model, discriminator=Discriminator(model, TEMPLATE), dataset=corpus,
                            config=FAST, activation_config=ActivationConfig(batch_size=8))
    assert [lab.feature for lab in labels] == ids
    assert labels[1].status == "dead" and labels[1].label is None
    for lab in (labels[0], labels[2]):
        assert lab.labeled, lab.status
        assert lab.label and lab.n_positive >= 2 and lab.n_negative >= 2
        assert 0.0 <= lab.metrics["balanced_accuracy"] <= 1.0


def test_range_and_tensor_ids(setup):
    model, sae, corpus = setup
    disc = Discriminator(model, TEMPLATE)
    a = label_features(sae, range(2), model=model, discriminator=disc, dataset=corpus, config=FAST)
    b = label_features(sae, torch.tensor([0, 1]), model=model, discriminator=disc, dataset=corpus, config=FAST)
    assert [x.label for x in a] == [x.label for x in b]


@pytest.mark.parametrize("ids, match", [([16], "range"), ([-1], "negative|range"), ([1, 1], "duplicate")])
def test_bad_ids(setup, ids, match):
    model, sae, corpus = setup
    with pytest.raises(ValueError, match=match):
        label_features(sae, ids, model=model, discriminator=Discriminator(model, TEMPLATE), dataset=corpus)


def test_missing_dataset_and_model_names_are_explained(setup):
    model, sae, _ = setup
    with pytest.raises(ValueError, match="dataset_path"):
        label_features(sae, [0], model=model, discriminator=Discriminator(model, TEMPLATE))
    sae.cfg.metadata.model_name = None
    with pytest.raises(ValueError, match="model_name"):
        label_features(sae, [0])


def test_example_fn_is_applied_to_every_example(setup):
    model, sae, corpus = setup
    seen = []

    def cut(ex):
        seen.append(ex)
        return ex

    labels = label_features(sae, [0], model=model, discriminator=Discriminator(model, TEMPLATE), dataset=corpus,
                            config=FAST, example_fn=cut)
    n_train = labels[0].n_positive + labels[0].n_negative
    assert labels[0].labeled and len(seen) > n_train  # every training example and the held-out ones too


def test_toy_world_cuts_contexts_to_the_sentence():
    from sae_gd_labeler import Example
    from sae_gd_labeler.toyworld.world import ToyWorld

    assert ToyWorld.within_sentence(Example("a cat ran. the dog sat. the fern", "fern", 1.0)).context == "the fern"
    assert ToyWorld.within_sentence(Example("the fern.", ".", 1.0)).context == "the fern."
