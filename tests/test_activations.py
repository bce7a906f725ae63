"""The activation adapter against sae_lens's own `sae.encode`, on random-weight models of real architectures."""

import tracemalloc

import pytest
import torch

from sae_gd_labeler.data.activations import ActivationConfig, collect_activations, feature_encoder
from sae_gd_labeler.data.corpus import iter_token_batches
from tests.builders import SAE_ARCHITECTURES, hook_activations, random_corpus, random_sae, random_texts, tiny_model

HOOK = "blocks.1.hook_resid_post"
CTX = 24
IDS = [0, 3, 5, 7, 30]  # 3 is made dead
SMALL = ActivationConfig(n_top=8, n_positive_sample=16, n_negative_sample=16, n_hard_negative=8, seed=0)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def models():
    return {arch: tiny_model(arch, seed=1) for arch in ("gpt2", "llama", "gemma2")}


@pytest.fixture(scope="module")
def texts():
    return random_texts(60, seed=2)


def make_sae(model, arch, hook=HOOK, **kwargs):
    calibration = random_corpus(model.tokenizer, 16, CTX, seed=3)
    return random_sae(arch, model, hook, d_sae=32, calibrate_on=calibration, dead=(3,), context_size=CTX,
                      **kwargs)


def reference(model, sae, texts, ids, hook=HOOK):
    """Every window the adapter saw and sae_lens's feature activations on it: [n, ctx], [n, ctx, F]."""
    tokens = torch.cat(list(iter_token_batches(texts, model, CTX, 8, prepend_bos=True)))
    acts = sae.encode(hook_activations(model, tokens, hook).to(sae.device))[..., ids].float()
    return tokens, acts


def kept(record):
    return {"top": record.top, "positives": record.positives, "negatives": record.negatives,
            "hard_negatives": record.hard_negatives}


@pytest.mark.parametrize("model_arch", ["gpt2", "llama"])
@pytest.mark.parametrize("sae_arch", SAE_ARCHITECTURES)
def test_activations_equal_sae_encode_at_every_kept_occurrence(models, texts, model_arch, sae_arch):
    model = models[model_arch]
    sae = make_sae(model, sae_arch)
    records = collect_activations(model, sae, texts, IDS, SMALL)
    tokens, acts = reference(model, sae, texts, IDS)
    valid = tokens != model.tokenizer.bos_token_id  # BOS positions are not occurrences
    for j, f in enumerate(IDS):
        record = records[f]
        column = acts[..., j]  # [n, ctx]
        assert record.n_tokens == int(valid.sum())
        assert record.n_fired == int((column[valid] > 0).sum())
        for name, occ in kept(record).items():
            if len(occ) == 0:
                continue
            torch.testing.assert_close(occ.activation, column[occ.seq, occ.pos], atol=1e-5, rtol=0,
                                       msg=f"{sae_arch} feature {f} {name}")
            assert torch.equal(occ.token_id, tokens[occ.seq, occ.pos])
            assert torch.equal(occ.context[:, -1], occ.token_id)  # the window ends with the token
            assert len(set(occ.keys())) == len(occ)
        # The top-k are the k largest activations of the whole corpus, largest first.
        truth = column[valid].topk(SMALL.n_top).values
        truth = truth[truth > 0]
        torch.testing.assert_close(record.top.activation, truth, atol=1e-5, rtol=0)
        assert (record.positives.activation > 0).all() and (record.negatives.activation <= 0).all()
        assert (record.hard_negatives.activation <= 0).all()
        assert set(record.hard_negatives.token_id.tolist()) <= set(record.top.token_id.tolist())
    dead = records[3]
    assert dead.dead and dead.n_fired == 0 and len(dead.top) == 0 and len(dead.negatives) == SMALL.n_negative_sample


