"""The label-as-cause readout under the labeler's searches (search.cause_batch): exact losses against the
scorer's own scores, the step loss's gradient, determinism and batch invariance, a planted label, bad configs."""

import math
import random

import pytest
import torch

from sae_gd_labeler import Example, LabelerConfig
from sae_gd_labeler.readout.cause_readout import CauseScorer, CauseTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate
from sae_gd_labeler.readout.vocab import candidate_token_ids
from sae_gd_labeler.search.calibration import fit_calibration
from sae_gd_labeler.search.cause_batch import CauseBatch, calibrated_loss
from sae_gd_labeler.search.labeler import label_examples, split_examples
from tests.builders import ARCHITECTURES, WORDS, tiny_model
from tests.test_labeler import check_same_seed_same_labels_and_batching_changes_nothing

pytestmark = pytest.mark.usefixtures("one_thread")

EXTRA = ("category", "text", "word", "thing", ":", ".")
WORD_TEMPLATE = CauseTemplate("the category : {label} . word : {token}", neutral="thing")
# with {context}: one forward row per (label, example) instead of one per label
CONTEXT_TEMPLATE = CauseTemplate("the category : {label} . text : {context} . word : {token}", neutral="thing")
MEMBER_WORDS = [w for w in WORDS if w not in ("the", "a")]
FAST = LabelerConfig(restarts=2, discrete_max_iters=3, soft_steps=6, entropy_warmup_steps=2, batch_examples=4,
                     eval_examples=8, examples_per_feature=24)


def make(arch: str, template: CauseTemplate = WORD_TEMPLATE) -> Discriminator:
    return Discriminator(tiny_model(arch, WORDS + EXTRA), template)


def feature(members, seed=0, n=20):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        word = rng.choice(members) if i % 2 == 0 else rng.choice([w for w in MEMBER_WORDS if w not in members])
        context = " ".join(rng.choices(MEMBER_WORDS, k=rng.randint(1, 4)) + [word])
        out.append(Example(context, word, 1.0 if word in members else 0.0))
    return out


FEATURES = {"animals": feature(["cat", "dog", "bird", "fish"], 0), "colours": feature(["red", "blue", "green"], 1),
            7: feature(["one", "two", "three"], 2)}


def independent_loss(model, template: CauseTemplate, train: list[Example], label: str, config: LabelerConfig,
                     n_candidates: int) -> float:
    """The labeler's loss of a hard label, from a fresh CauseScorer: the label's score_text on the training
    examples, calibrated with a scale >= 0, + kl_weight * -log q(label) with q uniform over the candidates."""
    scorer = CauseScorer(model, template)
    score = scorer.score_text(train, label)  # [n]
    target = torch.tensor([float(ex.activation > config.activation_threshold) for ex in train])
    fit = fit_calibration(score[:, None], target)
    if fit.scale[0] <= 0:  # a label that lowers the positives' words explains nothing: only the bias is fitted
        fit = fit_calibration(torch.zeros_like(score[:, None]), target)
    return float(fit.loss[0] + config.kl_weight * math.log(n_candidates))


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("template", [WORD_TEMPLATE, CONTEXT_TEMPLATE], ids=["word", "context"])
def test_exact_and_step_loss_of_a_one_hot_label_equal_the_scorer_loss(arch, template):
    disc = make(arch, template)
    config = FAST.replace(readout="cause")
    data = split_examples("animals", FEATURES["animals"], config)
    candidates = candidate_token_ids(disc, "words")
    batch = CauseBatch(disc, [data], candidates, config)
    n = len(data.train)
    for word in ("cat", "road", "king"):
        c = int((candidates == disc.label_ids(word)[0]).nonzero())
        want = independent_loss(disc.model, template, data.train, word, config, len(candidates))
        exact = batch.exact_loss(torch.tensor([0]), torch.tensor([c]), rowset="train")
        assert float(exact[0]) == pytest.approx(want, abs=1e-4)
        # the differentiable path on the same rows, with a one-hot label, is the same loss
        one_hot = torch.nn.functional.one_hot(torch.tensor([c]), len(candidates)).float()  # [1, C]
        step = batch.step_loss(torch.tensor([0]), one_hot @ batch.W_cand, batch.fixed_rows("train", n))
        naturalness = -batch.log_q[0, c]
        assert float(step[0] + config.kl_weight * naturalness) == pytest.approx(want, abs=1e-4)


