"""feature_batch_size="auto": the batch is sized from the cached prefixes' bytes and the free memory."""

from sae_gd_labeler.search.labeler import label_examples
from sae_gd_labeler.search.memory_budget import MAX_AUTO_BATCH, MEMORY_FRACTION, auto_feature_batch_size, kv_bytes
from tests.test_feature_batch import FAST, FEATURES, make_batch
from tests.test_labeler import disc  # noqa: F401  (fixture)


def test_kv_bytes_is_what_the_cache_holds(disc):  # noqa: F811
    batch = make_batch(disc)
    cache = batch.cache
    held = sum(t.numel() * t.element_size() for t in cache.keys + cache.values)
    assert held == len(cache) * kv_bytes(disc, cache.mask.shape[1])


def test_batch_size_follows_free_memory(disc):  # noqa: F811
    data = make_batch(disc).features
    per_row = kv_bytes(disc, 1)
    rows = max(len(f.train) for f in data)
    sizes = [auto_feature_batch_size(disc, data, FAST, free_bytes=free) for free in (0, 10**6, 10**8, 10**12)]
    assert sizes[0] == 1  # never below one feature
    assert sizes == sorted(sizes) and sizes[-1] == MAX_AUTO_BATCH
    free = 10**8
    prefix_len_bound = 64  # the tiny model's context
    reserve = FAST.max_rows_per_forward * (3 * per_row * prefix_len_bound + 2 * disc.d_vocab * 4)
    lower = (MEMORY_FRACTION * free - reserve) // (rows * (per_row * prefix_len_bound + disc.d_vocab * 4))
    assert sizes[2] >= min(MAX_AUTO_BATCH, lower)


def test_auto_batches_label_like_fixed_batches(disc):  # noqa: F811
    auto = label_examples(FEATURES, disc, FAST.replace(feature_batch_size="auto"))
    one = label_examples(FEATURES, disc, FAST.replace(feature_batch_size=1))
    assert {k: v.label for k, v in auto.items()} == {k: v.label for k, v in one.items()}
