"""The label-as-answer readout: exact against plain forward passes, and an exhaustive labeler on top of it."""

import math

import pytest
import torch

from sae_gd_labeler import Example, LabelerConfig, label_examples
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate
from sae_gd_labeler.search.calibration import fit_calibration
from tests.builders import ARCHITECTURES, WORDS, tiny_model

EXTRA = ("word", ":", "category", "is", "a", "n/a", "?", "yes", "no")
TEMPLATE = AnswerTemplate("word : cat category : animal word : red category : colour word : {token} category :"
                          " {label}", neutral="n/a")
CONTEXT_TEMPLATE = AnswerTemplate("word : cat category : animal {context} . word : {token} category : {label}",
                                  neutral="n/a")
EXAMPLES = [
    Example("the dog runs", "dog", 1.0),
    Example("a very old king sees the big red car and the small blue house", "house", 0.0),
    Example("fish", "fish", 1.0),
]


def make(arch, template=TEMPLATE):
    return Discriminator(tiny_model(arch, WORDS + EXTRA + ("colour", "animal")), template)


def plain_log_prob(disc, prefix_text: str, label: str, n_tokens: int = 1) -> float:
    """Independent reference: the whole prompt tokenized as one text, one forward, no padding or cache; the
    log-probs of the label's last n_tokens tokens, summed."""
    tokens = disc.model.to_tokens(prefix_text + disc.template.label_lead + label)
    with torch.no_grad():
        log_p = disc.model(tokens[:, :-1])[0].log_softmax(-1)  # [T - 1, d_vocab]
    n = tokens.shape[1]
    return sum(float(log_p[j - 1, tokens[0, j]]) for j in range(n - n_tokens, n))


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("template", [TEMPLATE, CONTEXT_TEMPLATE])
def test_answer_score_matches_plain_forward_passes(arch, template):
    disc = make(arch, template)
    got = disc.answer_score(EXAMPLES, "cat")
    neutral = plain_log_prob(disc, template.neutral_prefix(), "cat")
    for i, ex in enumerate(EXAMPLES):
        want = plain_log_prob(disc, template.prefix(ex.context, ex.token), "cat") - neutral
        assert got[i].item() == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_one_hot_label_equals_hard_label_and_gradient_is_the_score_table(arch):
    disc = make(arch)
    hard = disc.answer_score(EXAMPLES, "cat")
    one_hot = torch.zeros(disc.d_vocab)
    one_hot[disc.label_ids("cat")[0]] = 1.0
    torch.testing.assert_close(disc.answer_score(EXAMPLES, one_hot), hard, atol=1e-6, rtol=0)
    v = torch.randn(disc.d_vocab, requires_grad=True)
    disc.answer_score(EXAMPLES, v.softmax(-1)).sum().backward()
    assert v.grad is not None and v.grad.abs().sum() > 0
    assert all(not hp._forward_hooks for hp in disc.model.hook_dict.values())


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_chunking_and_bfloat16(arch):
    disc = make(arch)
    ids = torch.arange(disc.d_vocab)
    whole = disc.label_slot_log_probs(EXAMPLES, ids)
    torch.testing.assert_close(disc.label_slot_log_probs(EXAMPLES, ids, max_rows=1), whole, atol=1e-5, rtol=0)
    model16 = tiny_model(arch, WORDS + EXTRA + ("colour", "animal")).to(torch.bfloat16)
    half = Discriminator(model16, TEMPLATE).label_slot_log_probs(EXAMPLES, ids)
    assert half.dtype == torch.float32
    assert (half - whole).abs().max() < 0.05 * whole.abs().max()


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_multi_token_text_label_adds_the_tokens_log_probs(arch):
    disc = make(arch, CONTEXT_TEMPLATE)
    got = disc.answer_score(EXAMPLES, "red cat")
    neutral = plain_log_prob(disc, CONTEXT_TEMPLATE.neutral_prefix(), "red cat", n_tokens=2)
    for i, ex in enumerate(EXAMPLES):
        want = plain_log_prob(disc, CONTEXT_TEMPLATE.prefix(ex.context, ex.token), "red cat", n_tokens=2) - neutral
        assert got[i].item() == pytest.approx(want, abs=1e-4)


def test_yes_no_calls_are_refused_with_a_fix():
    disc = make("gpt2")
    with pytest.raises(ValueError, match="answer_score"):
        disc.yes_no_logit(EXAMPLES, "cat")
    with pytest.raises(ValueError, match="one-slot"):
        disc.answer_score(EXAMPLES, torch.full((2, disc.d_vocab), 1.0 / disc.d_vocab))
    with pytest.raises(ValueError, match="AnswerTemplate"):
        label_examples({0: EXAMPLES}, disc, LabelerConfig(readout="yes_no"))


