import pytest

from sae_gd_labeler import Example, PromptTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from tests.builders import WORDS, tiny_model

TEMPLATE_WORDS = ("Question", "Answer", "Yes", "No", "in", "text", "above", "an", "example", "of", "yes", "no")


def test_pieces_reassemble_the_prompt():
    t = PromptTemplate("Text: {context}. Is {token} a {label}? Answer:", " Yes", " No")
    assert t.label_lead == " "
    assert t.prefix("the dog ran", "dog") == "Text: the dog ran. Is dog a"
    assert t.suffix == "? Answer:"
    assert t.render("the dog ran", "dog", "animal") == "Text: the dog ran. Is dog a animal? Answer:"


def test_slots_are_filled_once_even_if_the_context_contains_slot_text():
    t = PromptTemplate("{context} | {token} {label} ?", " Yes", " No")
    assert t.prefix("a {token} b", "x") == "a {token} b | x"


@pytest.mark.parametrize("text, match", [
    ("{context} is {token} a ?", r"\{label\} exactly once"),
    ("{context} {context} is {token} a {label} ?", r"\{context\} exactly once"),
    ("{label} {context} is {token} ?", "after"),
])
def test_bad_templates_are_rejected(text, match):
    with pytest.raises(ValueError, match=match):
        PromptTemplate(text, " Yes", " No")


def test_answers_must_differ():
    with pytest.raises(ValueError, match="must differ"):
        PromptTemplate("{context} {token} {label} ?", " Yes", " Yes")


def test_answers_must_be_single_tokens():
    model = tiny_model("gpt2", WORDS + TEMPLATE_WORDS)
    with pytest.raises(ValueError, match="single token"):
        Discriminator(model, PromptTemplate("{context} is {token} a {label} ?", " yes no", " no"))


def test_model_without_tokenizer_is_rejected():
    model = tiny_model("gpt2", WORDS + TEMPLATE_WORDS)
    model.tokenizer = None
    with pytest.raises(ValueError, match="no tokenizer"):
        Discriminator(model)


def test_default_template_validates_on_a_base_tokenizer():
    model = tiny_model("gpt2", WORDS + TEMPLATE_WORDS)
    disc = Discriminator(model)
    assert disc.template == PromptTemplate.for_base_model()
    assert disc.tokenizer.decode([disc.yes_id]) == "Yes"


def test_chat_default_uses_the_tokenizers_chat_template():
    model = tiny_model("gpt2", WORDS + TEMPLATE_WORDS + ("Text", "word", "concept", "or", "user", "model"))
    tok = model.tokenizer
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}user : {{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %} model :{% endif %}")
    template = PromptTemplate.default_for(tok)
    assert template == PromptTemplate.for_chat_model(tok)
    assert template.text.startswith("user : Text: {context}") and template.text.endswith(" model :")
    assert (template.yes, template.no) == ("Yes", "No")
    disc = Discriminator(model, template)  # validates: BOS not doubled, answers single tokens
    assert disc.prefix_ids([Example("the cat", "cat", 1.0)])[0].count(tok.bos_token_id) == 1
