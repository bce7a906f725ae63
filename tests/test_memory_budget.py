"""feature_batch_size="auto": the batch is sized from a memory model of what labeling allocates (cached prefixes,
the forwards with gradients, the full-vocabulary logits) and the free memory."""

import pytest
import torch

from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.search import memory_budget as mb
from sae_gd_labeler.search.cause_batch import CauseBatch, cause_batch_bytes
from sae_gd_labeler.search.labeler import label_examples, split_examples
from sae_gd_labeler.search.memory_budget import MAX_AUTO_BATCH, kv_bytes
from tests import test_cause_search as cause_tests
from tests.builders import tiny_model
from tests.test_feature_batch import FAST, FEATURES, make_batch
from tests.test_labeler import disc  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def saved_bytes(model, fn) -> int:
    """Bytes of the tensors fn's autograd graph saves for backward (distinct storages, parameters and buffers
    left out): a lower bound on what a forward with gradients holds at its peak."""
    own = {t.untyped_storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in own:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_kv_bytes_is_what_the_cache_holds(disc):  # noqa: F811
    batch = make_batch(disc)
    cache = batch.cache
    held = sum(t.numel() * t.element_size() for t in cache.keys + cache.values)
    assert held == len(cache) * kv_bytes(disc, cache.mask.shape[1])


def test_the_estimates_grow_with_rows_tokens_and_vocabulary(disc):  # noqa: F811
    one = mb.forward_bytes(disc, 1, 4, 10, grad=True)
    assert mb.forward_bytes(disc, 7, 4, 10, grad=True) == 7 * one
    assert mb.forward_bytes(disc, 1, 8, 10, grad=True) > one > mb.forward_bytes(disc, 1, 4, 10, grad=False)
    assert mb.layer_row_bytes(disc, 4, 40) > mb.layer_row_bytes(disc, 4, 20)
    assert mb.logit_bytes(disc, 5, grad=True) == 5 * mb.logit_bytes(disc, 1, grad=True) >= 5 * disc.d_vocab * 4
    # the logits are float32 whatever the model's dtype, and scale with the vocabulary
    from sae_gd_labeler.readout.discriminator import Discriminator
    from tests.test_labeler import EXTRA, TEMPLATE, WORDS

    big = tiny_model("gemma2", WORDS + EXTRA + tuple(f"w{i}" for i in range(2000)))
    big_disc = Discriminator(big, TEMPLATE)
    assert mb.logit_bytes(big_disc, 1, grad=False) >= big_disc.d_vocab * 4 * 2 > mb.logit_bytes(disc, 1, grad=False)


def test_batch_size_follows_free_memory(disc):  # noqa: F811
    data = make_batch(disc).features
    config = FAST.replace(readout="yes_no")
    sizes = [mb.auto_batch_estimate(disc, data, config, 10, free_bytes=free).batch_size
             for free in (0, 10**6, 10**8, 10**12)]
    assert sizes[0] == 1  # never below one feature
    assert sizes == sorted(sizes) and sizes[-1] == MAX_AUTO_BATCH
    for free in (10**7, 10**8, 10**9):
        estimate = mb.auto_batch_estimate(disc, data, config, 10, free_bytes=free)
        sized = config.replace(max_rows_per_forward=mb.rows_per_forward(disc, data, config, free))
        per_feature, fixed = mb.batch_bytes(disc, data, sized, 10)
        size, budget = estimate.batch_size, mb.MEMORY_FRACTION * free
        assert estimate.estimated_bytes == min(size, len(data)) * per_feature + fixed
        fits = size * per_feature + fixed <= budget < (size + 1) * per_feature + fixed
        assert size == MAX_AUTO_BATCH or size == 1 or fits


def test_forwards_with_gradients_count_the_cpu_allocator(disc):  # noqa: F811
    """On CPU a forward with gradients holds CPU_ALLOCATOR_OVERHEAD times its tensors resident."""
    assert disc.device.type == "cpu" and mb.CPU_ALLOCATOR_OVERHEAD > 1
    assert mb.resident_with_grad(disc, 1000) == 1000 * mb.CPU_ALLOCATOR_OVERHEAD


def test_the_step_forward_saves_no_more_than_estimated(disc):  # noqa: F811
    """The tensors a gradient step and the guide's forward save (counted from the autograd graph) are within
    the per-feature estimate, less its cached prefixes, for every feature of the batch."""
    batch = make_batch(disc)
    n_feat = len(batch.features)
    per_feature, _ = mb.feature_batch_bytes(disc, batch.features, FAST, len(batch.candidate_ids))
    cache = max(len(f.train) for f in batch.features) * kv_bytes(disc, mb.estimated_prefix_len(disc, batch.features))
    d = disc.model.cfg.d_model
    rows = batch.sample_rows()
    step_labels = torch.randn(n_feat * FAST.restarts, 1, d, requires_grad=True)
    with disc.frozen():
        step = saved_bytes(disc.model, lambda: batch.step_loss(
            torch.arange(n_feat).repeat_interleave(FAST.restarts), step_labels, rows))
        guide = saved_bytes(disc.model, lambda: batch.step_loss(
            torch.arange(n_feat), torch.randn(n_feat, 1, d, requires_grad=True),
            batch.fixed_rows("eval", FAST.eval_examples)))
    assert step > 0 and guide > 0
    assert max(step, guide) <= n_feat * (per_feature - cache)
    # and it is not a loose bound: a quarter of the estimate is really saved
    assert max(step, guide) >= n_feat * (per_feature - cache) / 4


def test_the_fixed_part_of_a_step_is_the_weight_copies(disc):  # noqa: F811
    """What a step saves grows linearly with its rows; the part that does not (its intercept) is the copies of
    the layers' weights (weight_copy_bytes) and the candidates' embeddings the label is made of."""
    batch = make_batch(disc)
    d = disc.model.cfg.d_model
    rows = batch.sample_rows()[:1]  # [1, B]: one feature's minibatch

    def saved(n_rows: int) -> int:
        one_hot = torch.zeros(FAST.restarts, len(batch.candidate_ids), requires_grad=True)
        return saved_bytes(disc.model, lambda: batch.step_loss(
            torch.zeros(FAST.restarts, dtype=torch.long), (one_hot @ batch.W_cand).view(-1, 1, d), rows[:, :n_rows]))

    with disc.frozen():
        one, two, four = saved(1), saved(2), saved(4)
    assert four - two == 2 * (two - one)  # linear in the rows
    intercept = 2 * one - two
    expected = mb.weight_copy_bytes(disc) + mb.candidate_bytes(disc, len(batch.candidate_ids))
    assert mb.weight_copy_bytes(disc) > 0 and intercept == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("template", ["word", "context"])
def test_the_cause_estimate_is_not_below_what_its_step_saves(template):
    tmpl = cause_tests.WORD_TEMPLATE if template == "word" else cause_tests.CONTEXT_TEMPLATE
    disc_c = cause_tests.make("llama", tmpl)
    config = cause_tests.FAST
    data = [split_examples(f, ex, config) for f, ex in cause_tests.FEATURES.items()]
    batch = CauseBatch(disc_c, data, candidate_token_ids(disc_c, config.candidate_vocab), config)
    n_feat = len(data)
    per_feature, fixed = cause_batch_bytes(disc_c, data, config, len(batch.candidate_ids))
    labels = torch.randn(n_feat * config.restarts, 1, disc_c.model.cfg.d_model, requires_grad=True)
    with disc_c.frozen():
        step = saved_bytes(disc_c.model, lambda: batch.step_loss(
            torch.arange(n_feat).repeat_interleave(config.restarts), labels, batch.sample_rows()))
    assert 0 < step <= n_feat * per_feature
    # the budget the auto size aims for holds the estimate; a smaller budget gives a smaller batch
    sizes = [mb.auto_batch_estimate(disc_c, data, config.replace(readout="cause"), len(batch.candidate_ids),
                                    free_bytes=int(free)).batch_size for free in (10**12, 10**8, 10**6)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == MAX_AUTO_BATCH and sizes[-1] == 1


def test_the_answer_estimate_follows_the_budget():
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.readout.template import AnswerTemplate
    from tests.test_labeler import EXTRA, WORDS

    disc_a = Discriminator(tiny_model("llama", WORDS + EXTRA), AnswerTemplate())
    data = [split_examples(f, ex, FAST) for f, ex in FEATURES.items()]
    n_cand = len(candidate_token_ids(disc_a, FAST.candidate_vocab))
    per_feature, fixed = mb.answer_batch_bytes(disc_a, data, FAST, n_cand)
    assert fixed >= mb.logit_bytes(disc_a, 1, grad=False)
    sizes = [mb.auto_batch_estimate(disc_a, data, FAST.replace(readout="answer"), n_cand, free_bytes=int(f)).batch_size
             for f in (10**12, 10**7, 0)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


def test_memory_limit_caps_what_the_sizing_sees(disc):  # noqa: F811
    data = make_batch(disc).features
    with mb.memory_limit(10**6):
        assert mb.free_memory_bytes(disc.device) <= 10**6
        capped = mb.auto_batch_estimate(disc, data, FAST.replace(readout="yes_no"), 10)
    assert capped.budget_bytes == mb.MEMORY_FRACTION * 10**6 and capped.batch_size == 1
    assert mb.free_memory_bytes(disc.device) > 10**6  # the cap ends with the block


def test_auto_batches_label_like_fixed_batches(disc):  # noqa: F811
    auto = label_examples(FEATURES, disc, FAST.replace(feature_batch_size="auto"))
    one = label_examples(FEATURES, disc, FAST.replace(feature_batch_size=1))
    assert {k: v.label for k, v in auto.items()} == {k: v.label for k, v in one.items()}
