"""The delphi-style LLM explanation baseline: delphi's marking rule and prompt, parsing the answer, greedy
generation (deterministic, as TransformerLens's), and end to end on the packaged SmolLM2 (skipped, with the
install command as the reason, when its package is missing)."""

import math

import pytest
import torch

from sae_gd_labeler import Discriminator, Example
from sae_gd_labeler.data.activations import FeatureRecord, Occurrences
from sae_gd_labeler.scoring import explainer, score_text_labels
from sae_gd_labeler.scoring.explainer import (
    DELPHI_FEW_SHOT,
    DELPHI_SYSTEM,
    Context,
    PromptPrefix,
    activation_line,
    chat_ids,
    explain_feature,
    explain_features,
    explainer_prompt,
    generate_greedy,
    highlight,
    parse_explanation,
    record_contexts,
)
from tests.builders import tiny_model
from tests.test_models import SMOL, needs_smollm2

# a chat template for the word-level test tokenizer (its words only; everything else reads as <unk>)
TINY_CHAT = ("{% for m in messages %}<bos> {{ m['role'] }} {{ m['content'] }} <eos> {% endfor %}"
             "{% if add_generation_prompt %}<bos> assistant {% endif %}")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def tiny():
    model = tiny_model("llama", n_ctx=1024)  # rotary, as SmolLM2; long enough for delphi's few-shot turns
    model.tokenizer.chat_template = TINY_CHAT
    return model


def context(tokenizer, text: str, activations: list[float]) -> Context:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(activations), text
    return Context(tuple(ids), tuple(activations))


# -- delphi's marking rule ----------------------------------------------------------------------------------
def test_tokens_above_three_tenths_of_the_max_are_marked_and_runs_merged():
    strs = ["the", " big", " red", " dog", " runs", " fast"]
    acts = [0.0, 5.0, 10.0, 3.0, 0.5, 4.0]  # cut 0.3 x 10 = 3: strictly above, so " dog" (3.0) is not marked
    assert highlight(strs, acts) == "the<< big red>> dog runs<< fast>>"
    assert highlight(strs, [0.0] * 6) == "the big red dog runs fast"  # nothing fires: nothing marked
    assert highlight(strs, [1.0] * 6) == "<<the big red dog runs fast>>"


def test_activation_line_is_delphis_scaled_to_0_10_by_the_max_over_contexts():
    line = activation_line(["the", " big", " red", " dog"], [0.0, 5.0, 10.0, 0.1], max_activation=20.0)
    assert line == 'Activations: (" big" : 3), (" red" : 5), '  # ceil(5 * 10 / 20) = 3
    many = activation_line(["x"] * 20, [1.0] * 20, max_activation=1.0)
    assert many.count("(") == 11  # delphi shows at most 11 per context


def test_record_contexts_show_a_window_once_with_every_activation_the_record_knows():
    width = 4
    contexts = torch.tensor([[7, 8, 9, 10], [6, 7, 8, 9], [-1, 20, 21, 22]])  # [3, W], ends with the token
    top = Occurrences(torch.tensor([0, 0, 1]), torch.tensor([10, 9, 2]), contexts[:, -1].clone(),
                      torch.tensor([5.0, 4.0, 3.0]), contexts)
    positives = Occurrences(torch.tensor([0]), torch.tensor([8]), torch.tensor([8]), torch.tensor([1.0]),
                            torch.tensor([[5, 6, 7, 8]]))
    empty = top.select(torch.tensor([], dtype=torch.long))
    record = FeatureRecord(0, 100, 4, 5.0, 0.0, top, positives, empty, empty)
    got = record_contexts(record)
    assert got == [Context((7, 8, 9, 10), (0.0, 1.0, 4.0, 5.0)),  # (0, 9) is inside (0, 10)'s window: marked there
                   Context((20, 21, 22), (0.0, 0.0, 3.0))]  # -1 (before the window start) dropped
    assert record_contexts(record, n_contexts=1) == got[:1]
    assert all(len(c.ids) <= width for c in got)


