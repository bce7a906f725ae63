"""The plain reference path (the seed paper's method) and our engine compute the same step."""

import pytest
import torch

from sae_gd_labeler import Example, LabelerConfig, PromptTemplate
from sae_gd_labeler.bench.reference import ReferencePrompts, ReferenceSettings, reference_label
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from sae_gd_labeler.search.soft_search import soft_loss
from tests.builders import WORDS, tiny_model

TEMPLATE = PromptTemplate("{context} . is {token} a {label} ? answer :", " yes", " no")
EXTRA = ("is", "a", "?", "answer", ":", "yes", "no", ".")
EXAMPLES = [Example("the big dog", "dog", 1.0), Example("a cat sees", "cat", 2.0), Example("fish", "fish", 1.0),
            Example("one bird and a very old tree", "bird", 0.5),
            Example("the red car", "car", 0.0), Example("old road", "road", 0.0), Example("one", "one", 0.0),
            Example("the city is big and the house is small", "house", 0.0)]


@pytest.mark.parametrize("arch", ["gpt2", "gemma2"])
def test_reference_and_engine_give_the_same_loss_and_gradient(arch):
    disc = Discriminator(tiny_model(arch, WORDS + EXTRA), TEMPLATE)
    cfg = LabelerConfig(readout="full_vocab", kl_weight=0.2, entropy_weight=0.2, entropy_warmup_steps=0,
                        batch_examples=len(EXAMPLES), restarts=1)
    vocab = torch.arange(disc.d_vocab)
    batch = FeatureBatch(disc, [FeatureData("f", EXAMPLES, [])], vocab, cfg)
    rows = batch.sample_rows()  # with batch = every example, KL over the batch equals KL over the set
    assert sorted(rows[0].tolist()) == list(range(len(EXAMPLES)))

    v = torch.randn(disc.d_vocab, generator=torch.Generator().manual_seed(0))
    v_engine = v.clone()[None, None].requires_grad_(True)  # [F=1, R=1, C]
    engine = soft_loss(batch, v_engine, rows, step=1)[0, 0]
    engine.backward()

    v_ref = v.clone().requires_grad_(True)
    ref = ReferencePrompts(disc, EXAMPLES).loss(v_ref, rows[0], kl_weight=0.2, entropy_weight=0.2)
    ref.backward()

    torch.testing.assert_close(engine, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(v_engine.grad[0, 0], v_ref.grad, atol=1e-6, rtol=1e-4)


def test_reference_label_runs_and_reports():
    disc = Discriminator(tiny_model("llama", WORDS + EXTRA), TEMPLATE)
    res = reference_label(disc, EXAMPLES, ReferenceSettings(steps=3, batch=4))
    assert res.steps == 3 and len(res.losses) == 3 and len(res.top10) == 10
    assert res.label == disc.tokenizer.decode([res.token_id]).strip()
    assert all(p.requires_grad for p in disc.model.parameters())
