"""flow.deactivation_check on the toy world: equal to a hand-written ablation; top-1 predecessors matter
more than random features; bad pairs are refused."""

import pytest
import torch

from sae_gd_labeler.flow.deactivation import deactivation_check, summarize
from sae_gd_labeler.flow.origins import predecessors
from sae_gd_labeler.toyworld import load_toy_world

R0, M1, R1 = "blocks.0.hook_resid_post", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def world():
    return load_toy_world()


def test_matches_a_hand_written_ablation(world):
    tgt, pred = world.saes[R1], world.saes[R0]
    text = [world.corpus[0]]
    tokens = world.model.to_tokens(text)  # [1, T], BOS first
    _, cache = world.model.run_with_cache(tokens, names_filter=[R1])
    acts = tgt.encode(cache[R1])[0]  # [T, d_sae]
    f = int(acts[1:].max(0).values.argmax())  # a feature firing somewhere after BOS
    p = predecessors(tgt, [f], residual=pred)[0].residual.feature
    firing = [t for t in range(1, tokens.shape[1]) if acts[t, f] > 0]

    changes = []
    for t in firing:  # independent: one token at a time, through TransformerLens's own hooks
        def remove(h, hook, t=t):
            h = h.clone()
            h[0, t] -= pred.encode(h[0, t])[p] * pred.W_dec[p]
            return h
        with world.model.hooks(fwd_hooks=[(R0, remove)]):
            _, c = world.model.run_with_cache(tokens, names_filter=[R1])
        after = tgt.encode(c[R1][0, t])[f]
        changes.append(((acts[t, f] - after) / acts[t, f]).item())

    res = deactivation_check(world.model, [(tgt, f, pred, p)], text, context_size=tokens.shape[1],
                             max_occurrences=100)[0]
    assert res.n_occurrences == len(firing) and res.target == (R1, f) and res.predecessor == (R0, p)
    assert res.mean_relative_change == pytest.approx(sum(changes) / len(changes), abs=1e-4)
    assert res.success_rate == pytest.approx(sum(c >= 0.5 for c in changes) / len(changes))

    # several predecessors removed together: the residual one, then the MLP one downstream of it
    mlp = world.saes[M1]
    q = predecessors(tgt, [f], mlp=mlp)[0].mlp.feature
    joint = []
    for t in firing:
        def remove_mlp(h, hook, t=t):
            h = h.clone()
            h[0, t] -= mlp.encode(h[0, t])[q] * mlp.W_dec[q]
            return h
        with world.model.hooks(fwd_hooks=[(R0, lambda h, hook, t=t: h.index_put(
                (torch.tensor([0]), torch.tensor([t])), h[0, t] - pred.encode(h[0, t])[p] * pred.W_dec[p])),
                (M1, remove_mlp)]):
            _, c = world.model.run_with_cache(tokens, names_filter=[R1])
        joint.append(((acts[t, f] - tgt.encode(c[R1][0, t])[f]) / acts[t, f]).item())
    both = deactivation_check(world.model, [(tgt, f, [(pred, p), (mlp, q)])], text, context_size=tokens.shape[1],
                              max_occurrences=100)[0]
    assert both.predecessors == ((R0, p), (M1, q))
    assert both.mean_relative_change == pytest.approx(sum(joint) / len(joint), abs=1e-4)
    with pytest.raises(ValueError, match="together"):
        _ = both.predecessor


def test_top1_predecessors_beat_random_features(world):
    tgt, pred = world.saes[R1], world.saes[R0]
    feats = list(range(0, 512, 32))
    top1 = [(tgt, o.feature, pred, o.residual.feature) for o in predecessors(tgt, feats, residual=pred)]
    g = torch.Generator().manual_seed(0)
    rand = [(tgt, f, pred, int(torch.randint(512, (1,), generator=g))) for f in feats]
    kw = dict(max_tokens=4000, max_occurrences=16)
    best = summarize(deactivation_check(world.model, top1, world.corpus, **kw))
    base = summarize(deactivation_check(world.model, rand, world.corpus, **kw))
    assert best["n_pairs"] >= 12
    assert best["mean_relative_change"] > base["mean_relative_change"] + 0.05
    assert best["success_rate"] > base["success_rate"]
    assert best["active_rate"] > base["active_rate"]


def test_errors(world):
    s = world.saes
    with pytest.raises(ValueError, match="not upstream"):
        deactivation_check(world.model, [(s[R0], 0, s[R1], 0)], world.corpus)
    with pytest.raises(ValueError, match="not upstream"):
        deactivation_check(world.model, [(s[R1], 0, s[R1], 1)], world.corpus)
    with pytest.raises(ValueError, match="outside"):
        deactivation_check(world.model, [(s[R1], 512, s[M1], 0)], world.corpus)
