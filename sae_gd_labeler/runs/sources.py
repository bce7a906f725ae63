"""Where a bulk run's SAE, subject model, discriminator and corpus come from, checked before any work.

    --release R --sae-id ID   an sae_lens pretrained SAE (the model hub); release and id are checked
                              against sae_lens's directory first, which needs no network; or a packaged
                              model's shipped SAE (--release smollm2-135m-instruct --sae-id HOOK, offline)
    --sae-path DIR            an SAE saved by sae_lens (cfg.json + sae_weights.safetensors)
    --toy-world HOOK          the shipped toy world's SAE at HOOK, with its model, corpus and discriminator

A model (`--model`, `--discriminator`) is a packaged real LM name (sae_gd_labeler.models) or a
TransformerLens / hub name; by default the SAE's own model (`cfg.metadata.model_name`), and the subject
model as its own discriminator.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sae_gd_labeler.runs.run_config import describe_sae
from sae_gd_labeler.runs.run_dir import RunDirectoryError

TOY_WORLD = "toy-world"


class SourceError(RunDirectoryError):
    """A source named on the command line does not exist; the message lists close valid names."""


@dataclass
class Sources:
    sae: Any
    model: Any
    discriminator: Any  # a Discriminator
    dataset: Any
    description: dict[str, Any]  # what run_config.json records
    example_fn: Callable | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_release(release: str, sae_id: str) -> dict[str, Any]:
    """The directory entry of a pretrained SAE; SourceError naming close valid names otherwise."""
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    from sae_gd_labeler.saes.packaged import PACKAGED_SAES

    if release in PACKAGED_SAES:
        hooks = PACKAGED_SAES[release].hooks
        if sae_id not in hooks:
            raise SourceError(f"--sae-id {sae_id!r} is not a shipped SAE of {release}; its ids: {', '.join(hooks)}")
        return {"release": release, "sae_id": sae_id, "model": release, "neuronpedia_id": None}

    directory = get_pretrained_saes_directory()
    if release not in directory:
        close = difflib.get_close_matches(release, list(directory), n=5, cutoff=0.4)
        raise SourceError(f"--release {release!r} is not an sae_lens release; close names: {', '.join(close) or '-'} "
                          "(all: sae_lens.loading.pretrained_saes_directory.get_pretrained_saes_directory())")
    entry = directory[release]
    if sae_id not in entry.saes_map:
        close = difflib.get_close_matches(sae_id, list(entry.saes_map), n=5, cutoff=0.4)
        raise SourceError(f"--sae-id {sae_id!r} is not in release {release!r}; close ids: {', '.join(close) or '-'} "
                          f"({len(entry.saes_map)} ids in all)")
    neuronpedia = (entry.neuronpedia_id or {}).get(sae_id)
    return {"release": release, "sae_id": sae_id, "model": entry.model, "neuronpedia_id": neuronpedia}


def check_dataset(dataset: str | None) -> None:
    """A name that looks like a local path must exist: never fall through to a hub lookup and its retries."""
    if dataset is None or dataset == TOY_WORLD:
        return
    if looks_local(dataset) and not os.path.exists(os.path.expanduser(dataset)):
        raise SourceError(f"--dataset {dataset!r}: file not found; give an existing file or folder "
                          "(.txt, .json, .jsonl, .csv, .parquet, or a saved datasets folder), or a hub name org/name")


def looks_local(name: str) -> bool:
    from sae_gd_labeler.data.corpus import FILE_BUILDERS

    return (name.startswith(("/", ".", "~")) or name.count("/") >= 2 or os.sep in name and os.path.exists(name)
            or Path(name).suffix.lower() in FILE_BUILDERS)


def load_sae(args) -> tuple[Any, dict[str, Any]]:
    """The SAE and what run_config.json records of it."""
    from sae_lens import SAE

    device = args.device or "cpu"
    if args.toy_world is not None:
        raise ValueError("load_sae: use load_toy_world_sources for --toy-world")
    if args.sae_path is not None:
        path = Path(args.sae_path).expanduser()
        if not (path / "cfg.json").exists():
            raise SourceError(f"--sae-path {str(path)!r}: no cfg.json there; give a folder written by sae_lens "
                              "(sae.save_model(path))")
        sae = SAE.load_from_disk(str(path), device=device, dtype="float32")  # as from_pretrained loads
        return sae, describe_sae(sae, path=str(path.resolve()))
    entry = check_release(args.release, args.sae_id)
    sae = pretrained_sae(args.release, args.sae_id, device, "float32")
    return sae, describe_sae(sae, release=args.release, sae_id=args.sae_id, neuronpedia_id=entry["neuronpedia_id"])


def load_saes(releases, paths, device: str | None, dtype: str | None) -> dict[str, Any]:
    """SAEs by (release, sae_id) and from saved folders, keyed by their hook names."""
    from sae_lens import SAE

    saes = {}
    for release, sae_id in releases:
        sae = pretrained_sae(release, sae_id, device or "cpu", dtype or "float32")
        saes[sae.cfg.metadata.hook_name] = sae
    for path in paths:
        sae = SAE.load_from_disk(str(path), device=device or "cpu", dtype=dtype or "float32")
        saes[sae.cfg.metadata.hook_name] = sae
    return saes


def pretrained_sae(release: str, sae_id: str, device: str, dtype: str):
    """A packaged model's shipped SAE (sae_gd_labeler.saes), else sae_lens's pretrained SAE."""
    from sae_lens import SAE

    from sae_gd_labeler.saes.packaged import PACKAGED_SAES, load_packaged_saes

    if release in PACKAGED_SAES:
        return load_packaged_saes(release, [sae_id], device=device, dtype=dtype)[sae_id]
    return SAE.from_pretrained(release, sae_id, device=device, dtype=dtype)


def saes_model(saes: dict[str, Any], name: str | None, device: str | None, dtype: str | None):
    """`name`, or else the model the SAEs' metadata names, loaded with their loading arguments."""
    meta = next(iter(saes.values())).cfg.metadata
    name = name or meta.model_name
    if not name:
        raise ValueError("the SAEs name no model_name: give --model")
    return load_model(name, device, dtype, meta.model_from_pretrained_kwargs)


