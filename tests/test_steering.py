"""steering.steer: exact edits at the SAE's hook, hooks gone after the context (errors included), clear errors;
coefficient schedules over a flow graph."""

import math

import pytest
import torch

from sae_gd_labeler.flow.graph import flow_graph
from sae_gd_labeler.flow.planted import permuted_copy, planted_sae, random_directions
from sae_gd_labeler.steering import Schedule, graph_features, steer
from sae_gd_labeler.toyworld import load_toy_world

R0, R1, NEXT = "blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def world():
    return load_toy_world()


@pytest.fixture(scope="module")
def tokens(world):
    return world.model.to_tokens(world.corpus[:4])  # [4, T]


def run(model, tokens, names):
    logits, cache = model.run_with_cache(tokens, names_filter=names)
    return logits, cache


def test_add_mode_adds_strength_times_decoder_row_everywhere(world, tokens):
    sae = world.saes[R0]
    _, clean = run(world.model, tokens, [R0])
    with steer(world.model, [(sae, 3, 5.0), (sae, 40, -2.0)]):
        _, steered = run(world.model, tokens, [NEXT])  # block 1 reads block 0's steered output
    expect = clean[R0] + 5.0 * sae.W_dec[3] - 2.0 * sae.W_dec[40]  # [4, T, d_in]
    torch.testing.assert_close(steered[NEXT], expect)


def test_rescale_mode(world, tokens):
    sae = world.saes[R0]
    clean_logits, clean = run(world.model, tokens, [R0])
    a = sae.encode(clean[R0])  # [4, T, d_sae]
    i = int(a[:, 1:].flatten(0, 1).gt(0).sum(0).argmax())  # a feature that is often active
    with steer(world.model, [(sae, i, 0.0)], mode="rescale"):
        _, removed = run(world.model, tokens, [NEXT])
    torch.testing.assert_close(removed[NEXT], clean[R0] - a[..., i, None] * sae.W_dec[i])
    with steer(world.model, [(sae, i, -3.0)], mode="rescale"):
        _, flipped = run(world.model, tokens, [NEXT])
    torch.testing.assert_close(flipped[NEXT], clean[R0] - 4.0 * a[..., i, None] * sae.W_dec[i])
    with steer(world.model, [(sae, i, 1.0)], mode="rescale"):
        same_logits, _ = run(world.model, tokens, [NEXT])
    torch.testing.assert_close(same_logits, clean_logits)


def test_hooks_removed_on_exit_and_on_error(world, tokens):
    sae = world.saes[R1]
    clean = world.model(tokens)
    with steer(world.model, [(sae, 0, 50.0)]):
        assert not torch.allclose(world.model(tokens), clean)
    torch.testing.assert_close(world.model(tokens), clean)
    with pytest.raises(RuntimeError, match="boom"):
        with steer(world.model, [(sae, 0, 50.0)], mode="add"):
            raise RuntimeError("boom")
    torch.testing.assert_close(world.model(tokens), clean)
    assert all(len(hp.fwd_hooks) == 0 for hp in world.model.hook_dict.values())


def test_errors(world):
    sae = world.saes[R0]
    with pytest.raises(ValueError, match=r"outside \[0, 512\)"):
        with steer(world.model, [(sae, 512, 1.0)]):
            pass
    with pytest.raises(ValueError, match="unknown hook"):
        with steer(world.model, [(planted_sae(sae.W_dec.detach(), "blocks.9.hook_resid_post"), 0, 1.0)]):
            pass
    with pytest.raises(ValueError, match="mode must be one of"):
        with steer(world.model, [(sae, 0, 1.0)], mode="clamp"):
            pass
    with pytest.raises(ValueError, match="triple"):
        with steer(world.model, [(sae, 0)]):
            pass
    with pytest.raises(ValueError, match="finite"):
        with steer(world.model, [(sae, 0, float("nan"))]):
            pass
    assert all(len(hp.fwd_hooks) == 0 for hp in world.model.hook_dict.values())


def test_schedules():
    assert Schedule().coefficient(8.0, 5, 0, 10) == 8.0
    assert Schedule("exponential", alpha=-0.05).coefficient(8.0, 12, 0, 20) == pytest.approx(8.0 * math.exp(-0.6))
    lin = Schedule("linear", end=1.0)
    assert [lin.coefficient(9.0, layer, 2, 6) for layer in (2, 4, 6)] == [9.0, 5.0, 1.0]
    with pytest.raises(ValueError, match="Schedule.kind"):
        Schedule("cosine")


def test_graph_features_over_layers_and_threshold_scaling():
    w0 = random_directions(32, 256, seed=0)
    w1, t1 = permuted_copy(w0, seed=1)
    w2, t2 = permuted_copy(w1, seed=2)
    saes = {f"blocks.{i}.hook_resid_post": planted_sae(w, f"blocks.{i}.hook_resid_post", jumprelu=True)
            for i, w in enumerate([w0, w1, w2])}
    with torch.no_grad():
        saes["blocks.2.hook_resid_post"].threshold.fill_(0.5)
    graph = flow_graph(saes, ("blocks.1.hook_resid_post", int(t1[5])))
    feats = graph_features(graph, saes, 10.0, schedule=Schedule("linear", end=1.0))
    assert [(s.cfg.metadata.hook_name, f, c) for s, f, c in feats] == [
        ("blocks.0.hook_resid_post", 5, 10.0), ("blocks.1.hook_resid_post", int(t1[5]), 5.5),
        ("blocks.2.hook_resid_post", int(t2[t1[5]]), 1.0)]
    cumulative = graph_features(graph, saes, 10.0, layers=range(0, 2), threshold_scaling=True)
    assert [c for *_, c in cumulative] == [10.0, 10.0]
    single = graph_features(graph, saes, 10.0, layers=[2], threshold_scaling=True)
    assert [c for *_, c in single] == [5.0]
    with pytest.raises(ValueError, match="no node"):
        graph_features(graph, saes, 1.0, layers=[7])
    plain = {h: planted_sae(s.W_dec.detach(), h) for h, s in saes.items()}
    with pytest.raises(ValueError, match="JumpReLU"):
        graph_features(graph, plain, 1.0, threshold_scaling=True)
