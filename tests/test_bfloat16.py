"""A bfloat16 discriminator (the fast path on GPUs): float32 answers, losses and label gradients, close to
the float32 model's, and the same labels on the toy world."""

import copy

import pytest
import torch

from sae_gd_labeler import Example, LabelerConfig, PromptTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from sae_gd_labeler.search.labeler import label_examples
from sae_gd_labeler.search.soft_search import soft_loss
from tests.builders import WORDS, tiny_model

TEMPLATE = PromptTemplate("{context} . is {token} a {label} ? answer :", " yes", " no")
EXTRA = ("is", "a", "?", "answer", ":", "yes", "no", ".")
EXAMPLES = [Example("the big dog", "dog", 1.0), Example("a cat sees", "cat", 2.0), Example("fish", "fish", 1.0),
            Example("one bird and a very old tree", "bird", 0.5), Example("the red car", "car", 0.0),
            Example("old road", "road", 0.0), Example("one", "one", 0.0),
            Example("the city is big and the house is small", "house", 0.0)]


def _pair(arch: str) -> tuple[Discriminator, Discriminator]:
    """The same random weights in float32 and in bfloat16."""
    model = tiny_model(arch, WORDS + EXTRA)
    low = copy.deepcopy(model).to(torch.bfloat16)
    return Discriminator(model, TEMPLATE), Discriminator(low, TEMPLATE)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma2"])
def test_bfloat16_answers_are_float32_and_close_to_float32_model(arch):
    full, low = _pair(arch)
    assert low.W_E.dtype == torch.bfloat16
    labels = torch.tensor([low.label_ids(w)[0] for w in ("dog", "red", "king")])  # [Q]
    grid = labels.expand(len(EXAMPLES), -1)[..., None]  # [N, Q, 1]
    want = full.answer_grid(full.cache_prefixes(EXAMPLES), label_tokens=grid)
    got = low.answer_grid(low.cache_prefixes(EXAMPLES), label_tokens=grid)
    assert got.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: about 1% of the answers' scale, accumulated over two layers
    torch.testing.assert_close(got, want, atol=0.05 * want.abs().max().item(), rtol=0)


@pytest.mark.parametrize("readout", ["yes_no", "full_vocab"])
def test_bfloat16_soft_step_gives_float32_loss_and_gradient_close_to_float32(readout):
    grads, losses = [], []
    for disc in _pair("llama"):
        cfg = LabelerConfig(readout=readout, batch_examples=len(EXAMPLES), restarts=2, entropy_warmup_steps=0)
        batch = FeatureBatch(disc, [FeatureData("f", EXAMPLES, [])], torch.arange(disc.d_vocab), cfg)
        v = torch.randn(1, 2, disc.d_vocab, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        with disc.frozen():
            loss = soft_loss(batch, v, batch.sample_rows(), step=1)  # [F, R]
            loss.sum().backward()
        assert loss.dtype == torch.float32 and v.grad.dtype == torch.float32
        assert torch.isfinite(v.grad).all()
        losses.append(loss.detach())
        grads.append(v.grad.flatten())
    torch.testing.assert_close(losses[1], losses[0], atol=0.02, rtol=0.02)
    assert torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0) > 0.99


def test_bfloat16_toy_world_labels_match_float32():
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    categories = ["animal", "food", "number", "place", "time"]
    features = {c: world.examples_for(c, n=96, seed=0) for c in categories}
    low = Discriminator(copy.deepcopy(world.model).to(torch.bfloat16), world.template)
    labels = label_examples(features, low, LabelerConfig())
    assert {c: labels[c].label for c in categories} == {c: c for c in categories}
    assert all(labels[c].metrics["balanced_accuracy"] > 0.9 for c in categories)


def test_model_whose_cfg_dtype_disagrees_with_its_weights_is_refused():
    model = tiny_model("gpt2", WORDS + EXTRA)
    model.bfloat16()  # nn.Module's cast: the weights change, TransformerLens's cfg.dtype does not
    with pytest.raises(ValueError, match="model.to"):
        Discriminator(model, TEMPLATE)


def test_full_vocabulary_unembedding_in_chunks_equals_one_product():
    _, low = _pair("gemma2")
    resid = torch.randn(5, low.model.cfg.d_model).to(torch.bfloat16)
    whole = low._unembed(resid, chunk=low.d_vocab)
    torch.testing.assert_close(low._unembed(resid, chunk=7), whole, atol=1e-5, rtol=1e-5)
    assert whole.dtype == torch.float32 and whole.shape == (5, low.d_vocab)
