"""Names of a package imported on first use (PEP 562), so that importing the package stays cheap.

A package lists `name -> module` and gets its `__getattr__` and `__dir__`::

    __getattr__, __dir__ = lazy_attributes(__name__, {"train": "tfgen.training.runner"})

The first look-up imports the module and stores the value in the package,
so later ones are plain attribute reads.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Dict, Tuple


def lazy_attributes(package: str, exports: Dict[str, str]) -> Tuple[Callable, Callable]:
    """(`__getattr__`, `__dir__`) for `package`, resolving `exports` on first use."""

    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
