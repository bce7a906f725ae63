"""The readout-accuracy bench on tiny random models: every readout runs, its batched scores are the readouts' own
one-label calls, and AUROC / top1 come out as constructed."""

import pytest
import torch

from sae_gd_labeler.bench import readout_accuracy as bench
from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.cause_readout import CauseScorer, CauseTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate
from tests.builders import WORDS, tiny_model

EXTRA = ("word", ":", "category", "is", "a", "n/a", "?", "yes", "no", "answer", ".", "thing")
TEMPLATES = {
    "yes_no": PromptTemplate("{context} . is {token} a {label} ? answer :", " yes", " no"),
    "answer": AnswerTemplate("word : cat category : animal word : {token} category : {label}", neutral="n/a"),
    "cause": CauseTemplate("category : {label} . word : {token}", neutral="thing"),
}
# "big dog" is a two-token concept (answer_score's path), "big red" a two-token word (its own cause row)
PAIRS = [("dog", "cat", True), ("red", "cat", False), ("red", "blue", True), ("dog", "blue", False),
         ("fish", "big dog", True), ("big red", "big dog", False), ("big red", "blue", True), ("fish", "cat", False)]


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", WORDS + EXTRA)


@pytest.mark.parametrize("readout", bench.READOUTS)
def test_every_readout_runs_and_scores_as_its_own_call(model, readout):
    result = bench.readout_accuracy(model, readout, PAIRS, TEMPLATES[readout])
    assert result["pairs"] == 8 and result["positives"] == 4
    assert 0 <= result["auroc"] <= 1 and 0 <= result["top1"] <= 1 and result["seconds_per_100_pairs"] > 0
    # the bench batches pairs (shared prefixes, one forward for all one-token labels); each score must still be
    # what the readout's public one-label call gives
    if readout == "cause":
        one_call = CauseScorer(model, TEMPLATES[readout]).score_text
    else:
        disc = Discriminator(model, TEMPLATES[readout])
        one_call = disc.answer_score if readout == "answer" else disc.yes_no_logit
    for (word, concept, _), got in zip(PAIRS, result["scores"]):
        assert got == pytest.approx(one_call([Example(word, word, 0.0)], concept).item(), abs=1e-4)


@pytest.mark.parametrize("readout", bench.READOUTS)
def test_a_pair_that_is_both_member_and_not_gives_auroc_one_half(model, readout):
    # the same (word, concept) scores the same whatever its truth: every positive ties its negative
    pairs = [("dog", "cat", True), ("dog", "cat", False), ("red", "blue", True), ("red", "blue", False)]
    assert bench.readout_accuracy(model, readout, pairs, TEMPLATES[readout])["auroc"] == 0.5


def test_auroc_and_top1_of_a_known_scoring(model, monkeypatch):
    # scores by hand: positives 4, 1, 3; negatives 0, 2, 0 -> of the 9 (positive, negative) comparisons only
    # 1 against 2 is lost -> AUROC 8 / 9
    pairs = [("dog", "cat", True), ("dog", "blue", False), ("red", "blue", True), ("red", "cat", False),
             ("fish", "cat", True), ("fish", "blue", False)]
    scores = torch.tensor([4.0, 0.0, 1.0, 2.0, 3.0, 0.0])
    monkeypatch.setitem(bench.SCORERS, "yes_no", lambda *args: {"scores": scores})
    result = bench.readout_accuracy(model, "yes_no", pairs, TEMPLATES["yes_no"])
    assert result["auroc"] == pytest.approx(8 / 9)
    assert result["top1"] == pytest.approx(2 / 3)  # "red" scores its wrong concept highest


def test_default_templates_and_pairs():
    assert len(bench.concept_pairs(3)) == 20 * 20 * 4 and len(bench.concept_pairs(1)) == 20 * 20 * 2
    assert {w for w, _, member in bench.concept_pairs(3) if member} == {
        w for words in bench.CONCEPTS.values() for w in words.split()}
    model = tiny_model("gpt2")
    assert isinstance(bench.default_template(model, "answer"), AnswerTemplate)
    assert isinstance(bench.default_template(model, "cause"), CauseTemplate)
    assert isinstance(bench.default_template(model, "yes_no"), PromptTemplate)
    with pytest.raises(ValueError, match="readout"):
        bench.readout_accuracy(model, "nope", PAIRS)
