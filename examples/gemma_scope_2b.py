"""Label a Gemma Scope SAE of Gemma-2-2B (gemma-scope-2b-pt-res-canonical, layer 12, 16k) into a run directory.

On one GPU of 80 GB (the model hub must be reachable, with access to google/gemma-2-2b granted), features
0 to 1023:

    python examples/gemma_scope_2b.py --features 0:1024 --out runs/gemma-l12

The same run with the yes / no question instead, from the command line (it has no flag for the
label-as-answer readout yet); `--readout yes_no` here makes the same run directory, and either command
resumes the other's:

    sae-gd-labeler label --release gemma-scope-2b-pt-res-canonical --sae-id layer_12/width_16k/canonical \\
        --features 0:1024 --n-tokens 4000000 --batch-features 16 --dtype bfloat16 --out runs/gemma-l12

On several GPUs (each rank labels its share of the features into its own shard; the run merges them):

    torchrun --nproc-per-node 8 examples/gemma_scope_2b.py --features all --out runs/gemma-l12

Rerunning a command resumes its run directory (finished features are skipped); `--overwrite` starts over.
Offline, in seconds, on a CPU (a random-weight 2-layer Gemma-2 built from TransformerLens's own gemma-2-2b
config and a random JumpReLU SAE at blocks.1.hook_resid_post; the labels are at chance, this checks the
plumbing):

    python examples/gemma_scope_2b.py --smoke --features 0:8 --out runs/gemma-smoke

What it loads and why:
- The SAE: `SAE.from_pretrained("gemma-scope-2b-pt-res-canonical", "layer_12/width_16k/canonical")`
  (JumpReLU, d_sae 16,384; its metadata: hook blocks.12.hook_resid_post, context 1024, prepend_bos, the
  corpus monology/pile-uncopyrighted). Other layers and widths: `--sae-id`'s siblings in the release.
- The subject model: `HookedTransformer.from_pretrained_no_processing("gemma-2-2b", dtype=torch.bfloat16)`
  (the SAE's metadata names no further loading arguments). bfloat16: 5 GB of weights instead of 10, the
  GPU's fast matrix units; the labeler keeps its label logits and losses in float32.
- The corpus: `metadata.dataset_path` (the Pile, uncopyrighted part), streamed, the first 4M tokens (3,907
  windows of 1,024); memory does not grow with --n-tokens, time does.
- The discriminator: the subject model itself, with the label-as-answer readout: the readout measured to
  work on real LMs (0.988 AUROC on real (word, concept) pairs with SmolLM2-135M and Gemma-3-270M, whose
  yes / no answers were at chance); it scores every candidate label in one forward per example; no second
  model on the GPU. Gemma-2-2B itself was not measured (no hub here): look at the held-out scores of the
  first batches.
- `--batch-features 64` (an estimate from the code's own memory formulas, not measured on a GPU):
  label-as-answer keeps per feature only [examples x candidates] float32 scores (128 x ~30,000 x 4 B, about
  15 MB) and bounds each forward's logits itself, so 64 features (the auto batch's ceiling) fit an 80 GB GPU
  beside Gemma-2-2B's 5 GB of weights. With `--readout yes_no` each feature keeps the keys and values of its
  96 training prompts and of a gradient pass (about 1.6 GB in bfloat16): `sae_gd_labeler.search.memory_budget`
  gives 17 features for 74 GB free, so 16 there.

The Gemma tokenizer cannot be had offline (Gemma-2's 256,000-token SentencePiece model is only on the hub;
the packaged Gemma-3-270M's tokenizer is another vocabulary, 262,144 tokens, and takes a 253 MB file and
~20 s to load), so the smoke run uses GPT-2's real BPE tokenizer: real subword text through
the Gemma-2 architecture, which is what the smoke run checks.
"""

from __future__ import annotations

import sys

from sae_gd_labeler.data import release_examples as shared

RELEASE, SAE_ID, MODEL = "gemma-scope-2b-pt-res-canonical", "layer_12/width_16k/canonical", "gemma-2-2b"
N_TOKENS, BATCH_FEATURES, DTYPE = 4_000_000, {"answer": 64, "yes_no": 16}, "bfloat16"


def release_sources(args):
    """The real SAE, subject model and corpus (model hub), as their metadata says."""
    return shared.release_sources(args, RELEASE, SAE_ID)


def smoke_config(d_vocab: int, dtype: str):
    """gemma-2-2b's own TransformerLens config (built in, offline) at toy size: every architecture switch
    kept (RMSNorm before and after each sublayer, rotary positions, grouped-query attention, local / global
    layers, attention and logit soft caps, gated GELU MLP), only the sizes shrunk."""
    import torch
    from transformer_lens import HookedTransformerConfig
    from transformer_lens.loading_from_pretrained import get_pretrained_model_config

    real = get_pretrained_model_config(MODEL).to_dict()
    small = dict(d_model=64, n_layers=2, n_heads=4, n_key_value_heads=2, d_head=16, d_mlp=128, n_ctx=128,
                 rotary_dim=16, attn_scale=4.0, window_size=16, attn_types=["local", "global"], d_vocab=d_vocab,
                 d_vocab_out=d_vocab, n_params=None, init_weights=True, tokenizer_name=None,
                 model_name="tiny-gemma-2", dtype=getattr(torch, dtype), seed=0)
    return HookedTransformerConfig(**{**real, **small})


def smoke_sources(args):
    """Offline stand-ins of the same kinds: a random-weight tiny Gemma-2 (with GPT-2's tokenizer: see above)
    and a random JumpReLU SAE at blocks.1.hook_resid_post (context 64, prepend_bos), on real English."""
    return shared.smoke_sources(args, smoke_config,
                                "jumprelu", "blocks.1.hook_resid_post", context_size=64, name="tiny-gemma-2")


def main(argv: list[str] | None = None):
    parser = shared.example_parser(__doc__, n_tokens=N_TOKENS, batch_features=BATCH_FEATURES, dtype=DTYPE)
    args = shared.parse_args(parser, argv)
    return shared.run_example(args, smoke_sources if args.smoke else release_sources)


if __name__ == "__main__":
    main(sys.argv[1:])
