"""flow.match: planted permutations are recovered exactly, blocked equals dense, bad input is refused."""

import pytest
import torch
import torch.nn.functional as F

from sae_gd_labeler.flow import match
from sae_gd_labeler.flow.planted import permuted_copy, planted_sae, random_directions


def dense_top_k(w_a, w_b, k):
    """Independent reference: the whole cosine matrix at once, in float64."""
    sim = F.normalize(w_a.double(), dim=1) @ F.normalize(w_b.double(), dim=1).T  # [n_a, n_b]
    scores, indices = sim.topk(k, dim=1)
    return indices, scores


def test_planted_permutation_is_recovered_exactly():
    w_a = random_directions(600, 64, seed=1)
    w_b, truth = permuted_copy(w_a, noise=0.3, rotation=0.1, seed=2)
    sae_a = planted_sae(w_a, "blocks.0.hook_resid_post")
    sae_b = planted_sae(w_b, "blocks.1.hook_resid_post")
    indices, scores = match(sae_a, sae_b, k=1, block_size=97)  # blocks that do not divide 600
    assert indices.shape == (600, 1) and scores.shape == (600, 1)
    assert torch.equal(indices[:, 0], truth)
    assert scores.min() > 0.8 and scores.max() <= 1.0 + 1e-6


def test_blocked_equals_dense():
    w_a = torch.randn(300, 32, generator=torch.Generator().manual_seed(0))
    w_b = torch.randn(517, 32, generator=torch.Generator().manual_seed(1))
    ref_i, ref_s = dense_top_k(w_a, w_b, 5)
    for block in (7, 64, 300, 10_000):
        indices, scores = match(w_a, w_b, k=5, block_size=block)
        assert torch.equal(indices, ref_i), block
        torch.testing.assert_close(scores, ref_s.float(), atol=1e-5, rtol=0)


def test_feature_subset_equals_rows_of_full_match():
    w_a = random_directions(200, 16, seed=3)
    w_b = random_directions(150, 16, seed=4)
    full_i, full_s = match(w_a, w_b, k=3, block_size=50)
    ids = [199, 0, 57, 57]
    sub_i, sub_s = match(w_a, w_b, k=3, features=ids, block_size=2)
    assert torch.equal(sub_i, full_i[ids])
    torch.testing.assert_close(sub_s, full_s[ids])


def test_scores_ignore_norms_and_zero_rows_score_zero():
    w_a = random_directions(10, 8, seed=5)
    w_a[3] = 0.0
    i1, s1 = match(w_a, w_a * 7.0, k=1)
    assert torch.equal(i1[[0, 1, 2, 4], 0], torch.tensor([0, 1, 2, 4]))
    torch.testing.assert_close(s1[[0, 1, 2, 4], 0], torch.ones(4))
    assert s1[3, 0] == 0.0


def test_bfloat16_products_keep_the_planted_match():
    w_a = random_directions(256, 64, seed=6)
    w_b, truth = permuted_copy(w_a, noise=0.2, seed=7)
    indices, scores = match(w_a, w_b, dtype=torch.bfloat16, block_size=64)
    assert torch.equal(indices[:, 0], truth) and scores.dtype == torch.float32


def test_errors():
    a = planted_sae(random_directions(8, 16), "blocks.0.hook_resid_post")
    b = planted_sae(random_directions(8, 32), "blocks.1.hook_z")
    with pytest.raises(ValueError, match="different widths"):
        match(a, b)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 8\]"):
        match(a, a, k=9)
    with pytest.raises(ValueError, match="outside"):
        match(a, a, features=[8])
    with pytest.raises(ValueError, match="integer feature ids"):
        match(a, a, features=[1.5])
    with pytest.raises(ValueError, match="block_size"):
        match(a, a, block_size=0)
