"""The label-as-cause readout: exact against a plain forward pass of the rendered prompt, on real architectures."""

import copy

import pytest
import torch

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.cause_readout import CauseScorer, CauseTemplate
from tests.builders import ARCHITECTURES, WORDS, tiny_model

EXTRA = ("category", "text", "word", "thing", ":", ".")
TEMPLATE = CauseTemplate("the category : {label} . text : {context} . word : {token}", neutral="thing")
# Without {context}: all single-token words share one row per label
WORD_TEMPLATE = CauseTemplate("the category : {label} . word : {token}", neutral="thing")
EXAMPLES = [
    Example("the dog runs", "dog", 1.0),
    # longer than the Gemma-like model's local window (8): the window must fall where it does unpadded
    Example("a very old king sees the big red car and the small blue house", "house", 0.0),
    Example("fish", "fish", 1.0),
    Example("the big dog", "big dog", 1.0),  # two tokens: their log-probs add up
]


def make(arch: str, template: CauseTemplate = TEMPLATE, **overrides) -> CauseScorer:
    return CauseScorer(tiny_model(arch, WORDS + EXTRA, **overrides), template)


def reference_log_prob(model, example: Example, label: str, label_embeds: torch.Tensor | None = None,
                       template: CauseTemplate = TEMPLATE) -> torch.Tensor:
    """log P(token | everything before it) from ONE plain forward of the rendered prompt: no cache, no padding.
    With label_embeds [K, d_model], the K label tokens' embeddings are replaced by them (label: K words)."""
    tokens = model.to_tokens(template.render(example.context, example.token, label))  # [1, T]
    n_token = len(model.tokenizer(template.token_text(example.token), add_special_tokens=False)["input_ids"])
    hooks = []
    if label_embeds is not None:
        start = model.to_tokens(template.head).shape[1]  # BOS + head: the label comes next

        def inject(embed, hook):  # [1, T, d_model]
            k = label_embeds.shape[0]
            return torch.cat([embed[:, :start], label_embeds[None].to(embed.dtype), embed[:, start + k:]], dim=1)
        hooks.append(("hook_embed", inject))
    with model.hooks(fwd_hooks=hooks):
        log_p = model(tokens)[0].float().log_softmax(-1)  # [T, d_vocab]
    t = tokens.shape[1]
    # token id at position j is predicted at position j - 1
    return sum(log_p[j - 1, tokens[0, j]] for j in range(t - n_token, t))


def reference_score(model, example, label, label_embeds=None, template=TEMPLATE):
    return (reference_log_prob(model, example, label, label_embeds, template)
            - reference_log_prob(model, example, "thing", template=template))