# -- delphi's prompt ------------------------------------------------------------------------------------------
def test_prompt_is_delphis_system_few_shot_and_every_context_marked(tiny):
    tok = tiny.tokenizer
    contexts = [context(tok, "the big dog runs", [0, 0, 9, 0]),
                context(tok, "a red fish and a blue bird", [0, 0, 8, 0, 0, 4, 7]),
                context(tok, "the cat eats", [0, 5, 0])]
    messages = explainer_prompt(contexts, tok)
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert messages[0]["content"] == DELPHI_SYSTEM
    assert "<<this>>" in DELPHI_SYSTEM and "[EXPLANATION]:" in DELPHI_SYSTEM and "concise" in DELPHI_SYSTEM
    assert [(m["content"]) for m in messages[1:7]] == [t for pair in DELPHI_FEW_SHOT for t in pair]
    user = messages[-1]["content"]
    assert user == ("\nExample 1:  the big<< dog>> runs\nActivations: (\" dog\" : 10), "
                    "\nExample 2:  a red<< fish>> and a<< blue bird>>\nActivations: (\" fish\" : 9), "
                    "(\" blue\" : 5), (\" bird\" : 8), "
                    "\nExample 3:  the<< cat>> eats\nActivations: (\" cat\" : 6), \n")
    bare = explainer_prompt(contexts, tok, show_activations=False, few_shot=False, n_contexts=2)
    assert len(bare) == 2  # system and user turns
    assert bare[-1]["content"] == "\nExample 1:  the big<< dog>> runs\nExample 2:  a red<< fish>> and a<< blue bird>>\n"


# -- the answer ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("answer, want", [
    ("\n[EXPLANATION]: Common idioms in text conveying positive sentiment.\n",
     "Common idioms in text conveying positive sentiment"),
    ('Step 1. the words are animals\n[EXPLANATION]: "Animal names"', "Animal names"),
    ("[EXPLANATION]: a first try\n[EXPLANATION]: the last one.", "the last one"),
    ("[EXPLANATION]: **Colors**\nand then the model goes on", "Colors"),
    ("[EXPLANATION]:\nThe token 'er'.", "The token 'er'"),  # a quote inside is kept, a pair around is not
    ("[EXPLANATION]: “Numbers”.", "Numbers"),
    ("\n\nNames of animals.\nMore text", "Names of animals"),  # no marker: the first non-empty line
    ("Animals\n[EXPLANATION]:", "Animals"),  # nothing after the marker
    ("  ...  \n", ""),
    ("", ""),
])
def test_parse_explanation(answer, want):
    assert parse_explanation(answer) == want


def test_an_empty_answer_falls_back_to_the_most_frequent_marked_token(tiny, monkeypatch):
    tok = tiny.tokenizer
    contexts = [context(tok, "the big dog runs", [0, 0, 9, 0]), context(tok, "a cat sees a dog", [0, 3, 0, 0, 8]),
                context(tok, "the cat eats", [0, 5, 0]), context(tok, "one dog", [0, 2])]
    monkeypatch.setattr(explainer, "generate_greedy", lambda *args, **kwargs: " ... \n")
    assert explain_feature(tiny, contexts) == "dog"  # dog 3 times, cat twice


# -- generation ---------------------------------------------------------------------------------------------------
def test_greedy_generation_is_transformer_lens_generate_with_and_without_the_shared_prefix(tiny):
    tok = tiny.tokenizer
    messages = explainer_prompt([context(tok, "the big dog runs", [0, 0, 9, 0])], tok)
    ids = chat_ids(messages, tok)
    assert len(ids) > explainer.PREFILL_CHUNK  # the prefill is chunked
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == len(messages) + 1  # no second BOS
    new = tiny.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False, verbose=False)[0, len(ids):].tolist()
    want = tok.decode(new[:new.index(tok.eos_token_id)] if tok.eos_token_id in new else new, skip_special_tokens=True)
    prefix = PromptPrefix.build(tiny, chat_ids(messages[:-1], tok, open_answer=False))
    assert prefix.covers(ids)
    assert generate_greedy(tiny, ids, 12) == want
    assert generate_greedy(tiny, ids, 12, prefix) == want
    assert generate_greedy(tiny, ids, 12, prefix) == want  # the shared prefix is not changed by a use


