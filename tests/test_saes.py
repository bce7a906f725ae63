"""Real SAEs: the one-pass activation cache, sae_lens training on it, the shipped SmolLM2 SAEs, and a tiny SAE
trained on SmolLM2 over a slice of the real corpus and labeled end to end."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from sae_gd_labeler.saes.activation_cache import CacheSettings, cache_activations, read_cache
from sae_gd_labeler.saes.training import TrainingSettings, sae_quality, train_topk_sae
from tests.builders import hook_activations, random_texts, tiny_model
from tests.test_models import SMOL, needs_smollm2

HOOKS = ("blocks.0.hook_resid_post", "blocks.1.hook_mlp_out")


def test_the_cache_holds_every_hook_at_every_position_but_the_first_and_special_tokens(tmp_path):
    model = tiny_model("gpt2")
    texts = random_texts(40, seed=1)
    settings = CacheSettings(HOOKS, context_size=16, n_tokens=16 * 12, corpus="random texts")
    acts = cache_activations(model, texts, tmp_path / "cache", settings, batch_size=5)

    from sae_gd_labeler.data.corpus import iter_token_batches

    tokens = torch.cat(list(iter_token_batches(texts, model.tokenizer, 16, 5, max_tokens=16 * 12)))  # [12, 16]
    keep = ~torch.isin(tokens, torch.tensor(model.tokenizer.all_special_ids))
    keep[:, 0] = False
    assert tokens[:, 0].eq(model.tokenizer.bos_token_id).all() and keep.sum() < tokens[:, 1:].numel()  # separators
    for hook in HOOKS:
        expected = hook_activations(model, tokens, hook)[keep]  # [kept, d_model]
        assert acts[hook].shape == tuple(expected.shape)
        np.testing.assert_allclose(np.asarray(acts[hook], dtype=np.float32), expected.numpy(), rtol=1e-3, atol=1e-3)


def test_a_finished_pass_is_reused_and_one_with_other_settings_refused(tmp_path):
    model = tiny_model("gpt2")
    settings = CacheSettings(HOOKS, 16, 64, "random texts")
    cache_activations(model, random_texts(20), tmp_path, settings)
    again = cache_activations(model, None, tmp_path, settings)  # no corpus read: None would fail if it were
    assert set(again) == set(HOOKS)
    with pytest.raises(ValueError, match="other settings"):
        read_cache(tmp_path, dataclasses.replace(settings, n_tokens=128))
    (tmp_path / "meta.json").unlink()  # as if the pass had been killed before finishing
    assert read_cache(tmp_path) is None


def sparse_rows(n: int, d: int = 16, n_dirs: int = 32, active: int = 3, seed: int = 0) -> np.ndarray:
    """Rows that are sums of `active` of `n_dirs` random directions with positive weights: an SAE's ideal data."""
    gen = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n_dirs, d, generator=gen), dim=-1)  # [n_dirs, d]
    idx = torch.stack([torch.randperm(n_dirs, generator=gen)[:active] for _ in range(n)])  # [n, active]
    weights = 1 + torch.rand(n, active, generator=gen)  # [n, active]
    return (weights[..., None] * dirs[idx]).sum(1).numpy().astype(np.float16)  # [n, d]


def test_sae_lens_training_on_cached_rows_learns_sparse_structure_and_is_reproducible(tmp_path):
    rows = sparse_rows(6144)
    settings = TrainingSettings(d_sae=64, k=4, batch_tokens=256, lr=3e-3, lr_warm_up_steps=5, epochs=12,
                                dead_feature_window=10)
    meta = {"hook_name": "blocks.0.hook_resid_post", "context_size": 16}
    sae = train_topk_sae(rows[:5120], meta, settings, tmp_path / "a")
    quality = sae_quality(sae, rows[5120:])
    assert quality["explained_variance"] > 0.8 and quality["l0"] <= 4
    assert sae.cfg.metadata.hook_name == meta["hook_name"] and sae.cfg.metadata.context_size == 16
    again = train_topk_sae(rows[:5120], meta, settings, tmp_path / "b")
    assert torch.equal(sae.W_dec, again.W_dec)  # the same seed, the same SAE