@pytest.mark.parametrize("text, match", [
    ("word : {token} category : {label} ?", "end with"),
    ("word : category : {label}", "{token}"),
    ("{context} {context} {token} {label}", "{context}"),
])
def test_template_errors(text, match):
    with pytest.raises(ValueError, match=match):
        AnswerTemplate(text)


def test_calibration_matches_a_generic_optimizer():
    torch.manual_seed(0)
    target = (torch.rand(40) > 0.5).float()
    scores = torch.randn(40, 3) + target[:, None] * torch.tensor([0.0, 1.0, 4.0])
    cal = fit_calibration(scores, target)
    weight = torch.where(target > 0, 0.5 / target.sum(), 0.5 / (1 - target).sum())
    for c in range(3):
        params = lbfgs_fit(scores[:, c], target, weight)
        std = (weight * (scores[:, c] - (weight * scores[:, c]).sum()) ** 2).sum().sqrt()
        logit = params[0] * scores[:, c] + params[1]
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="none")
        loss = (weight * bce).sum() + 0.5 * 0.01 * (params[0] * std) ** 2
        assert cal.loss[c].item() == pytest.approx(loss.item(), abs=1e-5)
        assert cal.scale[c].item() == pytest.approx(params[0].item(), rel=1e-3, abs=1e-4)


def lbfgs_fit(score, target, weight):
    """Balanced logistic regression with the same ridge (on the standardised slope), by a generic optimizer."""
    std = (weight * (score - (weight * score).sum()) ** 2).sum().sqrt()
    params = torch.zeros(2, requires_grad=True)
    opt = torch.optim.LBFGS([params], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def loss_fn():
        opt.zero_grad()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(params[0] * score + params[1], target,
                                                                   reduction="none")
        loss = (weight * bce).sum() + 0.5 * 0.01 * (params[0] * std) ** 2
        loss.backward()
        return loss
    opt.step(loss_fn)
    return params.detach()


@pytest.mark.parametrize("n_own", [0, 3])
def test_exhaustive_labeler_returns_the_lowest_exact_loss_label(n_own):
    """The labeler's label is the argmin of the loss computed here independently, token by token; the
    feature's own most frequent firing tokens (n_own of them) are judged by fit alone."""
    disc = make("llama")
    words = [w for w in WORDS if w.isalpha()]
    pos = ["cat", "dog", "bird", "fish", "king", "queen", "man", "woman"]
    examples = [Example(w, w, 1.0 if w in pos else 0.0) for w in words] * 2 + [Example("dog", "dog", 1.0)] * 3
    config = LabelerConfig(heldout_fraction=0.2, examples_per_feature=200, own_token_candidates=n_own)
    label = label_examples({"f": examples}, disc, config)["f"]
    assert label.labeled and label.calibration is not None and math.isfinite(label.metrics["auroc"])
    from sae_gd_labeler.readout.vocab import candidate_token_ids
    from sae_gd_labeler.search.labeler import split_examples
    data = split_examples("f", examples, config.replace(readout="answer"))
    positives = [ex for ex in data.train if ex.activation > 0]
    counts = {}
    for ex in positives:
        counts[ex.token] = counts.get(ex.token, 0) + 1
    own = sorted(counts, key=lambda w: -counts[w])[:n_own]  # stable: ties keep first-seen order
    vocab = sorted({disc.tokenizer.decode([t]).strip() for t in candidate_token_ids(disc, "words").tolist()})
    target = torch.tensor([ex.activation for ex in data.train])
    fit, losses = {}, {}
    for word in sorted(set(vocab) | set(own)):
        score = disc.answer_score(data.train, word)
        fit[word] = float(fit_calibration(score[:, None], target).loss[0])
        naturalness = -sum(plain_log_prob(disc, disc.template.prefix(ex.context, ex.token), word)
                           for ex in positives) / len(positives)
        losses[word] = fit[word] + config.kl_weight * float(naturalness)
    best = min(vocab, key=losses.get)  # the vocabulary's label, then an own token that fits better replaces it
    challenger = min(own, key=fit.get, default=None)
    expected = challenger if challenger is not None and fit[challenger] < fit[best] else best
    assert label.label == expected
    assert label.candidates[0].loss == pytest.approx(fit[expected] if expected != best else losses[best], abs=1e-4)
    assert label.search_history["own_tokens"] == own
    assert label.search_history["own_token_label"] == (expected != best)
    if n_own:  # the repeated positive is an own token, and it fits better than the vocabulary's label here
        assert label.label == "dog"


def test_prompt_template_is_still_the_default_for_unknown_models():
    disc = Discriminator(tiny_model("gpt2", WORDS + ("Question", "Answer", "Yes", "No")))
    assert isinstance(disc.template, PromptTemplate) and disc.readout == "yes_no"
