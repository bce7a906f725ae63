"""On a CUDA device (skipped elsewhere): the labels equal the CPU's, and the soft step loop never waits for
the host."""

import copy

import pytest
import torch

from sae_gd_labeler import LabelerConfig, label_examples
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.search.feature_batch import FeatureBatch, FeatureData
from sae_gd_labeler.search.soft_search import soft_loss
from tests.builders import WORDS, tiny_model
from tests.test_bfloat16 import EXAMPLES, EXTRA, TEMPLATE

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _discs(arch: str = "llama") -> tuple[Discriminator, Discriminator]:
    model = tiny_model(arch, WORDS + EXTRA)
    return Discriminator(model, TEMPLATE), Discriminator(copy.deepcopy(model).to("cuda"), TEMPLATE)


@pytest.mark.parametrize("arch", ["gpt2", "gemma2"])
def test_cuda_labels_equal_cpu_labels(arch):
    cpu, gpu = _discs(arch)
    config = LabelerConfig(restarts=2, discrete_max_iters=3, examples_per_feature=8, min_examples_per_class=2)
    features = {"f": EXAMPLES, "g": EXAMPLES[::-1]}
    want, got = label_examples(features, cpu, config), label_examples(features, gpu, config)
    for f in features:
        assert got[f].label == want[f].label
        assert got[f].candidates[0].loss == pytest.approx(want[f].candidates[0].loss, abs=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_soft_step_loop_does_not_synchronise(dtype):
    _, gpu = _discs()
    gpu.model.to(dtype)
    gpu = Discriminator(gpu.model, TEMPLATE)
    cfg = LabelerConfig(batch_examples=4, restarts=2)
    batch = FeatureBatch(gpu, [FeatureData("f", EXAMPLES, [])], torch.arange(gpu.d_vocab), cfg)
    v = torch.randn(1, 2, gpu.d_vocab, device="cuda", requires_grad=True)
    opt = torch.optim.AdamW([v], lr=0.1)
    rows = batch.sample_steps(3)
    with gpu.frozen():
        soft_loss(batch, v, rows[0], 1).sum().backward()  # first call: layouts and id tensors are made
        torch.cuda.set_sync_debug_mode("error")
        try:
            for step in (2, 3):
                loss = soft_loss(batch, v, rows[step - 1], step)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
