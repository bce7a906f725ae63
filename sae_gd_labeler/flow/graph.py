"""Flow graphs: chain a feature's top-1 links backward and forward over every layer that has SAEs.

    graph = flow_graph(saes, ("blocks.12.hook_resid_post", 4111))   # networkx.DiGraph
    for (src, dst, data) in graph.edges(data=True): print(src, "->", dst, data["weight"])

`saes` maps hook names to SAEs (as `world.saes` does) or is a list of SAEs. Nodes are `(hook_name, feature)`
with attributes `hook_name`, `feature`, `layer`, `kind` ("resid" / "mlp" / "attn"), `position` (on the
residual line, see flow.sites); edges run from source to destination (earlier to later) with `weight`, the
decoder cosine. Backward from a residual node: its top-1 match in the residual one step earlier (kept and
followed when >= `residual_threshold`), and in the MLP / attention output of the block in between (kept when
>= `module_threshold`, not followed: a module's input is a different space). Forward: the residual one step
later's best match of the node, kept and followed when >= `residual_threshold`, with its module links.
The paper's values: 0.5 and 0.15 (Laptev et al. 2025, steering section). A link below the threshold is
not an edge; where a chain was cut, the node's `cut_backward` / `cut_forward` attribute holds the score.
"""

from __future__ import annotations

import networkx as nx

from sae_gd_labeler.flow.matching import match
from sae_gd_labeler.flow.sites import Site, check_residual


class SiteIndex:
    """The given SAEs by site: residual SAEs by position, module SAEs by (kind, position)."""

    def __init__(self, saes):
        items = list(saes.values()) if isinstance(saes, dict) else list(saes)
        if isinstance(saes, dict):
            for name, sae in saes.items():
                if sae.cfg.metadata.hook_name != name:
                    raise ValueError(f"saes[{name!r}] is an SAE at {sae.cfg.metadata.hook_name!r}: the keys must be "
                                     "the SAEs' own hook names")
        self.by_hook = {}
        self.residual = {}  # position -> SAE
        self.modules = {}  # (kind, position) -> SAE
        for sae in items:
            site = Site.of_sae(sae)
            if site.hook_name in self.by_hook:
                raise ValueError(f"two SAEs at {site.hook_name!r}: give one SAE per hook")
            self.by_hook[site.hook_name] = sae
            if site.kind == "resid":
                slot, key = self.residual, site.position
            else:
                slot, key = self.modules, (site.kind, site.position)
            if key in slot:
                other = Site.of_sae(slot[key]).hook_name
                raise ValueError(f"{site.hook_name!r} and {other!r} are the same point of the residual stream: "
                                 "give one of them")
            slot[key] = sae

    def sae(self, hook_name: str):
        if hook_name not in self.by_hook:
            raise ValueError(f"no SAE at hook {hook_name!r}; given: {sorted(self.by_hook)}")
        return self.by_hook[hook_name]

    def modules_into(self, position: float) -> list:
        """Module SAEs whose outputs are added in (position - 1, position]."""
        return [sae for (_, p), sae in sorted(self.modules.items()) if position - 1 < p <= position]


def flow_graph(saes, feature: tuple[str, int], *, residual_threshold: float = 0.5, module_threshold: float = 0.15,
               backward: bool = True, forward: bool = True, block_size: int = 4096) -> nx.DiGraph:
    """The flow graph of residual feature `feature = (hook_name, index)` over the given SAEs."""
    index = SiteIndex(saes)
    hook, f = feature
    start = index.sae(hook)
    check_residual(Site.of(hook), "start feature's")
    if not 0 <= int(f) < start.cfg.d_sae:
        raise ValueError(f"feature {f} is outside [0, {start.cfg.d_sae}) for the SAE at {hook!r}")
    graph = nx.DiGraph(target=(hook, int(f)), residual_threshold=residual_threshold,
                       module_threshold=module_threshold)
    node = _add_node(graph, start, int(f))
    _add_module_links(graph, index, start, node, module_threshold, block_size)

    if backward:
        _chain(graph, index, start, node, -1, residual_threshold, module_threshold, block_size)
    if forward:
        _chain(graph, index, start, node, +1, residual_threshold, module_threshold, block_size)
    return graph


def _chain(graph: nx.DiGraph, index: SiteIndex, sae, node, step: int, residual_threshold: float,
           module_threshold: float, block_size: int) -> None:
    """Follow the top-1 residual link one position at a time (step -1: backward to the previous residual,
    +1: forward to the next) while it holds, each new node with its own module links; where the link falls
    below the threshold, the last node records the score that cut the chain."""
    while (other := index.residual.get(Site.of_sae(sae).position + step)) is not None:
        idx, score = match(sae, other, k=1, features=[node[1]], block_size=block_size)  # [1, 1] each
        j, s = int(idx[0, 0]), float(score[0, 0])
        if s < residual_threshold:
            graph.nodes[node]["cut_backward" if step < 0 else "cut_forward"] = s
            return
        new = _add_node(graph, other, j)
        source, target = (new, node) if step < 0 else (node, new)
        graph.add_edge(source, target, weight=s, kind="resid")
        _add_module_links(graph, index, other, new, module_threshold, block_size)
        sae, node = other, new


def _add_node(graph: nx.DiGraph, sae, feature: int) -> tuple[str, int]:
    site = Site.of_sae(sae)
    node = (site.hook_name, int(feature))
    if node not in graph:
        graph.add_node(node, hook_name=site.hook_name, feature=int(feature), layer=site.layer, kind=site.kind,
                       position=site.position)
    return node


def _add_module_links(graph, index: SiteIndex, sae, node, threshold: float, block_size: int) -> None:
    """Edges from the MLP / attention features that write the residual node's direction (top-1 each)."""
    for module in index.modules_into(Site.of_sae(sae).position):
        idx, score = match(sae, module, k=1, features=[node[1]], block_size=block_size)  # [1, 1] each
        s = float(score[0, 0])
        if s >= threshold:
            src = _add_node(graph, module, int(idx[0, 0]))
            graph.add_edge(src, node, weight=s, kind=Site.of_sae(module).kind)


def residual_chain(graph: nx.DiGraph) -> list[tuple[str, int]]:
    """The graph's residual nodes from the earliest layer to the latest."""
    nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == "resid"]
    return sorted(nodes, key=lambda n: graph.nodes[n]["position"])
