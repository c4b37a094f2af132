"""The package's imports run one way: primitives <- methods <- harness <- use <- face.

Reads every module of `tfgen` with `ast` (nothing is imported), resolves its
imports of other tfgen modules, the ones inside functions included, and
checks the rules of the README's "Layout" section:

* no module imports one of a higher layer;
* a method never imports another method's folder, except the methods built
  on one another (LR-GAN is DCGAN with layers);
* no import circle, inside functions or not;
* an import inside a function is there for start-up time only and says so:
  a comment on the line, or above it within its block of imports.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Dict, List, Set, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tfgen"

# Layer of each module, by its first matching prefix (longest first).
LAYERS = {
    "foundation": 0, "primitives": 1, "methods": 2, "harness": 3, "use": 4, "face": 5,
}
PREFIXES = {
    "tfgen._lazy": "foundation",
    "tfgen.errors": "foundation",
    "tfgen.progress": "foundation",
    "tfgen.data.locations": "foundation",
    "tfgen.experiments": "foundation",
    "tfgen.config": "foundation",
    "tfgen.pretrained": "foundation",
    "tfgen.data": "primitives",
    "tfgen.layers": "primitives",
    "tfgen.losses": "primitives",
    "tfgen.ops": "primitives",
    "tfgen.sampling": "primitives",
    "tfgen.viz": "primitives",
    "tfgen.cache": "primitives",
    "tfgen.classifiers": "primitives",
    "tfgen.metrics": "primitives",
    "tfgen.models": "methods",
    "tfgen.training": "harness",
    "tfgen.evaluation": "use",
    "tfgen.export": "use",
    "tfgen.cli": "face",
    "tfgen.__main__": "face",
    "tfgen": "face",
}
# A method folder may use these other method folders (built on them).
METHOD_BASES = {"lrgan": {"dcgan"}}
PACKAGE_FACE = "tfgen"  # tfgen/__init__.py hands on names lazily from every layer


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> Dict[str, pathlib.Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _layer(module: str) -> str:
    for prefix in sorted(PREFIXES, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return PREFIXES[prefix]
    raise AssertionError(f"{module}: no layer assigned (add it to PREFIXES and to the README's Layout)")


def _comment_context(lines: List[str], node) -> str:
    """The import's own lines and the lines of its block above it, up to the enclosing def or a statement."""
    above = []
    for text in reversed(lines[max(0, node.lineno - 8):node.lineno - 1]):
        stripped = text.strip()
        if stripped.startswith(("def ", "async def ", "class ")):
            break
        above.append(text)
        if stripped and not stripped.startswith(("#", "from ", "import ", ")")) and not stripped.endswith(","):
            break  # a statement: the comment must sit between it and the import
    return "\n".join(list(reversed(above)) + lines[node.lineno - 1:node.end_lineno])


def _imports(modules) -> List[Tuple[str, str, int, bool, str]]:
    """(importer, imported module, line, inside a function, source lines) for every tfgen import."""
    found = []
    for name, path in modules.items():
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        is_package = path.name == "__init__.py"
        nested = set()
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nested.update(id(n) for n in ast.walk(func))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    package = ".".join(base + ([node.module] if node.module else []))
                else:
                    package = node.module or ""
                targets = [f"{package}.{a.name}" if f"{package}.{a.name}" in modules else package
                           for a in node.names]
            else:
                continue
            context = _comment_context(lines, node)
            for target in targets:
                if target == "tfgen" or target.startswith("tfgen."):
                    while target not in modules and "." in target:
                        target = target.rsplit(".", 1)[0]
                    found.append((name, target, node.lineno, id(node) in nested, context))
    return found


MODULES = _modules()
IMPORTS = _imports(MODULES)


def _method(module: str):
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "models" else None


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_no_import_runs_back_up():
    back = []
    for importer, imported, line, _, _ in IMPORTS:
        if importer == PACKAGE_FACE:
            continue
        if LAYERS[_layer(imported)] > LAYERS[_layer(importer)]:
            back.append(f"{MODULES[importer].relative_to(ROOT.parent)}:{line} ({_layer(importer)}) imports "
                        f"{imported} ({_layer(imported)})")
    assert not back, "imports from a lower layer to a higher one:\n" + "\n".join(back)


def test_methods_do_not_reach_into_each_other():
    crossing = []
    for importer, imported, line, _, _ in IMPORTS:
        ours, theirs = _method(importer), _method(imported)
        if ours and theirs and ours != theirs and theirs not in METHOD_BASES.get(ours, set()):
            crossing.append(f"{MODULES[importer].relative_to(ROOT.parent)}:{line} imports {imported}")
    assert not crossing, "a method imports another method's folder:\n" + "\n".join(crossing)


def _cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    # Tarjan's strongly connected components; every component of more than one module is a circle.
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _edges(imports) -> Dict[str, Set[str]]:
    edges: Dict[str, Set[str]] = {}
    for importer, imported, _, _, _ in imports:
        if importer == imported or importer == PACKAGE_FACE:
            continue
        # A package's __init__ that re-exports its own modules is not a circle with them.
        if imported == importer.rsplit(".", 1)[0] and MODULES[imported].name == "__init__.py":
            continue
        edges.setdefault(importer, set()).add(imported)
    return edges


def test_no_import_circle():
    circles = _cycles(_edges(IMPORTS))
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_lazy_imports_say_why():
    silent = [f"{MODULES[importer].relative_to(ROOT.parent)}:{line} imports {imported}"
              for importer, imported, line, nested, context in IMPORTS
              if nested and "#" not in context]
    assert not silent, ("imports inside functions without a comment saying why (start-up time):\n"
                        + "\n".join(silent))


@pytest.mark.parametrize("rule", ["back", "circle"])
def test_the_checks_can_fail(rule):
    # The checks above catch what they claim to: a made-up back-edge and circle are reported.
    if rule == "back":
        assert LAYERS[_layer("tfgen.evaluation.report")] > LAYERS[_layer("tfgen.models.hali.model")]
    else:
        assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
