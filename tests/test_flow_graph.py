"""flow_graph on planted chains; its attribution-graph JSON and plotly figure."""

import json

import pytest
import torch
import torch.nn.functional as F

from sae_gd_labeler.flow.export import to_attribution_graph, write_attribution_graph
from sae_gd_labeler.flow.graph import flow_graph, residual_chain
from sae_gd_labeler.flow.planted import permuted_copy, planted_sae, random_directions
from sae_gd_labeler.flow.plot import plot_flow_graph
from sae_gd_labeler.search.result import FeatureLabel

D_IN, D_SAE, START = 1024, 64, 17


def planted_chain():
    """Residual SAEs at blocks 0-3 (1 and 2 permuted, noisy copies of 0; 3 unrelated), random MLP / attention
    SAEs at blocks 1-3 except MLP 2's feature 4, planted on residual 2's image of feature START."""
    r0 = random_directions(D_SAE, D_IN, seed=0)
    r1, t1 = permuted_copy(r0, noise=0.3, seed=1)
    r2, t2 = permuted_copy(r1, noise=0.3, seed=2)
    r3 = random_directions(D_SAE, D_IN, seed=3)
    saes = {f"blocks.{i}.hook_resid_post": planted_sae(w, f"blocks.{i}.hook_resid_post")
            for i, w in enumerate([r0, r1, r2, r3])}
    for i in (1, 2, 3):
        for kind, seed in (("mlp", 10), ("attn", 20)):
            w = random_directions(D_SAE, D_IN, seed=seed + i)
            if (kind, i) == ("mlp", 2):
                w[4] = F.normalize(r2[t2[t1[START]]], dim=0) + 0.8 * random_directions(1, D_IN, seed=99)[0]
            saes[f"blocks.{i}.hook_{kind}_out"] = planted_sae(w, f"blocks.{i}.hook_{kind}_out")
    return saes, t1, t2


def cos(saes, a, b):
    return F.cosine_similarity(saes[a[0]].W_dec[a[1]], saes[b[0]].W_dec[b[1]], dim=0).item()


def test_planted_chain_backward_forward_and_cut():
    saes, t1, t2 = planted_chain()
    start = ("blocks.1.hook_resid_post", int(t1[START]))
    graph = flow_graph(saes, start)
    chain = residual_chain(graph)
    assert chain == [("blocks.0.hook_resid_post", START), start, ("blocks.2.hook_resid_post", int(t2[t1[START]]))]
    mlp = ("blocks.2.hook_mlp_out", 4)
    assert set(graph.edges) == {(chain[0], chain[1]), (chain[1], chain[2]), (mlp, chain[2])}
    for u, v in graph.edges:
        assert graph.edges[u, v]["weight"] == pytest.approx(cos(saes, u, v), abs=1e-5)
        assert graph.edges[u, v]["weight"] >= (0.5 if graph.nodes[u]["kind"] == "resid" else 0.15)
    # the chain ends where block 3's best match falls below 0.5 (block 3 is unrelated)
    best3 = max(cos(saes, chain[2], ("blocks.3.hook_resid_post", j)) for j in range(D_SAE))
    assert graph.nodes[chain[2]]["cut_forward"] == pytest.approx(best3, abs=1e-5) and best3 < 0.5
    assert graph.graph["target"] == start
    # a stricter module threshold drops the MLP node; backward only stops at block 0
    strict = flow_graph(saes, start, module_threshold=0.9, forward=False)
    assert list(strict.edges) == [(chain[0], chain[1])]


def test_flow_graph_errors():
    saes, t1, _ = planted_chain()
    with pytest.raises(ValueError, match="no SAE at hook"):
        flow_graph(saes, ("blocks.7.hook_resid_post", 0))
    with pytest.raises(ValueError, match="outside"):
        flow_graph(saes, ("blocks.1.hook_resid_post", D_SAE))
    with pytest.raises(ValueError, match="residual stream"):
        flow_graph(saes, ("blocks.1.hook_mlp_out", 0))
    with pytest.raises(ValueError, match="same point of the residual stream"):
        flow_graph([saes["blocks.0.hook_resid_post"], planted_sae(torch.randn(4, D_IN), "blocks.1.hook_resid_pre")],
                   ("blocks.0.hook_resid_post", 0))
    with pytest.raises(ValueError, match="own hook names"):
        flow_graph({"blocks.5.hook_resid_post": saes["blocks.0.hook_resid_post"]}, ("blocks.5.hook_resid_post", 0))


def test_attribution_graph_json(tmp_path):
    saes, t1, _ = planted_chain()
    start = ("blocks.1.hook_resid_post", int(t1[START]))
    graph = flow_graph(saes, start)
    labels = {start: FeatureLabel(feature=start[1], label="colour", metrics={"balanced_accuracy": 0.91})}
    path = write_attribution_graph(graph, tmp_path / "g.json", labels, slug="planted")
    data = json.loads(path.read_text())
    assert set(data) == {"metadata", "qParams", "nodes", "links"}
    assert {"slug", "scan", "transcoder_list", "prompt_tokens", "prompt"} <= set(data["metadata"])
    assert {"pinnedIds", "supernodes", "linkType", "clickedId", "sg_pos"} <= set(data["qParams"])
    ids = [n["node_id"] for n in data["nodes"]]
    assert len(set(ids)) == len(ids) == graph.number_of_nodes()
    for n in data["nodes"]:
        assert {"node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"} <= set(n)
        assert isinstance(n["feature"], int) and isinstance(n["layer"], str)
    by_hook = {n["sae_hook"]: n for n in data["nodes"]}
    assert by_hook[start[0]]["clerp"] == "colour" and by_hook[start[0]]["node_id"] == f"1_{start[1]}_2"
    assert by_hook["blocks.2.hook_mlp_out"]["node_id"] == "2_4_1"
    weights = sorted(round(e["weight"], 6) for e in data["links"])
    assert weights == sorted(round(w, 6) for *_, w in graph.edges(data="weight"))
    assert all(link["source"] in ids and link["target"] in ids for link in data["links"])
    assert data["qParams"]["pinnedIds"] == [by_hook[start[0]]["node_id"]]
    assert to_attribution_graph(graph)["nodes"][0]["clerp"] == ""  # no labels: empty clerp


def test_plot_hovers_show_labels_and_scores():
    saes, t1, _ = planted_chain()
    start = ("blocks.1.hook_resid_post", int(t1[START]))
    graph = flow_graph(saes, start)
    fig = plot_flow_graph(graph, {start: {"label": "colour", "metrics": {"balanced_accuracy": 0.912}}})
    hovers = [h for trace in fig.data if trace.hovertext for h in trace.hovertext]
    assert len(hovers) == graph.number_of_nodes()
    mine = [h for h in hovers if start[0] in h][0]
    assert "colour" in mine and "0.912" in mine
    assert any("cut forward" in h for h in hovers)
    assert "plotly" in fig.to_html(include_plotlyjs=False, full_html=False).lower()
