"""Label every node of a flow graph with the labeler, one batched call per SAE, and attach the labels.

    labels = label_flow_graph(graph, world.saes, model=world.model, dataset=world.corpus,
                              example_fn=world.within_sentence)
    graph.nodes[("blocks.1.hook_resid_post", 459)]["label"]      # "body"

Each node gets `label` (None when the feature could not be labeled), `label_status` (FeatureLabel.status) and
`heldout_balanced_accuracy`, which `to_attribution_graph` and `plot_flow_graph` show; the full FeatureLabels
come back keyed by node, `(hook_name, feature)`.
"""

from __future__ import annotations

from collections import defaultdict

from sae_gd_labeler.sae_labeling import label_features


def label_flow_graph(graph, saes, discriminator=None, *, model=None, dataset=None, config=None,
                     activation_config=None, sampling=None, example_fn=None, baselines: bool = False) -> dict:
    """Label the graph's nodes (see the module docstring); the keyword arguments are `label_features`'s.
    `saes` maps hook names to SAEs; `discriminator` None uses the subject model."""
    by_hook = defaultdict(list)
    for hook, feature in graph.nodes:
        by_hook[hook].append(feature)
    missing = sorted(h for h in by_hook if h not in saes)
    if missing:
        raise ValueError(f"no SAE given for the graph's hooks {missing}")
    labels = {}
    for hook, features in sorted(by_hook.items()):
        results = label_features(saes[hook], sorted(features), model=model, discriminator=discriminator,
                                 dataset=dataset, config=config, activation_config=activation_config,
                                 sampling=sampling, example_fn=example_fn, baselines=baselines)
        for lab in results:
            node = (hook, int(lab.feature))
            labels[node] = lab
            score = lab.metrics.get("balanced_accuracy")
            graph.nodes[node].update(label=lab.label, label_status=lab.status, heldout_balanced_accuracy=score)
    return labels
