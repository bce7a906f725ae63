"""Candidate label vocabularies: "words", "dictionary" (English words only) and "auto", on a real BPE tokenizer
(GPT-2's) and on the tests' word-level one; and the English word list behind "dictionary"."""

import gzip
import unicodedata

import pytest
import torch
from transformer_lens import HookedTransformer

from sae_gd_labeler import LabelerConfig
from sae_gd_labeler.data.english_words import (
    FUNCTION_WORDS,
    build_english_words,
    english_words,
    inflections,
    write_english_words,
)
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import PromptTemplate
from sae_gd_labeler.readout.vocab import auto_vocab, candidate_token_ids
from tests.builders import tiny_config, tiny_model

TEMPLATE = PromptTemplate("{context} is {token} a {label}?", " Yes", " No")
# word-initial BPE pieces that GPT-2 has as single tokens with the leading space: "words" keeps them
GPT2_FRAGMENTS = (" desp", " dismant", " charism", " autom")


@pytest.fixture(scope="module")
def gpt2_disc():
    torch.set_num_threads(1)
    try:
        from sae_gd_labeler.data.gpt2_tokenizer import gpt2_tokenizer

        tokenizer = gpt2_tokenizer()
    except ImportError as e:
        pytest.skip(f"GPT-2's tokenizer is not installed: {e}")
    # with add_bos_token set, TransformerLens keeps this tokenizer instead of re-reading it from its (deleted) folder
    tokenizer.add_bos_token = True
    torch.manual_seed(0)
    model = HookedTransformer(tiny_config("gpt2", d_vocab=len(tokenizer), d_model=8, n_layers=1),
                              tokenizer=tokenizer)
    return Discriminator(model.eval(), TEMPLATE)


@pytest.fixture(scope="module")
def gpt2_sets(gpt2_disc):
    return candidate_token_ids(gpt2_disc, "words"), candidate_token_ids(gpt2_disc, "dictionary")


def one_id(disc, word):
    ids = disc.label_ids(word.strip())
    assert len(ids) == 1, f"{word!r} is not one token in the label slot: {ids}"
    return ids[0]


def test_dictionary_keeps_english_words_and_drops_word_pieces(gpt2_disc, gpt2_sets):
    words, dictionary = (set(t.tolist()) for t in gpt2_sets)
    assert dictionary < words
    for word in (" animal", " dog", " the", " running", " Animal"):
        assert one_id(gpt2_disc, word) in dictionary, word
    for piece in GPT2_FRAGMENTS:
        i = one_id(gpt2_disc, piece)
        assert i in words and i not in dictionary, piece
    # a real cut, not a token or two: about a fifth of GPT-2's word tokens are pieces or names
    assert 0.6 * len(words) < len(dictionary) < 0.9 * len(words)


def latin(word):
    return any(unicodedata.name(c, "").startswith("LATIN") for c in word)


def test_every_dictionary_token_is_a_word_that_round_trips(gpt2_disc, gpt2_sets):
    ids = gpt2_sets[1].tolist()
    texts = [t.strip() for t in gpt2_disc.tokenizer.batch_decode([[i] for i in ids])]
    english = english_words()
    assert all(t.isalpha() for t in texts)
    assert all(t.lower() in english or not latin(t) for t in texts)
    lead = gpt2_disc.template.label_lead
    encoded = gpt2_disc.tokenizer([lead + t for t in texts], add_special_tokens=False)["input_ids"]
    assert [list(e) for e in encoded] == [[i] for i in ids]
    # the list is English only, so words of other scripts are all kept: GPT-2 has Greek letters (" α", " β")
    assert any(unicodedata.name(t[0]).startswith("GREEK") for t in texts)


def test_auto_is_dictionary_on_a_real_subword_tokenizer(gpt2_disc, gpt2_sets):
    assert auto_vocab(gpt2_disc) == "dictionary"
    assert torch.equal(candidate_token_ids(gpt2_disc, "auto"), gpt2_sets[1])


def test_auto_is_words_on_a_small_word_level_tokenizer():
    # the tests' and the toy world's invented vocabularies need not be English: "auto" leaves them whole
    made_up = ("the", "cat", "dog", "zorblax", "quimple", "is", "a", "Yes", "No")
    disc = Discriminator(tiny_model("gpt2", made_up), TEMPLATE)
    assert auto_vocab(disc) == "words"
    words = candidate_token_ids(disc, "words")
    assert torch.equal(candidate_token_ids(disc, "auto"), words)
    assert torch.equal(candidate_token_ids(disc), words)
    assert one_id(disc, "zorblax") in set(words.tolist())
    dictionary = set(candidate_token_ids(disc, "dictionary").tolist())
    assert one_id(disc, "cat") in dictionary and one_id(disc, "zorblax") not in dictionary