def test_context_window_is_the_tokens_before(models, texts):
    model = models["gpt2"]
    records = collect_activations(model, make_sae(model, "standard"), texts, [0], SMALL)
    tokens, _ = reference(model, make_sae(model, "standard"), texts, [0])
    occ = records[0].negatives
    for i in range(len(occ)):
        seq, pos = int(occ.seq[i]), int(occ.pos[i])
        want = tokens[seq, max(0, pos + 1 - SMALL.context_tokens): pos + 1].tolist()
        assert occ.context_ids(i) == want


@pytest.mark.parametrize("model_arch", ["gemma2", "llama"])
def test_hook_z_and_attention_hooks(models, texts, model_arch):
    # hook_z SAEs read [batch, pos, n_heads, d_head] and flatten heads (sae_lens's reshape_fn_in).
    model = models[model_arch]
    hook = "blocks.0.attn.hook_z"
    sae = make_sae(model, "standard", hook=hook)
    records = collect_activations(model, sae, texts, [1, 2], SMALL)
    _, acts = reference(model, sae, texts, [1, 2], hook=hook)
    for j, f in enumerate([1, 2]):
        occ = records[f].top
        assert len(occ) > 0
        torch.testing.assert_close(occ.activation, acts[occ.seq, occ.pos, j], atol=1e-5, rtol=0)


def test_bfloat16_sae_matches_its_own_encode(models, texts):
    model = models["llama"]
    sae = make_sae(model, "jumprelu", dtype="bfloat16")
    x = hook_activations(model, random_corpus(model.tokenizer, 4, CTX, seed=9), HOOK)
    want = sae.encode(x)[..., IDS]
    got = feature_encoder(sae, IDS)(x)
    assert got.dtype == torch.bfloat16  # computed in the SAE's dtype, as sae.encode does
    # Slicing W_enc changes bf16 matmul accumulation order only; the JumpReLU gate may flip at the edge.
    close = (got.float() - want.float()).abs() <= 0.02 * want.float().abs().clamp(min=1)
    assert close.float().mean() > 0.99
    records = collect_activations(model, sae, texts, IDS, SMALL)
    assert records[0].top.activation.dtype == torch.float32 and records[0].n_fired > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_sae(models, texts):
    model = models["gpt2"]
    sae = make_sae(model, "jumprelu", device="cuda")
    records = collect_activations(model, sae, texts, IDS, SMALL)
    tokens, acts = reference(model, sae, texts, IDS)
    occ = records[0].top
    torch.testing.assert_close(occ.activation, acts[occ.seq, occ.pos, 0].cpu(), atol=1e-5, rtol=0)


def test_kept_state_does_not_grow_with_the_corpus(models):
    model = models["gpt2"]
    sae = make_sae(model, "standard")
    small = random_corpus(model.tokenizer, 16, CTX, seed=4)
    large = random_corpus(model.tokenizer, 160, CTX, seed=4)  # 10x the tokens

    def run(corpus):
        tracemalloc.start()
        records = collect_activations(model, sae, corpus, IDS, SMALL)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sizes = [len(o) for r in records.values() for o in kept(r).values()]
        return records, peak, sizes

    rec_small, peak_small, sizes_small = run(small)
    rec_large, peak_large, sizes_large = run(large)
    assert rec_large.n_tokens == 10 * rec_small.n_tokens
    assert rec_large.state_bytes == rec_small.state_bytes  # preallocated [features, kept] tensors
    assert max(sizes_large) <= max(SMALL.n_top, SMALL.n_positive_sample, SMALL.n_negative_sample)
    # Python-side allocations (tracemalloc does not see tensor storage): one small object per extra token
    # and feature would add 28 B x 3456 x 5 = 480 kB; the model's own per-forward churn stays far below.
    assert peak_large - peak_small < 150_000, (peak_small, peak_large)


def test_records_do_not_depend_on_the_other_features(models, texts):
    model = models["llama"]
    sae = make_sae(model, "jumprelu")
    alone = collect_activations(model, sae, texts, [5], SMALL)[5]
    together = collect_activations(model, sae, texts, torch.tensor([7, 5, 0]), SMALL)[5]
    for name, occ in kept(alone).items():
        other = kept(together)[name]
        assert occ.keys() == other.keys(), name
        torch.testing.assert_close(occ.activation, other.activation, atol=1e-5, rtol=0)
    assert (alone.n_fired, alone.n_tokens) == (together.n_fired, together.n_tokens)


