"""FeatureBatch scoring: the grouped (shared-prefix) scoring and the screened discrete search against
independent per-pair computation."""

import pytest
import torch

from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.search.discrete_search import discrete_search, starts
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from sae_gd_labeler.search.labeler import split_examples
from sae_gd_labeler.search.objective import prediction_loss
from tests.test_labeler import FAST, FEATURES, disc  # noqa: F401  (disc is a fixture)


def make_batch(disc, config=FAST):  # noqa: F811
    data = [split_examples(f, ex, config) for f, ex in FEATURES.items()]
    assert all(isinstance(d, FeatureData) for d in data)
    return FeatureBatch(disc, data, candidate_token_ids(disc, config.candidate_vocab), config)


@pytest.mark.parametrize("rowset", ["eval", "train", "probe", "screen", "confirm"])
def test_hard_answers_equal_each_pair_scored_alone(disc, rowset):  # noqa: F811
    """Features with different numbers of labels (so the grid is padded) against one prompt at a time."""
    batch = make_batch(disc)
    feature = torch.tensor([2, 0, 2, 1, 2, 0])
    token = torch.tensor([5, 3, 9, 3, 1, 7])
    got = batch.hard_answers(feature, token, rowset)
    for f, t, (rows, answers) in zip(feature.tolist(), token.tolist(), got):
        assert torch.equal(rows, getattr(batch, f"{rowset}_rows")[f])
        data = batch.features[f].train
        examples = [data[int(r) - sum(len(d.train) for d in batch.features[:f])] for r in rows]
        alone = disc.yes_no_logit(examples, batch.disc.tokenizer.decode([int(batch.candidate_ids[t])]).strip(),
                                  use_cache=False)
        torch.testing.assert_close(answers, alone, atol=1e-4, rtol=0)


def test_screen_and_confirm_halve_the_eval_rows(disc):  # noqa: F811
    batch = make_batch(disc)
    for f in range(len(batch)):
        screen, confirm, full = batch.screen_rows[f], batch.confirm_rows[f], batch.eval_rows[f]
        assert sorted(torch.cat([screen, confirm]).tolist()) == sorted(full.tolist())
        n_pos = int(batch.positive[screen].sum())
        assert 0 < n_pos < len(screen)  # both classes in the screening half
        assert abs(n_pos - int(batch.positive[confirm].sum())) <= 1


@pytest.mark.parametrize("readout", ["yes_no", "full_vocab"])
def test_balanced_loss_is_the_class_balanced_mean(disc, readout):  # noqa: F811
    batch = make_batch(disc, FAST.replace(readout=readout))
    feature, token = torch.tensor([0, 1, 0, 1]), torch.tensor([4, 4, 7, 2])
    for rowset in ("eval", "train"):
        answers = batch.hard_answers(feature, token, rowset)
        got = batch.exact_loss(feature, token, rowset)
        for (rows, ans), g, f, t in zip(answers, got, feature.tolist(), token.tolist()):
            pos = batch.positive[rows]
            loss = prediction_loss(ans, batch.targets[rows])
            expected = 0.5 * loss[pos].mean() + 0.5 * loss[~pos].mean() - FAST.kl_weight * batch.log_q[f, t]
            assert float(g) == pytest.approx(float(expected), abs=1e-6)


@pytest.mark.parametrize("confirm", [1, 3])
def test_screened_search_reports_exact_eval_losses(disc, confirm):  # noqa: F811
    """Whatever screening skipped, every loss the search ends with is the exact loss on all eval rows."""
    config = FAST.replace(discrete_confirm=confirm, discrete_topk=6)
    batch = make_batch(disc, config)
    with disc.frozen():
        found = discrete_search(batch, starts(batch))
    n_feat, restarts = found.tokens.shape
    feature = torch.arange(n_feat)[:, None].expand(n_feat, restarts).reshape(-1)
    exact = batch.exact_loss(feature, found.tokens.reshape(-1)).view(n_feat, restarts)
    torch.testing.assert_close(found.losses, exact, atol=1e-5, rtol=0)


@pytest.mark.parametrize("readout", ["yes_no", "full_vocab"])
def test_step_loss_and_its_gradient_equal_each_label_scored_alone(disc, readout):  # noqa: F811
    """Restarts of a feature share its minibatch side by side; features have different numbers of labels."""
    batch = make_batch(disc, FAST.replace(readout=readout))
    feature = torch.tensor([2, 0, 2, 1, 2])
    gen = torch.Generator().manual_seed(0)
    embeds = (torch.randn(len(feature), batch.W_cand.shape[1], generator=gen) * 0.5).requires_grad_(True)
    rows = batch.sample_rows()  # [F, B]
    loss = batch.step_loss(feature, embeds, rows)
    (grad,) = torch.autograd.grad(loss.sum(), embeds)

    alone_embeds = embeds.detach().clone().requires_grad_(True)
    alone = []
    for label, f in enumerate(feature.tolist()):
        e = alone_embeds[label][None, None].expand(rows.shape[1], 1, -1)
        answer = disc.answer_logits(batch.cache.select(rows[f]), label_embeds=e, full_vocab=batch.full_vocab)
        alone.append(prediction_loss(answer, batch.targets[rows[f]]).mean())
    alone = torch.stack(alone)
    (alone_grad,) = torch.autograd.grad(alone.sum(), alone_embeds)
    torch.testing.assert_close(loss, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(grad, alone_grad, atol=1e-5, rtol=1e-4)


def test_float32_rows_equals_plain_indexing_across_chunks():
    from sae_gd_labeler.search.feature_batch import float32_rows

    weight = torch.randn(50, 8).to(torch.bfloat16)
    ids = torch.tensor([4, 0, 49, 7, 7, 13, 2])
    got = float32_rows(weight, ids, chunk=3)
    assert got.dtype == torch.float32
    assert torch.equal(got, weight[ids].float())


def test_prior_contrast_is_log_q_after_positives_minus_after_negatives(disc):  # noqa: F811
    batch = make_batch(disc, FAST.replace(kl_weight=0.0))  # computed whatever the naturalness weight
    for f, data in enumerate(batch.features):
        log_q = disc.cache_prefixes(data.train, with_log_q=True).log_q[:, batch.candidate_ids]  # [n, C]
        positive = torch.tensor([ex.activation > 0 for ex in data.train])
        want = log_q[positive].mean(0) - log_q[~positive].mean(0)
        torch.testing.assert_close(batch.prior_contrast[f], want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch.log_q[f], log_q.mean(0), atol=1e-5, rtol=1e-5)