def test_explain_features_is_deterministic_and_never_empty(tiny):
    contexts = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])  # [2, W]
    top = Occurrences(torch.tensor([0, 1]), torch.tensor([3, 3]), contexts[:, -1].clone(), torch.tensor([2.0, 1.0]),
                      contexts)
    empty = top.select(torch.tensor([], dtype=torch.long))
    records = {3: FeatureRecord(3, 50, 2, 2.0, 0.0, top, empty, empty, empty),
               4: FeatureRecord(4, 50, 0, 0.0, 0.0, empty, empty, empty, empty)}  # dead: left out
    first = explain_features(tiny, records, [3, 4], max_new_tokens=6)
    assert list(first) == [3] and first[3].strip()
    assert explain_features(tiny, records, [3, 4], max_new_tokens=6) == first


# -- the real explainer -------------------------------------------------------------------------------------------
SMOL_NEW_TOKENS = 16  # enough for '[EXPLANATION]: ' and a few words; each token is a forward


@pytest.fixture(scope="module")
def smollm2():
    from sae_gd_labeler.models import load_packaged_model

    return load_packaged_model(SMOL)


@pytest.fixture(scope="module")
def animal_contexts(smollm2):
    tok = smollm2.tokenizer
    texts = [("She walked the dog to the park", " dog"), ("A cat slept on the warm sofa", " cat"),
             ("The horse ran across the field", " horse")]
    out = []
    for text, word in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        fires = tok(word, add_special_tokens=False)["input_ids"]
        out.append(Context(tuple(ids), tuple(5.0 if t in fires else 0.0 for t in ids)))
    return out


@pytest.fixture(scope="module")
def smollm2_prefix(smollm2):
    return explainer.shared_prefix(smollm2)


@pytest.fixture(scope="module")
def smollm2_label(smollm2, animal_contexts, smollm2_prefix):
    return explain_feature(smollm2, animal_contexts, max_new_tokens=SMOL_NEW_TOKENS, prefix=smollm2_prefix)


@needs_smollm2
def test_smollm2_explains_hand_made_contexts_deterministically(smollm2, animal_contexts, smollm2_prefix,
                                                               smollm2_label):
    tok = smollm2.tokenizer
    messages = explainer_prompt(animal_contexts, tok)
    ids = chat_ids(messages, tok)
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == len(messages) + 1  # <|im_start|> once a turn
    assert smollm2_prefix.covers(ids)
    again = explain_feature(smollm2, animal_contexts, max_new_tokens=SMOL_NEW_TOKENS, prefix=smollm2_prefix)
    assert again == smollm2_label
    assert smollm2_label and smollm2_label.strip() == smollm2_label
    assert "[EXPLANATION]" not in smollm2_label and "\n" not in smollm2_label


@needs_smollm2
@pytest.mark.slow
def test_smollm2_explanation_is_the_same_without_the_cached_turns(smollm2, animal_contexts, smollm2_label):
    # the whole prompt in 256-token chunks, each given an explicit mask (SmolLM2's pad id is <|im_end|>)
    assert explain_feature(smollm2, animal_contexts, max_new_tokens=SMOL_NEW_TOKENS) == smollm2_label


@needs_smollm2
def test_smollm2_explanation_scores_as_a_text_label(smollm2, smollm2_label):
    words = [("I fed the", " dog", 1.0), ("He rode the", " horse", 1.0),
             ("She drove the", " car", 0.0), ("I read the", " book", 0.0)]
    examples = [Example(c + w, w, a) for c, w, a in words]
    metrics = score_text_labels(Discriminator(smollm2), {0: (examples, examples)}, {0: smollm2_label})[0]
    assert set(metrics) >= {"balanced_accuracy", "auroc"}
    assert 0.0 <= metrics["balanced_accuracy"] <= 1.0 and not math.isnan(metrics["auroc"])
