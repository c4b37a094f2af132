"""Where the tests find the repository and their own helpers, wherever a test file sits under tests/."""

import os

TESTS = os.path.dirname(os.path.abspath(__file__))  # tests/: helper scripts and fixtures
REPO = os.path.dirname(TESTS)  # the checkout: README, configs, tools


def load_tool(name: str, module_name: str = None):
    """tools/<name>.py loaded as a module (tools/ is not a package), under `module_name`
    (default tfgen_tools_<name>; a new name loads a fresh copy)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name or f"tfgen_tools_{name}",
                                                  os.path.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