@needs_smollm2
def test_the_shipped_smollm2_saes_reconstruct_real_activations():
    from sae_gd_labeler.models import load_packaged_model
    from sae_gd_labeler.saes import PACKAGED_SAES, load_packaged_saes, training_report

    spec = PACKAGED_SAES[SMOL]
    saes = load_packaged_saes(SMOL)
    assert list(saes) == list(spec.hooks)
    report = training_report(SMOL)
    model = load_packaged_model(SMOL)
    tokens = model.to_tokens(["The quick brown fox jumps over the lazy dog near the old mill by the river.",
                              "In the beginning God created the heaven and the earth, and the earth was void."])
    _, cache = model.run_with_cache(tokens, names_filter=list(spec.hooks), stop_at_layer=9)
    for hook, sae in saes.items():
        assert sae.cfg.metadata.hook_name == hook and sae.cfg.metadata.context_size == spec.context_size
        x = cache[hook][:, 1:].flatten(0, 1)  # [tokens, d_model], position 0 left out as in training
        f = sae.encode(x)
        assert (f > 0).sum(-1).le(spec.training.k).all()  # TopK
        ev = 1 - (x - sae.decode(f)).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        assert ev > 0.5, (hook, ev)
        reported = report["saes"][hook]
        assert reported["explained_variance"] > 0.5 and 0 <= reported["dead_fraction"] < 1


@needs_smollm2
def test_a_tiny_sae_trained_on_smollm2_over_the_real_corpus_gets_labels_end_to_end(tmp_path):
    """The whole path at a small scale: the real corpus, one model pass, sae_lens training, label_features with
    SmolLM2 as subject and discriminator (its default readout), position 0 never an example."""
    from sae_gd_labeler import label_features
    from sae_gd_labeler.data.activations import ActivationConfig
    from sae_gd_labeler.data.real_corpus import build_corpus
    from sae_gd_labeler.data.wordnet import find_wordnet
    from sae_gd_labeler.saes.packaged import SAESet, train_sae_set
    from sae_gd_labeler.search.config import LabelerConfig

    try:
        find_wordnet()
    except FileNotFoundError as e:
        pytest.skip(f"WordNet 3.0 is not installed here ({e})")
    corpus = tmp_path / "corpus.jsonl"
    build_corpus(corpus, sources=("wordnet",))
    lines = corpus.read_text().splitlines()
    (tmp_path / "slice.jsonl").write_text("\n".join(lines[:3000]) + "\n")
    spec = SAESet(model=SMOL, hooks=("blocks.1.hook_resid_post",), context_size=64, train_tokens=16_384,
                  eval_tokens=4_096, model_dtype="float32",
                  training=TrainingSettings(d_sae=128, k=8, batch_tokens=256, lr_warm_up_steps=5, epochs=4,
                                            dead_feature_window=10))
    report = train_sae_set(spec, tmp_path / "saes", tmp_path / "work", corpus=tmp_path / "slice.jsonl")
    quality = report["saes"]["blocks.1.hook_resid_post"]
    assert quality["explained_variance"] > 0.3 and quality["l0"] <= 8
    assert json.loads((tmp_path / "saes" / "training_report.json").read_text())["saes"] == report["saes"]

    from sae_lens import SAE

    from sae_gd_labeler.models import load_packaged_model

    sae = SAE.load_from_disk(tmp_path / "saes" / "blocks.1.hook_resid_post", device="cpu", dtype="float32")
    model = load_packaged_model(SMOL)
    ids = list(range(6))
    labels = label_features(sae, ids, model=model, dataset=str(tmp_path / "slice.jsonl"),
                            config=LabelerConfig(examples_per_feature=32),
                            activation_config=ActivationConfig(max_tokens=8192))
    assert [lab.feature for lab in labels] == ids
    labeled = [lab for lab in labels if lab.labeled]
    assert labeled, [lab.status for lab in labels]
    for lab in labeled:
        assert lab.label.strip() and 0 <= lab.metrics["balanced_accuracy"] <= 1
        assert set(lab.baselines) == {"most_frequent_token", "output_projection"}


def test_shipped_saes_are_a_release_of_the_label_command_with_their_ids_checked():
    from sae_gd_labeler.runs.sources import SourceError, check_release

    assert check_release(SMOL, "blocks.7.hook_resid_post")["model"] == SMOL
    with pytest.raises(SourceError, match="blocks.7.hook_mlp_out"):
        check_release(SMOL, "blocks.9.hook_resid_post")


def test_the_real_corpus_name_reads_the_corpus_built_once_into_the_cache(tmp_path, monkeypatch):
    from sae_gd_labeler.data import real_corpus
    from sae_gd_labeler.data.corpus import iter_token_batches

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = []

    def tiny_build(path, *args, **kwargs):
        built.append(path)
        path.write_text('{"text": "the cat sat on the mat", "source": "x"}\n' * 20)

    monkeypatch.setattr(real_corpus, "build_corpus", tiny_build)
    model = tiny_model("gpt2", words=["the", "cat", "sat", "on", "mat"])
    for _ in range(2):
        batch = next(iter_token_batches(real_corpus.REAL_CORPUS, model.tokenizer, 8, 2))  # [2, 8]
        assert batch.shape == (2, 8)
    assert built == [tmp_path / "sae_gd_labeler" / "real_corpus.jsonl"]  # built once, then read from the cache