def test_calibrated_loss_is_the_fit_loss_and_its_gradient_is_the_refitted_one():
    gen = torch.Generator().manual_seed(0)
    target = torch.tensor([1.0] * 6 + [0.0] * 10)
    # two labels that raise the positives' scores, one that lowers them
    scores = (torch.randn(16, 3, generator=gen) + target[:, None] * torch.tensor([1.0, 2.0, -1.5])).requires_grad_()
    loss = calibrated_loss(scores, target)  # [3]
    fit = fit_calibration(scores.detach(), target)
    assert (fit.scale[:2] > 0).all() and fit.scale[2] < 0
    torch.testing.assert_close(loss.detach()[:2], fit.loss[:2], atol=1e-6, rtol=0)
    # the third may not use its negative scale: the fit of scale 0 (ln 2 for balanced hard targets)
    assert float(loss[2]) == pytest.approx(math.log(2), abs=1e-5) and float(fit.loss[2]) < math.log(2)
    loss.sum().backward()
    assert float(scores.grad[:, 2].abs().sum()) == 0.0
    direction = torch.randn(16, 3, generator=gen)
    direction[:, 2] = 0
    eps = 1e-2
    refit = lambda s: fit_calibration(s[:, :2], target, steps=100).loss.sum()  # noqa: E731
    numeric = (refit(scores.detach() + eps * direction) - refit(scores.detach() - eps * direction)) / (2 * eps)
    assert float((scores.grad * direction).sum()) == pytest.approx(float(numeric), rel=2e-2, abs=1e-4)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_step_loss_gradient_is_finite_and_nonzero(arch):
    disc = make(arch, CONTEXT_TEMPLATE)
    config = FAST.replace(readout="cause")
    data = [split_examples(k, v, config) for k, v in FEATURES.items()]
    batch = CauseBatch(disc, data, candidate_token_ids(disc, "words"), config)
    v = torch.randn(len(data), 2, len(batch.candidate_ids), generator=torch.Generator().manual_seed(0))
    v.requires_grad_(True)  # [F, R, C] label logits, as the soft search holds them
    embeds = (v.softmax(-1) @ batch.W_cand).reshape(-1, batch.W_cand.shape[1])  # [F * R, d_model]
    with disc.frozen():
        loss = batch.step_loss(torch.arange(len(data)).repeat_interleave(2), embeds, batch.sample_rows())  # [F * R]
        loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(v.grad).all()
    # labels that raise their feature's positives move; one that lowers them gets none (its scale is held at 0)
    assert (v.grad.abs().sum(-1) > 0).sum() >= 2
    assert all(p.grad is None for p in disc.model.parameters())


@pytest.mark.parametrize("method", ["discrete", "soft", "hybrid"])
def test_same_seed_same_labels_and_batching_changes_nothing(method):
    disc = make("llama", CONTEXT_TEMPLATE)
    cfg = FAST.replace(method=method, feature_batch_size=3)
    together, alone = check_same_seed_same_labels_and_batching_changes_nothing(FEATURES, disc, cfg)
    for k in FEATURES:
        assert together[k].calibration == pytest.approx(alone[k].calibration, abs=1e-4)


def test_result_losses_calibration_and_metrics_are_exact():
    disc = make("gpt2", CONTEXT_TEMPLATE)
    cfg = FAST.replace(method="hybrid")
    res = label_examples({"colours": FEATURES["colours"]}, disc, cfg)["colours"]
    n_candidates = len(candidate_token_ids(disc, cfg.candidate_vocab))
    data = split_examples("colours", FEATURES["colours"], cfg)
    losses = [c.loss for c in res.candidates]
    assert losses == sorted(losses) and res.candidates[0].label == res.label and len(res.candidates) > 1
    for cand in res.candidates[:3]:  # every reported loss is the exact loss on all training examples
        want = independent_loss(disc.model, CONTEXT_TEMPLATE, data.train, cand.label, cfg, n_candidates)
        assert cand.loss == pytest.approx(want, abs=1e-4)
    scorer = CauseScorer(disc.model, CONTEXT_TEMPLATE)
    score = scorer.score_text(data.train, res.label)
    fit = fit_calibration(score[:, None], torch.tensor([float(ex.activation > 0) for ex in data.train]))
    assert fit.scale[0] > 0  # the label raises the positives' words
    assert res.calibration == pytest.approx({"scale": float(fit.scale[0]), "bias": float(fit.bias[0])}, abs=1e-4)
    assert set(res.metrics) == {"balanced_accuracy", "precision", "recall", "f1", "auroc"}
    assert res.search_history["method"] == "hybrid" and res.steps >= cfg.soft_steps


