"""label_flow_graph on the toy world: a labelled flow graph for a body-part feature, exported with its labels."""

import pytest

from sae_gd_labeler import ActivationConfig, Discriminator, LabelerConfig
from sae_gd_labeler.flow.export import to_attribution_graph
from sae_gd_labeler.flow.graph import flow_graph
from sae_gd_labeler.flow.labeling import label_flow_graph
from sae_gd_labeler.steering.measure import category_feature, top_records
from sae_gd_labeler.toyworld import load_toy_world

HOOK = "blocks.1.hook_resid_post"


def test_labelled_flow_graph_of_a_body_part_feature():
    world = load_toy_world()
    body = world.taxonomy["body"]
    feature, purity = category_feature(world.model, top_records(world.model, world.saes[HOOK], world.corpus), body)
    assert purity == 1.0
    graph = flow_graph(world.saes, (HOOK, feature))
    assert graph.number_of_nodes() >= 4  # its residual predecessor and module nodes
    # a firing threshold of 1.0 keeps the feature's clear occurrences (below it, it fires weakly elsewhere)
    labels = label_flow_graph(graph, world.saes, Discriminator(world.model, world.template), model=world.model,
                              dataset=world.corpus, example_fn=world.within_sentence,
                              activation_config=ActivationConfig(firing_threshold=1.0),
                              config=LabelerConfig(activation_threshold=1.0))
    assert set(labels) == set(graph.nodes)
    assert all("label_status" in d for _, d in graph.nodes(data=True))
    assert graph.nodes[(HOOK, feature)]["label"] == "body"
    assert graph.nodes[(HOOK, feature)]["heldout_balanced_accuracy"] >= 0.7
    node = {n["sae_hook"]: n for n in to_attribution_graph(graph)["nodes"]}[HOOK]
    assert node["clerp"] == "body" and node["heldout_balanced_accuracy"] == pytest.approx(
        labels[(HOOK, feature)].metrics["balanced_accuracy"])
    with pytest.raises(ValueError, match="no SAE given"):
        label_flow_graph(graph, {HOOK: world.saes[HOOK]})
