"""The ground-truth toy world: a taxonomy, a corpus grammar, a tiny trained discriminator and its SAEs.

`load_toy_world()` loads the world shipped in `toyworld/data/`; `python -m sae_gd_labeler.toyworld.train --out DIR
--compounds` rebuilds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sae_gd_labeler.toyworld.world import ToyWorld, load_toy_world

__all__ = ["ToyWorld", "load_toy_world"]


def __getattr__(name: str):
    # lazy: importing the tokenizer or the taxonomy alone should not pull in sae_lens
    if name in __all__:
        from sae_gd_labeler.toyworld import world

        return getattr(world, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
