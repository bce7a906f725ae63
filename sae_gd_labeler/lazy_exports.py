"""Public names of a package that load on first use (PEP 562): `import sae_gd_labeler` and the command line's
argument parsing then cost no torch, TransformerLens or sae_lens import, and packages whose modules import one
another need no import order.

    __getattr__, __dir__ = lazy_exports(__name__, {"label_features": "sae_labeling", ...})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable, Callable]:
    """`names`: public name -> the submodule of `package` that defines it. Returns the package's module-level
    `__getattr__` and `__dir__`; a loaded name is stored in the package, so later lookups skip the function."""

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
