"""Balanced, disjoint, reproducible example sets from streamed activation records."""

import dataclasses

import pytest
import torch

from sae_gd_labeler.data.activations import ActivationConfig, FeatureRecord, Occurrences, collect_activations
from sae_gd_labeler.data.example import check_examples
from sae_gd_labeler.data.sampling import SamplingConfig, sample_examples
from sae_gd_labeler.search.config import LabelerConfig
from tests.builders import random_corpus, random_sae, random_texts, tiny_model

HOOK = "blocks.1.hook_resid_post"
CTX = 24
IDS = [0, 3, 5, 7, 30]  # 3 is made dead
CONFIG = LabelerConfig(examples_per_feature=40, heldout_fraction=0.25, min_examples_per_class=4, seed=0)


@pytest.fixture(scope="module")
def world():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add hand-off cost
    model = tiny_model("gpt2", seed=1)
    sae = random_sae("jumprelu", model, HOOK, d_sae=32, dead=(3,), context_size=CTX,
                     calibrate_on=random_corpus(model.tokenizer, 16, CTX, seed=3), fire_rate=0.05)
    records = collect_activations(model, sae, random_texts(120, seed=2), IDS,
                                  ActivationConfig(n_top=16, n_positive_sample=48, n_negative_sample=48,
                                                   n_hard_negative=24))
    yield model, sae, records
    torch.set_num_threads(threads)


def split_classes(examples, threshold=0.0):
    pos = [e for e in examples if e.activation > threshold]
    return pos, [e for e in examples if e.activation <= threshold]


def test_balanced_disjoint_and_labelable(world):
    model, _, records = world
    out = sample_examples(records, model.tokenizer, CONFIG)
    assert set(out) == set(IDS)
    for f in (0, 5, 7, 30):
        fe = out[f]
        assert fe.status == "ok", (f, fe.status)
        pos, neg = split_classes(fe.train)
        held_pos, held_neg = split_classes(fe.heldout)
        assert len(pos) == len(neg) > 0 and len(held_pos) == len(held_neg) > 0
        assert fe.n_positive == fe.n_negative == len(pos) + len(held_pos)
        assert len(fe.train) + len(fe.heldout) <= CONFIG.examples_per_feature
        assert len(held_pos) == round(fe.n_positive * CONFIG.heldout_fraction)
        # Split by occurrence identity: no (sequence, position) on both sides, none repeated.
        assert not set(fe.train_keys) & set(fe.heldout_keys)
        assert len(set(fe.train_keys)) == len(fe.train) and len(set(fe.heldout_keys)) == len(fe.heldout)
        check_examples(f, fe.train, CONFIG.activation_threshold)  # the labeler's own input check
        for ex in fe.train + fe.heldout:
            assert ex.context.endswith(ex.token) and ex.token_ids == (model.tokenizer.convert_tokens_to_ids(ex.token),)
            assert "<bos>" not in ex.context


def test_examples_carry_the_recorded_activations(world):
    model, _, records = world
    fe = sample_examples(records, model.tokenizer, CONFIG, features=[5])[5]
    rec = records[5]
    kept = {}
    for occ in (rec.top, rec.positives, rec.negatives, rec.hard_negatives):
        kept.update(zip(occ.keys(), occ.activation.tolist(), strict=True))
    for key, ex in zip(fe.train_keys + fe.heldout_keys, fe.train + fe.heldout, strict=True):
        assert ex.activation == pytest.approx(kept[key])


def test_positives_include_the_strongest_and_spread_below(world):
    model, _, records = world
    sampling = SamplingConfig(top_fraction=0.25, n_quantiles=4)
    fe = sample_examples(records, model.tokenizer, CONFIG, sampling, features=[0])[0]
    acts = sorted((e.activation for e in fe.train + fe.heldout if e.activation > 0), reverse=True)
    n_top = round(0.25 * len(acts))
    assert acts[:n_top] == pytest.approx(records[0].top.activation[:n_top].tolist())
    # The rest reaches down into the lowest quartile of the uniform sample, not only the peak.
    floor = records[0].positives.activation.quantile(0.25).item()
    assert min(acts) <= floor


