"""A feature's own firing tokens as label candidates (search.own_tokens)."""

import pytest

from sae_gd_labeler import Example
from sae_gd_labeler.search.own_tokens import own_token_ids
from tests.test_answer_readout import make

pytestmark = pytest.mark.usefixtures("one_thread")


def test_own_tokens_are_the_most_frequent_firing_texts_as_label_slot_ids():
    disc = make("gpt2")
    positives = [Example(w, w, 1.0) for w in ["dog"] * 3 + ["cat"] * 2 + ["fish", " dog", ""]]
    ids = own_token_ids(disc, positives, 2)
    # " dog" strips to "dog" (4 in all); the empty token is passed over; ties would keep first-seen order
    assert ids == [disc.label_ids("dog")[0], disc.label_ids("cat")[0]]
    assert own_token_ids(disc, positives, 0) == []
    assert len(own_token_ids(disc, positives, 10)) == 3


def test_texts_of_several_label_slot_tokens_are_skipped():
    disc = make("gpt2")
    several = "dog cat"  # two tokens in the label slot
    assert len(disc.label_ids(several)) > 1
    positives = [Example(several, several, 1.0)] * 5 + [Example("cat", "cat", 1.0)]
    assert own_token_ids(disc, positives, 3) == [disc.label_ids("cat")[0]]
