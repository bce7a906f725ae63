from sae_gd_labeler.data.example import Example
from sae_gd_labeler.data.sentence import last_sentence


def cut(context: str, token: str) -> str:
    return last_sentence(Example(context, token, 1.0)).context


def test_joined_texts_keep_only_the_last_sentence():
    assert cut("Someone who stalks game.With the wind; in the direction.In a meretric", "ric") == "In a meretric"
    assert cut("He said no. She left", " left") == "She left"
    assert cut("Is it? Yes!\nThen go home", " home") == "Then go home"


def test_numbers_and_the_token_itself_are_not_cut():
    assert cut("It costs 3.5 dollars", " dollars") == "It costs 3.5 dollars"
    assert cut("He stopped. He left.", ".") == "He left."
    assert cut("one. two.", ".") == "two."


def test_kept_whole_when_nothing_to_cut():
    assert cut("in the early", " early") == "in the early"
    ex = Example("a window that does not end with its token", "cat", 0.0)
    assert last_sentence(ex) is ex
    ex = Example(". ", " ", 0.0)  # the last sentence would be empty
    assert last_sentence(ex) is ex


def test_other_fields_are_kept():
    ex = Example("First. Second word", " word", 2.5, (7,))
    out = last_sentence(ex)
    assert (out.token, out.activation, out.token_ids) == (" word", 2.5, (7,))
