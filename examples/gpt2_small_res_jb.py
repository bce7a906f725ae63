"""Label GPT-2 small's residual-stream SAE at layer 8 (sae_lens release gpt2-small-res-jb) into a run directory.

On one GPU (the model hub must be reachable), features 0 to 1023:

    python examples/gpt2_small_res_jb.py --features 0:1024 --out runs/gpt2-l8

The same run with the yes / no question instead, from the command line (it has no flag for the
label-as-answer readout yet); `--readout yes_no` here makes the same run directory, and either command
resumes the other's:

    sae-gd-labeler label --release gpt2-small-res-jb --sae-id blocks.8.hook_resid_pre --features 0:1024 \\
        --n-tokens 10000000 --batch-features 32 --dtype float32 --out runs/gpt2-l8

On several GPUs (each rank labels its share of the features into its own shard; the run merges them):

    torchrun --nproc-per-node 4 examples/gpt2_small_res_jb.py --features all --out runs/gpt2-l8

Rerunning a command resumes its run directory (finished features are skipped); `--overwrite` starts over.
Offline, in seconds, on a CPU (a random-weight 2-layer GPT-2 with GPT-2's real tokenizer and a random
StandardSAE at blocks.1.hook_resid_pre; the labels are at chance, this checks the plumbing):

    python examples/gpt2_small_res_jb.py --smoke --features 0:8 --out runs/gpt2-smoke

What it loads and why:
- The SAE: `SAE.from_pretrained("gpt2-small-res-jb", "blocks.8.hook_resid_pre")` (StandardSAE, d_sae 24,576;
  its metadata: hook blocks.8.hook_resid_pre, context 128, prepend_bos, the corpus it was trained on).
- The subject model exactly as the SAE was trained on it: `HookedTransformer.from_pretrained_no_processing(
  metadata.model_name, **metadata.model_from_pretrained_kwargs)`, i.e. "gpt2-small" with
  center_writing_weights=True. float32: the dictionary was trained on float32 activations, and a 124M
  model costs little either way.
- The corpus: `metadata.dataset_path` (OpenWebText), streamed, the first 10M tokens (78,125 windows of
  128): a feature firing once in 100,000 tokens still gets 100 firings, more than the 64 positives a
  label uses. Memory does not grow with --n-tokens.
- The discriminator: the subject model itself, with the label-as-answer readout. Small LMs cannot answer
  the yes / no question (measured at chance on SmolLM2-135M and Gemma-3-270M; GPT-2 small is the same
  size), while label-as-answer separated 0.988 AUROC of real (word, concept) pairs on both; it scores
  every candidate label in one forward per example, and the model is already on the GPU. Not measured on
  GPT-2 itself (no hub here): look at the held-out scores of the first batches.
- `--batch-features 64`: the label-as-answer readout keeps per feature only [examples x candidates] float32
  scores (128 x ~30,000 x 4 B, about 15 MB), so 64, the auto batch's ceiling, fits any GPU (an estimate from
  the code's own memory formulas; no GPU figures yet). With `--readout yes_no` a feature keeps its training
  prompts' keys and values, about 0.75 GB in float32 (`sae_gd_labeler.search.memory_budget` gives 39 features for
  79 GB free, 19 for 39 GB): 32 there, for an 80 GB GPU (give 16 on 40 GB). A crash loses at most one batch.
"""

from __future__ import annotations

import sys

from sae_gd_labeler.data import release_examples as shared

RELEASE, SAE_ID = "gpt2-small-res-jb", "blocks.8.hook_resid_pre"
N_TOKENS, BATCH_FEATURES, DTYPE = 10_000_000, {"answer": 64, "yes_no": 32}, "float32"


def release_sources(args):
    """The real SAE, subject model and corpus (model hub), as their metadata says."""
    return shared.release_sources(args, RELEASE, SAE_ID)


def smoke_config(d_vocab: int, dtype: str):
    """GPT-2's block at toy size: learned absolute positions, LayerNorm, GELU (tanh), 50,257 tokens."""
    import torch
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(d_model=64, n_layers=2, n_heads=4, d_head=16, d_mlp=256, n_ctx=128,
                                   d_vocab=d_vocab, act_fn="gelu_new", normalization_type="LN",
                                   positional_embedding_type="standard", eps=1e-5, default_prepend_bos=True,
                                   original_architecture="GPT2LMHeadModel", model_name="tiny-gpt2",
                                   dtype=getattr(torch, dtype), seed=0)


def smoke_sources(args):
    """Offline stand-ins of the same kinds: a random-weight tiny GPT-2 with GPT-2's real tokenizer and a
    random StandardSAE at blocks.1.hook_resid_pre (context 32, prepend_bos), on real English."""
    return shared.smoke_sources(args, smoke_config,
                                "standard", "blocks.1.hook_resid_pre", context_size=32, name="tiny-gpt2")


def main(argv: list[str] | None = None):
    parser = shared.example_parser(__doc__, n_tokens=N_TOKENS, batch_features=BATCH_FEATURES, dtype=DTYPE)
    args = shared.parse_args(parser, argv)
    return shared.run_example(args, smoke_sources if args.smoke else release_sources)


if __name__ == "__main__":
    main(sys.argv[1:])