def word_ids(scorer: CauseScorer, words: list[str]) -> torch.Tensor:
    return torch.tensor([scorer.label_ids(w) for w in words])  # [M, K]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_one_hot_soft_label_equals_the_hard_label(arch):
    scorer = make(arch)
    hard = scorer.scores(EXAMPLES, label_tokens=word_ids(scorer, ["cat", "road", "king", "cat"]))
    embeds = scorer.model.W_E[word_ids(scorer, ["cat", "road", "king", "cat"])]  # [M, 1, d_model]
    torch.testing.assert_close(scorer.scores(EXAMPLES, label_embeds=embeds), hard, atol=1e-5, rtol=0)
    p = torch.zeros(2, scorer.model.cfg.d_vocab)  # [K, d_vocab] a two-token label, one-hot
    p[0, scorer.label_ids("big")[0]] = p[1, scorer.label_ids("cat")[0]] = 1.0
    torch.testing.assert_close(scorer.score_text(EXAMPLES, p), scorer.score_text(EXAMPLES, "big cat"),
                               atol=1e-5, rtol=0)
    assert all(not hp._forward_hooks for hp in scorer.model.hook_dict.values())


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("template", [TEMPLATE, WORD_TEMPLATE], ids=["context", "word"])
def test_cached_head_equals_a_plain_forward_of_the_rendered_prompt(arch, template):
    scorer = make(arch, template)
    labels = ["cat", "road", "big cat"]
    for label in labels:
        got = scorer.score_text(EXAMPLES, label)
        want = torch.stack([reference_score(scorer.model, ex, label, template=template) for ex in EXAMPLES])
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    neutral = torch.stack([reference_log_prob(scorer.model, ex, "thing", template=template) for ex in EXAMPLES])
    torch.testing.assert_close(scorer.neutral_log_probs(EXAMPLES), neutral, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("template", [TEMPLATE, WORD_TEMPLATE], ids=["context", "word"])
def test_gradient_to_the_label_embeddings_equals_the_plain_forward_gradient(arch, template):
    scorer = make(arch, template)
    gen = torch.Generator().manual_seed(0)
    d_model = scorer.model.cfg.d_model
    weights = torch.randn(len(EXAMPLES), generator=gen)  # [N] a loss that weighs the examples differently
    # one label per example (scores) and two labels on every example (score_grid)
    embeds = (0.5 * torch.randn(len(EXAMPLES), 2, d_model, generator=gen)).requires_grad_(True)  # [N, 2, d_model]
    (grad,) = torch.autograd.grad((scorer.scores(EXAMPLES, label_embeds=embeds) * weights).sum(), embeds)
    grid_embeds = (0.5 * torch.randn(2, 2, d_model, generator=gen)).requires_grad_(True)  # [Q, 2, d_model]
    grid = scorer.score_grid(EXAMPLES, label_embeds=grid_embeds)  # [Q, N]
    (grid_grad,) = torch.autograd.grad((grid * weights).sum(), grid_embeds)
    for got, leaf, pairs in ((grad, embeds, [(i, i) for i in range(len(EXAMPLES))]),
                             (grid_grad, grid_embeds, [(q, i) for q in range(2) for i in range(len(EXAMPLES))])):
        ref_leaf = leaf.detach().clone().requires_grad_(True)
        ref = sum(weights[i] * reference_score(scorer.model, EXAMPLES[i], "thing thing", ref_leaf[q], template)
                  for q, i in pairs)
        (want,) = torch.autograd.grad(ref, ref_leaf)
        assert got.abs().sum() > 0
        assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.999
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_chunk_size_and_row_order_change_no_score(arch):
    scorer = make(arch)
    rows = torch.tensor([3, 0, 0, 1, 2, 1, 3, 2])
    labels = torch.randint(4, len(WORDS), (len(rows), 1), generator=torch.Generator().manual_seed(1))  # [M, 1]
    want = scorer.scores(EXAMPLES, label_tokens=labels, rows=rows, max_rows=len(rows))
    for max_rows in (1, 3, 5):
        got = scorer.scores(EXAMPLES, label_tokens=labels, rows=rows, max_rows=max_rows)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    single = torch.stack([scorer.scores([EXAMPLES[r]], label_tokens=labels[i:i + 1])[0] for i, r in enumerate(rows)])
    torch.testing.assert_close(single, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("template", [TEMPLATE, WORD_TEMPLATE], ids=["context", "word"])
def test_grid_with_shared_rows_equals_one_pair_per_row(arch, template):
    """score_grid (rows shared between examples, a few per forward) equals scoring each pair alone."""
    scorer = make(arch, template)
    labels = torch.randint(4, len(WORDS), (3, 2), generator=torch.Generator().manual_seed(2))  # [Q, K]
    for max_rows in (1, 2, 256):
        grid = scorer.score_grid(EXAMPLES, label_tokens=labels, max_rows=max_rows)  # [Q, N]
        rows = torch.arange(len(EXAMPLES)).repeat(3)
        alone = scorer.scores(EXAMPLES, label_tokens=labels.repeat_interleave(len(EXAMPLES), 0), rows=rows, max_rows=1)
        torch.testing.assert_close(grid, alone.view(3, -1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("template,n_rows", [(TEMPLATE, len(EXAMPLES)), (WORD_TEMPLATE, 2)], ids=["context", "word"])
def test_neutral_runs_once_per_example_and_words_share_rows(template, n_rows):
    """Without {context}, the three one-token words share a row; "big dog" needs its own."""
    scorer = make("llama", template)
    calls = []
    scorer.model.hook_embed.add_hook(lambda embed, hook: calls.append(embed.shape[0]))
    try:
        scorer.neutral_log_probs(EXAMPLES)
        scorer.neutral_log_probs(EXAMPLES[::-1])
        scorer.score_text(EXAMPLES, "cat")
    finally:
        scorer.model.reset_hooks()
    assert calls == [n_rows, n_rows]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_bfloat16_model_gives_float32_scores_close_to_float32(arch):
    full = make(arch)
    low = CauseScorer(copy.deepcopy(full.model).to(torch.bfloat16), TEMPLATE)
    labels = word_ids(full, ["cat", "road", "king", "cat"])
    want = full.log_probs(EXAMPLES, label_tokens=labels)
    got = low.log_probs(EXAMPLES, label_tokens=labels)
    assert got.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa (relative rounding 2^-8), a few roundings accumulated over two layers;
    # a score is the difference of two log-probs, so twice that
    tol = 4 * 2**-8 * want.abs().max().item()
    torch.testing.assert_close(got, want, atol=tol, rtol=0)
    score = low.scores(EXAMPLES, label_tokens=labels)
    assert score.dtype == torch.float32
    torch.testing.assert_close(score, full.scores(EXAMPLES, label_tokens=labels), atol=2 * tol, rtol=0)
    embeds = low.model.W_E[labels].float().requires_grad_(True)  # [M, 1, d_model] float32 leaves
    score = low.scores(EXAMPLES, label_embeds=embeds)
    (grad,) = torch.autograd.grad(score.sum(), embeds)
    assert score.dtype == torch.float32 and grad.dtype == torch.float32 and torch.isfinite(grad).all()


@pytest.mark.parametrize("text,match", [
    ("word : {token}", "{label}"),
    ("{label} {label} : {token}", "{label}"),
    ("the {label} : {token} .", "end with"),
    ("the {token} : {label} {token}", "{token}"),
    ("the : {context} {label} {token}", "after {label}"),
    ("the {context} {context} {label} {token}", "{context}"),
])
def test_template_text_errors(text, match):
    with pytest.raises(ValueError, match=match):
        CauseTemplate(text)


def test_template_errors_against_the_tokenizer_and_inputs():
    model = tiny_model("gpt2", WORDS + EXTRA, default_prepend_bos=False)
    with pytest.raises(ValueError, match="before {label}"):
        CauseScorer(model, CauseTemplate("{label} : {token}"))
    with pytest.raises(ValueError, match="neutral"):
        CauseTemplate("the {label} : {token}", neutral=" ")
    with pytest.raises(ValueError, match="no tokenizer"):
        CauseTemplate().validate(None)
    scorer = make("gpt2")
    with pytest.raises(ValueError, match="exactly one"):
        scorer.scores(EXAMPLES)
    with pytest.raises(ValueError, match=r"\[M, K\]"):
        scorer.scores(EXAMPLES, label_tokens=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="d_model"):
        scorer.scores(EXAMPLES, label_embeds=torch.zeros(4, 1, 3))
    with pytest.raises(ValueError, match="rows"):
        scorer.scores(EXAMPLES, label_tokens=torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="index"):
        scorer.scores(EXAMPLES, label_tokens=torch.zeros(2, 1, dtype=torch.long), rows=torch.tensor([0, 9]))
    with pytest.raises(ValueError, match="context"):
        scorer.score_text([Example(" ".join(["dog"] * 80), "dog", 1.0)], "cat")
    with pytest.raises(ValueError, match="shape"):
        scorer.score_text(EXAMPLES, torch.zeros(1, 2, scorer.model.cfg.d_vocab))


def test_readout_accuracy_bench_runs_on_a_tiny_model():
    from sae_gd_labeler.bench.readout_accuracy import CONCEPTS, concept_pairs, readout_accuracy, two_word_contexts

    assert len(concept_pairs()) == 20 * 20 * 20 and len(concept_pairs(3)) == 20 * 20 * 4
    assert set(two_word_contexts()) == {w for words in CONCEPTS.values() for w in words.split()}
    pairs = [("dog", "cat", True), ("red", "cat", False), ("red", "blue", True), ("dog", "blue", False)]
    result = readout_accuracy(tiny_model("llama", WORDS + EXTRA), "cause", pairs, WORD_TEMPLATE)
    assert result["pairs"] == 4 and 0 <= result["auroc"] <= 1 and 0 <= result["top1"] <= 1
