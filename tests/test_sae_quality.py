"""The SAE part of bench-quality: labels as label_features gives them, and each feature's ceiling."""

import pytest
import torch

from sae_gd_labeler import Discriminator, LabelerConfig, label_features
from sae_gd_labeler.bench.sae_quality import sae_category_quality
from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.toyworld import load_toy_world


@pytest.fixture(scope="module")
def world():
    return load_toy_world()


@pytest.fixture(scope="module")
def result(world):
    return sae_category_quality(world, LabelerConfig(), max_per_sae=2)


def test_labels_are_label_features_labels(world, result):
    """The bench labels features itself to keep their examples; the labels must be label_features' own."""
    hook = result["features"][0]["hook"]
    ids = [r["feature"] for r in result["features"] if r["hook"] == hook]
    disc = Discriminator(world.model, world.template)
    half = len(world.corpus) // 2
    labels = label_features(world.saes[hook], ids, model=world.model, discriminator=disc,
                            dataset=world.corpus[:half], example_fn=world.within_sentence)
    assert [(lab.label, lab.status) for lab in labels] == \
        [(r["label"], r["status"]) for r in result["features"] if r["hook"] == hook]


def test_the_ceiling_is_a_word_and_the_counts_add_up(world, result):
    words = {world.model.tokenizer.decode([int(i)]).strip()
             for i in candidate_token_ids(Discriminator(world.model, world.template), "auto")}
    rows = result["features"]
    assert len(rows) == result["n_matching"] > 0
    for r in rows:
        assert r["ceiling_label"] in words and r["ceiling_ok"] == (r["ceiling_label"] == r["category"])
    assert result["n_ceiling_ok"] == sum(r["ceiling_ok"] for r in rows)
    assert result["named_right_where_ceiling_ok"] == sum(r["right"] for r in rows if r["ceiling_ok"])
    # the search over the whole vocabulary finds the ceiling where it is the name (toy world: 46 of 46 at 16 a hook)
    assert result["named_right_where_ceiling_ok"] == result["n_ceiling_ok"]
    torch.testing.assert_close(torch.tensor(result["named_right_rate"]),
                               torch.tensor(sum(r["right"] for r in rows) / len(rows)))
