"""`sae-gd-labeler steer`: generate with and without steering, side by side, for several seeds.

    sae-gd-labeler steer --toy-world --feature blocks.1.hook_resid_post:178:4 --seeds 0,1,2
    sae-gd-labeler steer --toy-world --feature blocks.1.hook_resid_post:459:4 --graph --schedule exponential
    sae-gd-labeler steer --sae gemma-scope-2b-pt-res-canonical:layer_12/width_16k/canonical \
        --feature blocks.12.hook_resid_post:4111:40 --prompt "I think" --temperature 1.27 --top-p 0.7

`--feature HOOK:INDEX:STRENGTH` (repeatable) adds STRENGTH * W_dec[INDEX] at HOOK at every position
(Neuronpedia's additive steering), or with `--mode rescale` multiplies the feature's own contribution by
STRENGTH (0 removes it). `--graph` steers each feature's whole flow graph instead (cumulative, with
`--schedule`, `--up-to-layer`, `--threshold-scaling`), built from the same SAEs. Each text is followed by
the unsteered model's mean loss on it (the coherence cost).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_steer_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("steer", help="generate with and without steering by SAE features, side by side",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--feature", action="append", required=True, metavar="HOOK:INDEX:STRENGTH",
                   help="a feature to steer with (repeatable), e.g. blocks.1.hook_resid_post:178:4")
    p.add_argument("--mode", choices=["add", "rescale"], default="add")
    p.add_argument("--toy-world", action="store_true", help="the shipped toy world's SAEs and model")
    p.add_argument("--sae", action="append", default=[], metavar="RELEASE:SAE_ID", help="an sae_lens SAE (repeatable)")
    p.add_argument("--layers", default=None, metavar="A:B", help="layers A..B-1 for {L} in --sae ids")
    p.add_argument("--sae-path", action="append", default=[], type=Path, metavar="DIR", help="a saved SAE (repeatable)")
    p.add_argument("--model", default=None, help="the model (default: the SAEs' model_name)")
    p.add_argument("--graph", action="store_true", help="steer each feature's flow graph (cumulative)")
    p.add_argument("--schedule", choices=["constant", "exponential", "linear"], default="constant")
    p.add_argument("--alpha", type=float, default=-0.05, help="exponential schedule: s * exp(alpha * layer)")
    p.add_argument("--end", type=float, default=1.0, help="linear schedule: the coefficient at the last layer")
    p.add_argument("--up-to-layer", type=int, default=None, help="--graph: only nodes of blocks <= this")
    p.add_argument("--threshold-scaling", action="store_true", help="--graph: scale by JumpReLU thresholds")
    p.add_argument("--prompt", default="", help="text after BOS (default: none)")
    p.add_argument("--max-new-tokens", type=int, default=30)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seeds", default="0,1,2", help="comma-separated sampling seeds (default: %(default)s)")
    p.add_argument("--json", type=Path, help="write the texts and losses here")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    return p


def parse_steer_feature(text: str) -> tuple[str, int, float]:
    parts = text.rsplit(":", 2)
    try:
        hook, index, strength = parts[0], int(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise ValueError(f"--feature {text!r}: expected HOOK:INDEX:STRENGTH, "
                         "e.g. blocks.1.hook_resid_post:178:4") from None
    if not hook or index < 0:
        raise ValueError(f"--feature {text!r}: expected HOOK:INDEX:STRENGTH with INDEX >= 0")
    return hook, index, strength


def run_steer(args) -> int:
    from sae_gd_labeler.flow.command import expand_sae_specs

    try:
        wanted = [parse_steer_feature(f) for f in args.feature]
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else []
        if not seeds:
            raise ValueError("--seeds: give at least one seed")
        specs = expand_sae_specs(args.sae, args.layers)
        if args.toy_world == bool(specs or args.sae_path):
            raise ValueError("give either --toy-world or SAEs (--sae RELEASE:SAE_ID / --sae-path DIR), not both")
        if specs:
            from sae_gd_labeler.runs.sources import check_release

            for release, sae_id in specs:
                check_release(release, sae_id)
        return _run(args, wanted, seeds, specs)
    except (ValueError, FileNotFoundError) as e:
        sys.stderr.write(f"sae-gd-labeler steer: error: {e}\n")
        return 2


def _run(args, wanted, seeds, specs) -> int:
    from sae_gd_labeler.flow.graph import flow_graph
    from sae_gd_labeler.steering.context import steer
    from sae_gd_labeler.steering.measure import coherence_loss, sample
    from sae_gd_labeler.steering.schedule import Schedule, graph_features

    saes, model = _load(args, specs)
    features = []
    for hook, index, strength in wanted:
        if hook not in saes:
            raise ValueError(f"no SAE at hook {hook!r}; given: {sorted(saes)}")
        if args.graph:
            graph = flow_graph(saes, (hook, index))
            layers = None if args.up_to_layer is None else range(0, args.up_to_layer + 1)
            features += graph_features(graph, saes, strength, layers=layers, threshold_scaling=args.threshold_scaling,
                                       schedule=Schedule(args.schedule, alpha=args.alpha, end=args.end))
        else:
            features.append((saes[hook], index, strength))
    prompt_len = model.to_tokens(args.prompt).shape[1] if args.prompt else 1
    rows = []
    out = sys.stdout
    out.write("steering: " + ", ".join(f"{s.cfg.metadata.hook_name}#{i} x {c:.3g}" for s, i, c in features)
              + f" ({args.mode})\n")
    for seed in seeds:
        texts = {}
        for name, feats in (("unsteered", []), ("steered", features)):
            with steer(model, feats, mode=args.mode):
                tokens = sample(model, n=1, seed=seed, max_new_tokens=args.max_new_tokens,
                                temperature=args.temperature, top_p=args.top_p, prompt=args.prompt or None)
            loss = coherence_loss(model, tokens, prompt_len)
            texts[name] = {"text": model.to_string(tokens[0, 1:]), "coherence_loss": loss}  # prompt + new, no BOS
            out.write(f"seed {seed} {name:9s} [loss {loss:.2f}] {texts[name]['text']}\n")
        rows.append({"seed": seed, **texts})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"features": [[s.cfg.metadata.hook_name, i, c] for s, i, c in features],
                                         "mode": args.mode, "prompt": args.prompt, "samples": rows}, indent=1))
    return 0


def _load(args, specs):
    if args.toy_world:
        from sae_gd_labeler.toyworld import load_toy_world

        world = load_toy_world()
        return world.saes, world.model
    from sae_gd_labeler.runs.sources import load_saes, saes_model

    saes = load_saes(specs, args.sae_path, args.device, args.dtype)
    return saes, saes_model(saes, args.model, args.device, args.dtype)
