"""Every name a package lists in `__all__` resolves (the lazy ones included), after the layout moved modules."""

import importlib

import pytest

PACKAGES = ["tfgen", "tfgen.data", "tfgen.evaluation", "tfgen.training", "tfgen.models", "tfgen.models.dcgan",
            "tfgen.models.lrgan", "tfgen.models.aaae", "tfgen.models.hali", "tfgen.models.wframe",
            "tfgen.models.andor", "tfgen.layers", "tfgen.losses", "tfgen.ops", "tfgen.viz", "tfgen.sampling",
            "tfgen.export"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", [])
    assert exported, f"{package} exports nothing"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"