def test_the_questions_own_words_are_not_labels_but_may_be_asked_for():
    """A yes / no question's words ("is", "a", "Yes", "No") are no label of the "words" or "dictionary"
    vocabularies, whatever their case; a likelihood template keeps them, and a list given by name keeps them."""
    from sae_gd_labeler.readout.template import AnswerTemplate
    from sae_gd_labeler.readout.vocab import question_words

    made_up = ("the", "cat", "dog", "zorblax", "is", "a", "Yes", "No", "yes", "Is", "question")
    yes_no = Discriminator(tiny_model("gpt2", made_up), TEMPLATE)
    assert question_words(yes_no) == {"is", "a", "yes", "no"}
    for vocab in ("words", "dictionary"):
        kept = {yes_no.tokenizer.decode([i]).strip() for i in candidate_token_ids(yes_no, vocab).tolist()}
        assert not kept & {"is", "a", "Yes", "No", "yes", "Is"} and "cat" in kept
    assert "question" in {yes_no.tokenizer.decode([i]).strip() for i in candidate_token_ids(yes_no, "words").tolist()}
    assert one_id(yes_no, "is") in set(candidate_token_ids(yes_no, ["is", "cat"]).tolist())
    answer = Discriminator(tiny_model("gpt2", made_up), AnswerTemplate())
    assert question_words(answer) == set()
    assert one_id(answer, "is") in set(candidate_token_ids(answer, "words").tolist())


def test_the_question_is_the_labels_line_onward_without_special_tokens():
    """A chat template's system prompt and role markup are not the question: only the line holding {label} and
    what follows it, less special tokens, are kept out of the labels."""
    from sae_gd_labeler.readout.vocab import question_words

    made_up = ("helpful", "assistant", "cat", "is", "a", "answer", "user", "system", "Yes", "No")
    chat = PromptTemplate("<bos>system\nyou are a helpful assistant<eos>\n<bos>user\n{context}\n"
                          "is {token} a {label} ? answer<eos>\n<bos>assistant\n", " Yes", " No")
    disc = Discriminator(tiny_model("gpt2", made_up), chat)
    assert question_words(disc) == {"is", "a", "answer", "assistant", "yes", "no"}
    kept = {disc.tokenizer.decode([i]).strip() for i in candidate_token_ids(disc, "words").tolist()}
    assert {"helpful", "user", "system", "cat"} <= kept and not kept & {"is", "a", "answer", "assistant"}


def test_unknown_vocabulary_names_the_choices(gpt2_disc):
    with pytest.raises(ValueError, match="dictionary"):
        candidate_token_ids(gpt2_disc, "nouns")


def test_config_defaults_to_auto_and_accepts_dictionary():
    assert LabelerConfig().candidate_vocab == "auto"
    assert LabelerConfig(candidate_vocab="dictionary").candidate_vocab == "dictionary"
    with pytest.raises(ValueError, match="dictionary"):
        LabelerConfig(candidate_vocab="english")


def test_shipped_word_list():
    words = english_words()
    assert english_words() is words  # read once
    assert len(words) > 100_000
    assert all(w.isascii() and w.isalpha() and w.islower() for w in words)
    for w in ("animal", "dog", "dogs", "geese", "drove", "running", "stopped", "bigger", "carries", "the", "she"):
        assert w in words, w
    for piece in ("desp", "glycer", "unw", "inher", "disappro", "veget", "utens", "autom", "dismant", "mer"):
        assert piece not in words, piece


def test_inflections_follow_the_spelling_rules():
    assert inflections("cat", "noun") == ["cats"]
    assert inflections("box", "noun") == ["boxes"]
    assert inflections("city", "noun") == ["cities"]
    assert set(inflections("woman", "noun")) == {"womans", "women"}
    assert set(inflections("make", "verb")) == {"makes", "making", "maked"}
    assert set(inflections("carry", "verb")) == {"carries", "carrying", "carried"}
    assert "dying" in inflections("die", "verb") and "seeing" in inflections("see", "verb")
    assert set(inflections("happy", "adj")) == {"happier", "happiest"}
    assert inflections("beautiful", "adj") == []  # more / most beautiful
    assert inflections("quickly", "adv") == []


def test_build_reads_all_four_indexes_and_the_exception_lists(tmp_path):
    licence = "  1 This software and database is being provided to you, the LICENSEE, by\n"
    (tmp_path / "data.noun").write_text(licence)
    (tmp_path / "index.noun").write_text(licence + "dog n 1 0 1 0 02084071\ndomestic_dog n 1 0 1 0 02084071\n"
                                         "cl n 1 0 1 0 14634591\n")
    (tmp_path / "index.verb").write_text(licence + "walk v 1 0 1 0 01904930\n")
    (tmp_path / "index.adj").write_text(licence + "tall a 1 0 1 0 02385102\nx-ray a 1 0 1 0 1\n")
    (tmp_path / "index.adv").write_text(licence + "Quickly r 1 0 1 0 00085811\n")
    (tmp_path / "noun.exc").write_text("geese goose\n")
    (tmp_path / "verb.exc").write_text("walked_on walk_on\n")
    words = build_english_words(tmp_path)
    assert words - FUNCTION_WORDS == {"dog", "dogs", "cl", "walk", "walks", "walking", "walked", "tall", "taller",
                                      "tallest", "quickly", "geese", "goose"}
    out = tmp_path / "words.txt.gz"
    write_english_words(words, out)
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert lines == sorted(words)
    first = out.read_bytes()
    write_english_words(words, out)
    assert out.read_bytes() == first  # no timestamp: the same list gives the same file


def test_build_without_wordnet_says_how_to_install_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        build_english_words(tmp_path)