def load_model(name: str, device: str | None, dtype: str | None, hub_kwargs: dict[str, Any] | None = None):
    """A packaged real LM by its name, the toy world's model ("toy-world"), else a TransformerLens model from
    the hub, loaded as sae_lens loads an SAE's model (`hub_kwargs`: its metadata's model_from_pretrained_kwargs,
    e.g. center_writing_weights=True for gpt2-small-res-jb: without them the SAE reads other activations)."""
    from sae_gd_labeler.models import PACKAGED_MODELS, load_packaged_model

    if name == TOY_WORLD:
        from sae_gd_labeler.toyworld import load_toy_world

        model = load_toy_world().model  # on the CPU
        return model if device in (None, "cpu") else model.to(device)
    if name.lower() in PACKAGED_MODELS:  # SAE metadata spells it as the model does ("SmolLM2-135M-Instruct")
        return load_packaged_model(name.lower(), device=device, dtype=dtype)
    import torch
    from transformer_lens import HookedTransformer

    return HookedTransformer.from_pretrained_no_processing(name, device=device or "cpu",
                                                           dtype=getattr(torch, dtype or "float32"),
                                                           **(hub_kwargs or {}))


def hub_sources(args, sae, sae_description: dict[str, Any], config=None) -> Sources:
    """The subject model (with the SAE's loading arguments when it is the SAE's own model), the discriminator
    (asked in the template `config.readout` calls for: "answer" -> label-as-answer, "yes_no" / "full_vocab" ->
    the yes / no question, "auto" -> the model's measured default) and the corpus."""
    from sae_gd_labeler.models.defaults import default_example_fn
    from sae_gd_labeler.readout.discriminator import Discriminator

    meta = sae.cfg.metadata
    model_name = args.model or meta.model_name
    if model_name is None:
        raise SourceError("the SAE's metadata names no model; give --model (a packaged model name such as "
                          "smollm2-135m-instruct, or a TransformerLens model name)")
    dataset = args.dataset or meta.dataset_path
    if dataset is None:
        raise SourceError("the SAE's metadata names no dataset; give --dataset (a file, a saved datasets folder "
                          "or a hub name)")
    check_dataset(dataset)
    own_kwargs = meta.model_from_pretrained_kwargs if model_name == meta.model_name else None
    model = load_model(model_name, args.device, args.dtype, own_kwargs)
    disc_name = args.discriminator or model_name
    disc_model = model if disc_name == model_name else load_model(disc_name, args.device, args.dtype)
    description = {"sae": sae_description, "model": model_name, "discriminator": disc_name, "dataset": dataset}
    # the template and example adaptation the discriminator was measured with (the toy world's: its own
    # question, one-sentence contexts)
    return Sources(sae, model, Discriminator(disc_model, readout_template(disc_model, config)), dataset, description,
                   example_fn=default_example_fn(disc_model))


def readout_template(model, config):
    """The template for `config.readout`: label-as-answer for "answer"; for "yes_no" / "full_vocab" the model's
    own yes / no question when it has one (the toy world's), else the default question; None for "auto" (the
    model's measured default; see discriminator.default_template)."""
    from sae_gd_labeler.readout.discriminator import default_template
    from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate

    readout = "auto" if config is None else config.readout
    if readout == "answer":
        return AnswerTemplate()
    if readout in ("yes_no", "full_vocab"):
        own = default_template(model)
        return own if isinstance(own, PromptTemplate) else PromptTemplate.default_for(model.tokenizer)
    return None


def check_corpus(sources: Sources, text_column: str | None) -> None:
    """Read the corpus's first window now: a missing column or an empty file fails before any work."""
    from sae_gd_labeler.data.corpus import iter_token_batches

    try:
        next(iter_token_batches(sources.dataset, sources.model.tokenizer, context_size=8, batch_size=1,
                                text_column=text_column, max_tokens=8))
    except ValueError as e:
        raise SourceError(f"--dataset {sources.description['dataset']!r}: {e}") from None


def toy_world_sources(args) -> Sources:
    """The shipped world's SAE at a hook, set up as its examples do (its template, one-sentence contexts)."""
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    if args.toy_world not in world.saes:
        raise SourceError(f"--toy-world {args.toy_world!r}: the toy world has no SAE there; its hooks are "
                          f"{', '.join(sorted(world.saes))}")
    for flag in ("release", "sae_id", "sae_path", "model", "discriminator", "dataset"):
        if getattr(args, flag, None) is not None:
            raise SourceError(f"--{flag.replace('_', '-')} cannot be combined with --toy-world, which brings its "
                              "own SAE, model, discriminator and corpus")
    sae = world.saes[args.toy_world]
    described = describe_sae(sae, toy_world=args.toy_world)
    description = {"sae": described, "model": TOY_WORLD, "discriminator": TOY_WORLD, "dataset": TOY_WORLD}
    return Sources(sae, world.model, Discriminator(world.model, world.template), world.corpus, description,
                   example_fn=world.within_sentence)