def test_feature_chunks_and_batch_size_do_not_change_records(models, texts):
    model = models["gpt2"]
    sae = make_sae(model, "gated")
    base = collect_activations(model, sae, texts, IDS, SMALL)
    other = collect_activations(model, sae, texts, IDS, ActivationConfig(
        **{**vars(SMALL), "feature_chunk_size": 2, "batch_size": 3}))
    for f in IDS:
        # Hard negatives depend on which tokens were in the top-k when a batch streamed by: not compared.
        for name in ("top", "positives", "negatives"):
            assert kept(base[f])[name].keys() == kept(other[f])[name].keys(), (f, name)


def test_metadata_drives_hook_context_and_max_tokens(models, texts):
    model = models["gpt2"]
    sae = make_sae(model, "standard")
    sae.cfg.metadata.context_size = 16
    records = collect_activations(model, sae, texts, [0], ActivationConfig(max_tokens=64, batch_size=2))
    assert records.context_size == 16 and records.hook_name == HOOK and records.prepend_bos
    assert records.n_sequences == 4  # 64 tokens in windows of 16
    assert int(records[0].negatives.pos.max()) < 16


# -- errors: all raised before any work is returned ------------------------------------------------------


@pytest.mark.parametrize("ids, match", [
    ([0, 32], r"out of range.*d_sae=32"),
    ([-1], r"out of range"),
    ([1, 2, 1], r"duplicated"),
    ([], r"empty"),
    (torch.tensor([0.5]), r"integers"),
    (["a"], r"integers"),
])
def test_bad_feature_ids(models, texts, ids, match):
    model = models["gpt2"]
    with pytest.raises(ValueError, match=match):
        collect_activations(model, make_sae(model, "standard"), texts, ids, SMALL)


def test_missing_hook_lists_close_names(models, texts):
    model = models["gpt2"]
    sae = make_sae(model, "standard")
    sae.cfg.metadata.hook_name = "blocks.1.hook_resid_postt"
    with pytest.raises(ValueError, match=r"no hook 'blocks.1.hook_resid_postt'.*blocks.1.hook_resid_post"):
        collect_activations(model, sae, texts, [0], SMALL)


def test_d_in_mismatch(models, texts):
    wide = tiny_model("gpt2", d_model=48)
    sae = make_sae(wide, "standard")  # d_in 48 at the hook; the llama model has 32
    with pytest.raises(ValueError, match=r"d_in=48 does not match.*width 32"):
        collect_activations(models["llama"], sae, texts, [0], SMALL)


@pytest.mark.parametrize("corpus", [[], [""], torch.zeros(0, CTX, dtype=torch.long)], ids=["list", "blank", "tensor"])
def test_empty_corpus(models, corpus):
    model = models["gpt2"]
    with pytest.raises(ValueError, match="empty"):
        collect_activations(model, make_sae(model, "standard"), corpus, [0], SMALL)


def test_only_special_tokens(models):
    model = models["gpt2"]
    bos_only = torch.full((2, CTX), model.tokenizer.bos_token_id)
    with pytest.raises(ValueError, match="no token besides special tokens"):
        collect_activations(model, make_sae(model, "standard"), bos_only, [0], SMALL)


def test_missing_context_size(models, texts):
    model = models["gpt2"]
    sae = make_sae(model, "standard")
    sae.cfg.metadata.context_size = None
    with pytest.raises(ValueError, match="context_size"):
        collect_activations(model, sae, texts, [0], SMALL)
    with pytest.raises(ValueError, match="n_ctx"):
        collect_activations(model, sae, texts, [0], SMALL, context_size=10_000)


def test_bad_config():
    with pytest.raises(ValueError, match="n_top"):
        ActivationConfig(n_top=-1)
    with pytest.raises(ValueError, match="context_tokens"):
        ActivationConfig(context_tokens=0)
