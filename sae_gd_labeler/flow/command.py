"""`sae-gd-labeler flow`: build a feature's flow graph, print it, export it, plot it, label it, check it.

    sae-gd-labeler flow --toy-world --feature blocks.1.hook_resid_post:459 --label --firing-threshold 1 \
        --json flow.json --html flow.html --deactivation
    sae-gd-labeler flow --sae "gemma-scope-2b-pt-res-canonical:layer_{L}/width_16k/canonical" \
        --sae "gemma-scope-2b-pt-mlp-canonical:layer_{L}/width_16k/canonical" --layers 0:26 \
        --feature blocks.24.hook_resid_post:14548 --json flow.json

SAEs come from the toy world (`--toy-world`: residual, MLP and attention outputs of its two blocks, with its
model, corpus and discriminator), from sae_lens releases (`--sae RELEASE:SAE_ID`, repeatable; `{L}` in the id
runs over `--layers A:B`; names are checked against sae_lens's directory before anything loads) and from
saved SAEs (`--sae-path DIR`, repeatable). Labels come from `--labels` (a labels.jsonl of `sae-gd-labeler
label` runs) or are made now with `--label`. Gemma Scope's attention SAEs read `hook_z` (head space), which
cannot be matched with residual features: leave them out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def add_flow_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("flow", help="a feature's flow graph across layers: print, export, plot, label, check",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--feature", required=True, metavar="HOOK:INDEX",
                   help="the residual feature to start from, e.g. blocks.1.hook_resid_post:459")
    p.add_argument("--toy-world", action="store_true", help="the shipped toy world's SAEs, model and corpus")
    p.add_argument("--sae", action="append", default=[], metavar="RELEASE:SAE_ID",
                   help="an sae_lens pretrained SAE (repeatable); {L} in SAE_ID runs over --layers")
    p.add_argument("--layers", default=None, metavar="A:B", help="layers A..B-1 for {L} in --sae ids")
    p.add_argument("--sae-path", action="append", default=[], type=Path, metavar="DIR",
                   help="a saved sae_lens SAE (repeatable)")
    p.add_argument("--residual-threshold", type=float, default=0.5,
                   help="cut the chain where the residual link's cosine is below this (default: %(default)s)")
    p.add_argument("--module-threshold", type=float, default=0.15,
                   help="keep MLP / attention nodes at or above this cosine (default: %(default)s)")
    p.add_argument("--direction", choices=["both", "backward", "forward"], default="both")
    p.add_argument("--json", type=Path, help="write the graph as circuit-tracer / Neuronpedia attribution-graph JSON")
    p.add_argument("--html", type=Path, help="write an interactive plotly figure")
    p.add_argument("--labels", type=Path, help="labels.jsonl of `sae-gd-labeler label` runs, shown on the nodes")
    p.add_argument("--label", action="store_true", help="label every node now (needs the SAEs' model and corpus)")
    p.add_argument("--firing-threshold", type=float, default=0.0,
                   help="with --label / --deactivation: a feature fires above this activation (default: %(default)s)")
    p.add_argument("--deactivation", action="store_true",
                   help="run the deactivation check on every edge into a residual node (needs model and corpus)")
    p.add_argument("--max-tokens", type=int, default=50_000, help="corpus tokens for --deactivation")
    p.add_argument("--model", default=None, help="the subject model (default: the SAEs' model_name)")
    p.add_argument("--dataset", default=None, help="the corpus (default: the SAEs' dataset_path)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    return p


def run_flow(args) -> int:
    try:
        hook, index = parse_feature(args.feature)
        sae_specs = expand_sae_specs(args.sae, args.layers)
        if args.toy_world == bool(sae_specs or args.sae_path):
            raise ValueError("give either --toy-world or SAEs (--sae RELEASE:SAE_ID / --sae-path DIR), not both")
        for name in ("residual_threshold", "module_threshold"):
            if not -1.0 <= getattr(args, name) <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be a cosine in [-1, 1], got {getattr(args, name)}")
        labels = read_labels(args.labels) if args.labels else None
        if sae_specs:
            from sae_gd_labeler.runs.sources import check_release

            for release, sae_id in sae_specs:
                check_release(release, sae_id)
        return _run(args, hook, index, sae_specs, labels)
    except (ValueError, FileNotFoundError) as e:
        sys.stderr.write(f"sae-gd-labeler flow: error: {e}\n")
        return 2


def parse_feature(text: str) -> tuple[str, int]:
    hook, sep, index = text.rpartition(":")
    if not sep or not hook or not index.isdigit():
        raise ValueError(f"--feature {text!r}: expected HOOK:INDEX, e.g. blocks.1.hook_resid_post:459")
    return hook, int(index)


def expand_sae_specs(specs: list[str], layers: str | None) -> list[tuple[str, str]]:
    out = []
    span = None
    if layers is not None:
        a, sep, b = layers.partition(":")
        if not sep or not a.isdigit() or not b.isdigit() or int(a) >= int(b):
            raise ValueError(f"--layers {layers!r}: expected A:B with A < B, e.g. 10:14")
        span = range(int(a), int(b))
    for spec in specs:
        release, sep, sae_id = spec.partition(":")
        if not sep or not release or not sae_id:
            raise ValueError(f"--sae {spec!r}: expected RELEASE:SAE_ID, e.g. gpt2-small-res-jb:blocks.8.hook_resid_pre")
        if "{L}" in sae_id:
            if span is None:
                raise ValueError(f"--sae {spec!r} has {{L}}: give --layers A:B")
            out += [(release, sae_id.replace("{L}", str(layer))) for layer in span]
        else:
            out.append((release, sae_id))
    return out


def read_labels(path: Path) -> dict:
    """{(hook_name, feature): record} from JSON lines with `hook_name`, `feature` and `label`."""
    labels = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if "hook_name" not in rec or "feature" not in rec:
            raise ValueError(f"{path}:{n}: a label record needs hook_name and feature (labels.jsonl of a label run)")
        labels[(rec["hook_name"], int(rec["feature"]))] = rec
    return labels


def _run(args, hook, index, sae_specs, labels) -> int:
    from sae_gd_labeler.flow.export import write_attribution_graph
    from sae_gd_labeler.flow.graph import flow_graph
    from sae_gd_labeler.flow.labels import node_label
    from sae_gd_labeler.flow.plot import plot_flow_graph

    saes, model, dataset, world = _load(args, sae_specs)
    graph = flow_graph(saes, (hook, index), residual_threshold=args.residual_threshold,
                       module_threshold=args.module_threshold, backward=args.direction != "forward",
                       forward=args.direction != "backward")
    if args.label:
        _label(graph, saes, model, dataset, world, args)
    out = sys.stdout
    out.write(f"flow graph of {hook} #{index}: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges\n")
    for node, d in sorted(graph.nodes(data=True), key=lambda nd: (nd[1]["position"], nd[1]["kind"])):
        label, score = node_label(graph, node, labels)
        shown = f"  {label!r}" + (f" (held-out bal. acc. {score:.2f})" if score is not None else "") if label else ""
        cuts = "".join(f"  [{k.replace('_', ' ')} at {d[k]:.2f}]" for k in ("cut_backward", "cut_forward") if k in d)
        out.write(f"  {d['hook_name']:28s} #{d['feature']:<6d}{shown}{cuts}\n")
    for u, v, e in sorted(graph.edges(data=True), key=lambda x: graph.nodes[x[1]]["position"]):
        out.write(f"  {u[0]} #{u[1]} -> {v[0]} #{v[1]}  cosine {e['weight']:.3f}\n")
    if args.deactivation:
        _deactivation(graph, saes, model, dataset, args, out)
    if args.json:
        write_attribution_graph(graph, args.json, labels)
        out.write(f"wrote {args.json}\n")
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        plot_flow_graph(graph, labels).write_html(str(args.html), include_plotlyjs=True)
        out.write(f"wrote {args.html}\n")
    return 0


def _load(args, sae_specs):
    """(saes by hook, model or None, dataset or None, toy world or None); models load only when needed."""
    need_model = args.label or args.deactivation
    if args.toy_world:
        from sae_gd_labeler.toyworld import load_toy_world

        world = load_toy_world()
        return world.saes, world.model, world.corpus, world
    from sae_gd_labeler.runs.sources import load_saes, saes_model

    saes = load_saes(sae_specs, args.sae_path, args.device, args.dtype)
    model = dataset = None
    if need_model:
        model = saes_model(saes, args.model, args.device, args.dtype)
        meta = next(iter(saes.values())).cfg.metadata
        dataset = args.dataset or meta.dataset_path
        if dataset is None:
            raise ValueError("the SAEs name no dataset_path: give --dataset")
    return saes, model, dataset, None


def _label(graph, saes, model, dataset, world, args) -> None:
    from sae_gd_labeler.data.activations import ActivationConfig
    from sae_gd_labeler.flow.labeling import label_flow_graph
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.search.config import LabelerConfig

    disc = Discriminator(world.model, world.template) if world is not None else None
    label_flow_graph(graph, saes, disc, model=model, dataset=dataset,
                     example_fn=world.within_sentence if world is not None else None,
                     activation_config=ActivationConfig(firing_threshold=args.firing_threshold),
                     config=LabelerConfig(activation_threshold=args.firing_threshold))


def _deactivation(graph, saes, model, dataset, args, out) -> None:
    from sae_gd_labeler.flow.deactivation import deactivation_check, summarize

    edges = [(u, v) for u, v in graph.edges if graph.nodes[v]["kind"] == "resid"]
    pairs = [(saes[v[0]], v[1], saes[u[0]], u[1]) for u, v in edges]
    if not pairs:
        out.write("deactivation: no edge into a residual node\n")
        return
    results = deactivation_check(model, pairs, dataset, max_tokens=args.max_tokens,
                                 firing_threshold=args.firing_threshold)
    out.write("deactivation (remove the source where the target fires; target's relative drop, success = drop "
              ">= 0.5):\n")
    for r in results:
        out.write(f"  {r.predecessor[0]} #{r.predecessor[1]} -> {r.target[0]} #{r.target[1]}: "
                  f"{r.n_occurrences} occurrences, mean drop {r.mean_relative_change:.2f}, success "
                  f"{r.success_rate:.0%}, switched off {r.off_rate:.0%}, source active {r.active_rate:.0%}\n")
    s = summarize(results)
    out.write(f"  mean over {s['n_pairs']} edges: drop {s['mean_relative_change']:.2f}, success "
              f"{s['success_rate']:.0%}\n")
    # each residual node's sources removed together
    groups = defaultdict(list)
    for u, v in edges:
        groups[v].append((saes[u[0]], u[1]))
    joint = [(saes[v[0]], v[1], preds) for v, preds in groups.items() if len(preds) > 1]
    for r in deactivation_check(model, joint, dataset, max_tokens=args.max_tokens,
                                firing_threshold=args.firing_threshold) if joint else []:
        out.write(f"  all {len(r.predecessors)} sources -> {r.target[0]} #{r.target[1]} together: mean drop "
                  f"{r.mean_relative_change:.2f}, success {r.success_rate:.0%}, switched off {r.off_rate:.0%}\n")
