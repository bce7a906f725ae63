"""On a discriminator where the right answer is known (the shipped toy world, trained to answer membership
questions), the default labeler returns the category's name from several random initialisations."""

import pytest

from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
from sae_gd_labeler.toyworld import load_toy_world

CATEGORIES = ["animal", "fruit", "colour", "tool", "number"]


@pytest.fixture(scope="module")
def world():
    return load_toy_world()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_config_recovers_category_names(world, seed):
    disc = Discriminator(world.model, world.template)
    features = {c: world.examples_for(c, n=64, seed=seed) for c in CATEGORIES}
    labels = label_examples(features, disc, LabelerConfig(seed=seed))
    assert {c: labels[c].label for c in CATEGORIES} == {c: c for c in CATEGORIES}
    for c in CATEGORIES:
        assert labels[c].metrics["balanced_accuracy"] >= 0.9


def test_soft_method_recovers_a_category_and_records_its_trajectory(world):
    disc = Discriminator(world.model, world.template)
    lab = label_examples({"fruit": world.examples_for("fruit", n=64, seed=0)}, disc,
                         LabelerConfig(method="soft"))["fruit"]
    assert lab.label == "fruit"
    assert lab.trajectory is not None and "fruit" in lab.trajectory


# the cases where the search used to settle on the filler "a": none of the restarts' starting tokens was
# near the answer, and the gradient from "a" or "animal" ranks "reptile" hundreds of tokens down
@pytest.mark.parametrize("category,seed", [("reptile", 0), ("month", 1), ("reptile", 2)])
def test_former_filler_traps_are_recovered(world, category, seed):
    disc = Discriminator(world.model, world.template)
    features = {category: world.examples_for(category, n=96, seed=seed)}
    assert label_examples(features, disc, LabelerConfig(seed=seed))[category].label == category