def test_hard_negatives_are_the_feature_tokens_where_it_is_silent(world):
    model, _, records = world
    rec = records[7]
    assert len(rec.hard_negatives) > 0
    top_tokens = set(rec.top.token_id.tolist())
    with_hard = sample_examples(records, model.tokenizer, CONFIG, SamplingConfig(hard_negative_fraction=0.5),
                                features=[7])[7]
    negs = [e for e in with_hard.train + with_hard.heldout if e.activation <= 0]
    hard = [e for e in negs if e.token_ids[0] in top_tokens]
    assert len(hard) >= min(round(0.5 * len(negs)), len(rec.hard_negatives))


def test_reproducible_by_seed(world):
    model, _, records = world
    a = sample_examples(records, model.tokenizer, CONFIG)
    b = sample_examples(records, model.tokenizer, CONFIG)
    c = sample_examples(records, model.tokenizer, CONFIG.replace(seed=1))
    assert a == b
    assert a[0].train_keys != c[0].train_keys


def test_independent_of_which_other_features_are_sampled(world):
    model, sae, records = world
    together = sample_examples(records, model.tokenizer, CONFIG)[7]
    alone = sample_examples(records, model.tokenizer, CONFIG, features=[7])[7]
    assert together == alone
    # End to end: collecting feature 7 on its own gives the same examples.
    only = collect_activations(model, sae, random_texts(120, seed=2), [7],
                               ActivationConfig(n_top=16, n_positive_sample=48, n_negative_sample=48,
                                                n_hard_negative=24))
    fe = sample_examples(only, model.tokenizer, CONFIG)[7]
    assert (fe.train_keys, fe.heldout_keys) == (together.train_keys, together.heldout_keys)


def test_dead_feature(world):
    model, _, records = world
    fe = sample_examples(records, model.tokenizer, CONFIG)[3]
    assert fe.status == "dead" and fe.train == [] and fe.heldout == [] and fe.n_positive == 0


def fake_record(n_fired, n_kept=None, n_negative=30, feature=11):
    """A hand-made record: `n_kept` positives with activations 1..n, `n_negative` silent tokens."""
    n_kept = n_fired if n_kept is None else n_kept

    def occ(first_seq, n, act):
        seq = torch.arange(first_seq, first_seq + n)
        tok = torch.full((n,), 5)
        return Occurrences(seq, torch.full((n,), 3), tok, act(n), torch.stack([tok, tok], 1))

    top = occ(0, n_kept, lambda n: torch.arange(n, 0, -1).float())
    return FeatureRecord(feature, n_tokens=1000, n_fired=n_fired, max_activation=float(n_kept),
                         firing_threshold=0.0, top=top, positives=top,
                         negatives=occ(100, n_negative, torch.zeros), hard_negatives=occ(100, 0, torch.zeros))


def test_too_rare_and_too_few_examples(world):
    model = world[0]
    rare = sample_examples({11: fake_record(n_fired=3)}, model.tokenizer, CONFIG)[11]
    assert rare.status == "too_rare" and rare.n_positive == 3 and rare.train == []
    # Enough firing, but only 2 positives above a raised labeling threshold.
    raised = sample_examples({11: fake_record(n_fired=10)}, model.tokenizer, CONFIG.replace(activation_threshold=8))
    assert raised[11].status == "too_few_examples" and raised[11].n_positive == 2
    few_neg = sample_examples({11: fake_record(n_fired=10, n_negative=2)}, model.tokenizer, CONFIG)[11]
    assert few_neg.status == "too_few_examples" and few_neg.n_negative == 2
    ok = sample_examples({11: fake_record(n_fired=4)}, model.tokenizer, CONFIG)[11]
    assert ok.status == "ok" and ok.n_positive == 4 and len(ok.heldout) == 2


def test_errors(world):
    model, _, records = world
    with pytest.raises(ValueError, match="no record"):
        sample_examples(records, model.tokenizer, CONFIG, features=[1])
    lower = dataclasses.replace(records[0], firing_threshold=0.5)
    with pytest.raises(ValueError, match="activation_threshold=0.0 is below"):
        sample_examples({0: lower}, model.tokenizer, CONFIG)
    with pytest.raises(ValueError, match="top_fraction"):
        SamplingConfig(top_fraction=1.5)
