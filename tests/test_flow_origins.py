"""flow.predecessors: planted origins come out as planted; sites that cannot feed the target are refused."""

import pytest
import torch
import torch.nn.functional as F

from sae_gd_labeler.flow.origins import ORIGINS, OriginThresholds, chance_score, classify, predecessors
from sae_gd_labeler.flow.planted import planted_sae, random_directions
from sae_gd_labeler.flow.sites import Site

D_IN, D_SAE = 512, 64


def planted_layer():
    """Source SAEs of block 3 and a target residual whose features 0-5 have one planted origin each."""
    prev = random_directions(D_SAE, D_IN, seed=10)
    mlp = random_directions(D_SAE, D_IN, seed=11)
    attn = random_directions(D_SAE, D_IN, seed=12)
    target = random_directions(D_SAE, D_IN, seed=13)  # features 6.. stay random: unexplained
    noise = 0.1 * random_directions(6, D_IN, seed=14)
    target[0] = prev[5] + noise[0]                      # translated
    target[1] = prev[6] + mlp[7] + noise[1]             # processed by the MLP
    target[2] = prev[8] + attn[9] + noise[2]            # processed by attention
    target[3] = mlp[10] + noise[3]                      # newborn in the MLP
    target[4] = attn[11] + noise[4]                     # newborn in attention
    target[5] = 0.3 * prev[12] + mlp[13] + noise[5]     # weak residual link: newborn in the MLP
    target = F.normalize(target, dim=1)
    return (planted_sae(target, "blocks.3.hook_resid_post"), planted_sae(prev, "blocks.2.hook_resid_post"),
            planted_sae(mlp, "blocks.3.hook_mlp_out"), planted_sae(attn, "blocks.3.hook_attn_out"))


def test_planted_origins():
    target, prev, mlp, attn = planted_layer()
    assert chance_score(D_IN, D_SAE) < 0.25  # the default module threshold is above chance here
    origins = predecessors(target, range(8), residual=prev, mlp=mlp, attention=attn)
    kinds = [o.origin for o in origins]
    assert kinds[:6] == ["translated", "processed_by_mlp", "processed_by_attention", "newborn_in_mlp",
                         "newborn_in_attention", "newborn_in_mlp"]
    assert kinds[6:] == ["unexplained", "unexplained"]
    assert [origins[i].residual.feature for i in (0, 1, 2)] == [5, 6, 8]
    assert origins[1].mlp.feature == 7 and origins[2].attention.feature == 9
    assert origins[3].mlp.feature == 10 and origins[4].attention.feature == 11
    assert origins[0].residual.hook_name == "blocks.2.hook_resid_post"
    assert origins[0].residual.score > 0.9 and 0.6 < origins[1].mlp.score < 0.8
    # the scores are the cosines of the decoder rows, computed independently
    expect = F.cosine_similarity(target.W_dec[1], mlp.W_dec[7], dim=0).item()
    assert origins[1].mlp.score == pytest.approx(expect, abs=1e-5)


def test_missing_sources_and_thresholds():
    target, prev, mlp, attn = planted_layer()
    only_mlp = predecessors(target, [0, 3], mlp=mlp)
    assert [o.origin for o in only_mlp] == ["unexplained", "newborn_in_mlp"]
    assert only_mlp[0].residual is None and only_mlp[0].attention is None
    strict = predecessors(target, [1], residual=prev, mlp=mlp, thresholds=OriginThresholds(residual=0.9))
    assert strict[0].origin == "newborn_in_mlp"
    assert classify(0.6, 0.3, 0.4) == "processed_by_attention"  # both modules high: the stronger one
    assert classify(None, None, None) == "unexplained"
    assert set(ORIGINS) >= {classify(*s) for s in [(0.9, 0, 0), (0, 0.9, 0), (0.9, 0.9, 0), (0, 0, 0)]}


def test_sites():
    assert Site.of("blocks.4.hook_resid_pre").position == 4.0
    assert Site.of("blocks.3.hook_resid_post").position == 4.0
    assert Site.of("blocks.3.hook_mlp_out").kind == "mlp"
    # gpt2-small-res-jb's resid_pre SAEs: block 2's modules feed blocks.3.hook_resid_pre
    target = planted_sae(random_directions(4, 8), "blocks.3.hook_resid_pre")
    predecessors(target, residual=planted_sae(random_directions(4, 8), "blocks.2.hook_resid_pre"),
                 mlp=planted_sae(random_directions(4, 8), "blocks.2.hook_mlp_out"))


def test_errors():
    target, prev, mlp, attn = planted_layer()
    with pytest.raises(ValueError, match="cannot feed"):
        predecessors(target, residual=planted_sae(prev.W_dec, "blocks.1.hook_resid_post"))
    with pytest.raises(ValueError, match="cannot feed"):
        predecessors(target, mlp=planted_sae(mlp.W_dec, "blocks.4.hook_mlp_out"))
    with pytest.raises(ValueError, match="mlp site"):
        predecessors(target, attention=mlp)
    with pytest.raises(ValueError, match="residual stream"):
        predecessors(mlp, residual=prev)
    with pytest.raises(ValueError, match="unknown hook"):
        predecessors(planted_sae(prev.W_dec, "hook_embed"), residual=prev)
    with pytest.raises(ValueError, match="at least one source"):
        predecessors(target)
    with pytest.raises(ValueError, match="different widths"):
        predecessors(target, attention=planted_sae(torch.randn(4, 16), "blocks.3.attn.hook_z"))
    with pytest.raises(ValueError, match="cosine"):
        OriginThresholds(residual=2.0)
