"""Every tfgen method, looked up by name through the registry.

Importing this package is cheap: a method's module (and TensorFlow) is
imported when the method is first asked for (`get_model_class`,
`build_model`), or all at once by `load_all()`.
"""

from tfgen.models.registry import build_model, get_model_class, names


def load_all() -> None:
    """Imports (and so registers) every built-in method."""
    for name in names():
        get_model_class(name)


def __getattr__(name):
    # The base class pulls in TensorFlow: imported only when asked for.
    if name == "GenerativeModel":
        # The base class pulls in TensorFlow: imported only when asked for (start-up time).
        from tfgen.models.base import GenerativeModel

        return GenerativeModel
    raise AttributeError(f"module 'tfgen.models' has no attribute {name!r}")


__all__ = ["GenerativeModel", "build_model", "get_model_class", "load_all", "names"]
