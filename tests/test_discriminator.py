"""The label slot: a one-hot probability label must be exactly the hard-token run, on real architectures."""

import pytest
import torch

from sae_gd_labeler import Example, PromptTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from tests.builders import ARCHITECTURES, WORDS, tiny_model

TEMPLATE = PromptTemplate("{context} . is {token} a {label} ? answer :", " yes", " no")
EXTRA = ("is", "a", "?", "answer", ":", "yes", "no", ".")
EXAMPLES = [
    Example("the dog runs", "dog", 1.0),
    Example("a very old king sees the big red car and the small blue house", "house", 0.0),
    Example("fish", "fish", 1.0),
]


def make(arch):
    return Discriminator(tiny_model(arch, WORDS + EXTRA), TEMPLATE)


def one_hot(disc, word):
    p = torch.zeros(disc.d_vocab)
    p[disc.label_ids(word)[0]] = 1.0
    return p


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_one_hot_label_equals_hard_label(arch):
    disc = make(arch)
    hard = disc.yes_no_logit(EXAMPLES, "cat", use_cache=False)
    for use_cache in (False, True):
        soft = disc.yes_no_logit(EXAMPLES, one_hot(disc, "cat"), use_cache=use_cache)
        torch.testing.assert_close(soft, hard, atol=1e-4, rtol=0)
        torch.testing.assert_close(disc.yes_no_logit(EXAMPLES, "cat", use_cache=use_cache), hard, atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_matches_a_plain_forward_pass_of_the_rendered_prompt(arch):
    """Independent check: tokenize the whole prompt as text and run the model with no padding or cache."""
    disc = make(arch)
    got = disc.yes_no_logit(EXAMPLES, "cat")
    for i, ex in enumerate(EXAMPLES):
        tokens = disc.model.to_tokens(TEMPLATE.render(ex.context, ex.token, "cat"))
        logits = disc.model(tokens)[0, -1]
        torch.testing.assert_close(got[i], logits[disc.yes_id] - logits[disc.no_id], atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_gradients_reach_the_label_and_no_hook_stays(arch):
    disc = make(arch)
    v = torch.randn(disc.d_vocab, requires_grad=True)
    disc.yes_no_logit(EXAMPLES, v.softmax(-1)).sum().backward()
    assert v.grad is not None and v.grad.abs().sum() > 0
    assert all(not hp._forward_hooks for hp in disc.model.hook_dict.values())


def test_multi_slot_label_equals_two_hard_tokens():
    disc = make("llama")
    p = torch.stack([one_hot(disc, "big"), one_hot(disc, "cat")])  # [2, d_vocab]
    torch.testing.assert_close(disc.yes_no_logit(EXAMPLES, p), disc.yes_no_logit(EXAMPLES, "big cat"),
                               atol=1e-4, rtol=0)


def test_label_changes_the_answer():
    disc = make("gpt2")
    assert not torch.allclose(disc.yes_no_logit(EXAMPLES, "cat"), disc.yes_no_logit(EXAMPLES, "road"))


def test_hook_is_removed_when_the_forward_raises():
    disc = make("gpt2")
    bad = torch.zeros(2, disc.d_vocab)[None]  # 3-D: rejected before the forward
    with pytest.raises(ValueError, match="shape"):
        disc.yes_no_logit(EXAMPLES, bad)
    with pytest.raises(ValueError, match="NaN"):
        disc.yes_no_logit(EXAMPLES, torch.full((disc.d_vocab,), float("nan")))
    assert all(not hp._forward_hooks for hp in disc.model.hook_dict.values())


def test_frozen_restores_requires_grad():
    disc = make("gpt2")
    with disc.frozen():
        assert not any(p.requires_grad for p in disc.model.parameters())
    assert all(p.requires_grad for p in disc.model.parameters())


def test_prefix_cache_full_vocab_readout_is_a_log_softmax():
    disc = make("gemma2")
    cache = disc.cache_prefixes(EXAMPLES, with_log_q=True)
    assert cache.log_q.shape == (3, disc.d_vocab)
    torch.testing.assert_close(cache.log_q.exp().sum(-1), torch.ones(3))
    tokens = torch.tensor(disc.label_ids("cat")).expand(3, -1)
    both = disc.answer_logits(cache, label_tokens=tokens, full_vocab=True)  # [3, 2] log p(yes), log p(no)
    diff = disc.answer_logits(cache, label_tokens=tokens)
    torch.testing.assert_close(both[:, 0] - both[:, 1], diff, atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch,overrides", [("gpt2", {}), ("llama", {}), ("gemma2", {"window_size": 64}),
                                            ("gemma2", {})])  # the default tiny window (8): plain fallback
@pytest.mark.parametrize("k,full_vocab", [(1, False), (2, True)])
def test_answer_grid_equals_one_label_per_row(arch, overrides, k, full_vocab):
    """Q labels laid side by side after one shared prefix give what each gives alone after a copy of it."""
    disc = Discriminator(tiny_model(arch, WORDS + EXTRA, **overrides), TEMPLATE)
    cache = disc.cache_prefixes(EXAMPLES)  # left-padded: the rows have different prefix lengths
    n, q = len(EXAMPLES), 7
    labels = torch.randint(5, len(WORDS), (n, q, k), generator=torch.Generator().manual_seed(0))
    grid = disc.answer_grid(cache, labels, full_vocab=full_vocab)
    rows = torch.arange(n).repeat_interleave(q)
    alone = disc.answer_logits(cache.select(rows), label_tokens=labels.reshape(n * q, k), full_vocab=full_vocab)
    torch.testing.assert_close(grid, alone.view(grid.shape), atol=1e-5, rtol=0)
    assert all(not hp._forward_hooks for hp in disc.model.hook_dict.values())


def test_answer_grid_splits_rows_longer_than_the_context():
    """More labels than fit in n_ctx after the prefix are scored over several forwards, still exactly."""
    disc = Discriminator(tiny_model("gpt2", WORDS + EXTRA, n_ctx=40), TEMPLATE)
    cache = disc.cache_prefixes(EXAMPLES)
    labels = torch.randint(5, len(WORDS), (len(EXAMPLES), 30, 1), generator=torch.Generator().manual_seed(1))
    grid = disc.answer_grid(cache, labels)
    rows = torch.arange(len(EXAMPLES)).repeat_interleave(30)
    alone = disc.answer_logits(cache.select(rows), label_tokens=labels.reshape(-1, 1))
    torch.testing.assert_close(grid, alone.view(grid.shape), atol=1e-5, rtol=0)


@pytest.mark.parametrize("max_rows", [None, 1, 5, 64])
def test_answer_grid_rows_and_max_rows_give_the_same_answers(max_rows):
    """Label rows after chosen (repeated, reordered) prefixes, a few prefixes per forward, equal the grid
    after a copy of those prefixes in one forward."""
    disc = Discriminator(tiny_model("llama", WORDS + EXTRA), TEMPLATE)
    cache = disc.cache_prefixes(EXAMPLES)
    rows = torch.tensor([2, 0, 0, 1, 2, 1, 2])
    labels = torch.randint(5, len(WORDS), (len(rows), 3, 1), generator=torch.Generator().manual_seed(2))
    want = disc.answer_grid(cache.select(rows), labels)
    got = disc.answer_grid(cache, labels, rows=rows, max_rows=max_rows)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