def planted(disc: Discriminator, candidates: torch.Tensor, config: LabelerConfig) -> tuple[str, list[Example]]:
    """A feature that one label causes: the words a label raises most are the positives, those it raises least
    the negatives. Of the labels that are
    their own feature's exact optimum over every candidate, the one that wins by the widest margin; returns it
    and its feature's examples."""
    words = [w for w in MEMBER_WORDS if len(disc.label_ids(w)) == 1]
    examples = [Example(w, w, 0.0) for w in words]
    scores = disc.cause.score_grid(examples, label_tokens=candidates[:, None])  # [C, N]
    best, margin, best_feature = None, 0.0, None
    for c in range(len(candidates)):
        order = scores[c].argsort(descending=True).tolist()  # the words label c raises most first
        # the 8 it raises most against the 24 it raises least: a clear cause, with a clear optimum
        feature = [Example(words[i], words[i], 1.0) for i in order[:8]] + [Example(words[i], words[i], 0.0)
                                                                           for i in order[-24:]]
        feature = feature * 2
        batch = CauseBatch(disc, [split_examples("planted", feature, config)], candidates, config)
        exhaustive = batch.exact_loss(torch.zeros(len(candidates), dtype=torch.long), torch.arange(len(candidates)),
                                      rowset="train")  # [C] the loss the labeler ranks by, of every candidate
        second, first = exhaustive.topk(2, largest=False).values.flip(0)
        if int(exhaustive.argmin()) == c and second - first > margin:
            best, margin, best_feature = c, float(second - first), feature
    assert best is not None, "no candidate label is its own feature's optimum"
    return disc.tokenizer.decode([int(candidates[best])]).strip(), best_feature


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("method", ["discrete", "hybrid"])
def test_a_planted_label_is_found(arch, method):
    disc = make(arch)
    cfg = FAST.replace(method=method, restarts=4, discrete_max_iters=10, soft_steps=30, entropy_warmup_steps=10,
                       batch_examples=8, eval_examples=32, examples_per_feature=128, kl_weight=0.0,
                       candidate_vocab="words")
    candidates = candidate_token_ids(disc, "words")
    label, examples = planted(disc, candidates, cfg)
    res = label_examples({"planted": examples}, disc, cfg)["planted"]
    assert res.label == label
    assert res.metrics["auroc"] > 0.9


def test_bad_configs_are_refused():
    cause = make("gpt2")
    examples = FEATURES["animals"]
    with pytest.raises(ValueError, match="one-token labels only"):
        label_examples({0: examples}, cause, FAST.replace(label_tokens=2))
    with pytest.raises(ValueError, match="one-token labels only"):
        label_examples({0: examples}, cause, FAST.replace(label_tokens="auto"))
    with pytest.raises(ValueError, match="CauseTemplate"):
        label_examples({0: examples}, cause, FAST.replace(readout="answer"))
    with pytest.raises(ValueError, match="CauseTemplate"):
        label_examples({0: examples}, cause, FAST.replace(readout="yes_no"))
    answer = Discriminator(tiny_model("gpt2", WORDS + EXTRA + ("n/a",)),
                           AnswerTemplate("word : {token} category : {label}", neutral="n/a"))
    with pytest.raises(ValueError, match="'cause' a CauseTemplate"):
        label_examples({0: examples}, answer, FAST.replace(readout="cause"))
    yes_no = Discriminator(tiny_model("gpt2", WORDS + EXTRA + ("is", "?", "yes", "no")),
                           PromptTemplate("{context} . is {token} a {label} ?", " yes", " no"))
    with pytest.raises(ValueError, match="'cause' a CauseTemplate"):
        label_examples({0: examples}, yes_no, FAST.replace(readout="cause"))
    with pytest.raises(ValueError, match="CauseBatch needs"):
        CauseBatch(yes_no, [], torch.tensor([0]), FAST)
    with pytest.raises(ValueError, match="disc.cause"):
        cause.yes_no_logit(examples, "cat")
    with pytest.raises(ValueError, match="no example prefix"):
        cause.cache_prefixes(examples)


def test_auto_readout_follows_the_cause_template():
    disc = make("gpt2")
    assert disc.readout == "cause" and disc.cause is disc.cause  # one scorer, kept
    res = label_examples({"animals": FEATURES["animals"]}, disc, FAST)["animals"]
    assert res.labeled and res.calibration is not None
