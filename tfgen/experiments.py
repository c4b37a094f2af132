"""The experiment configs that ship with tfgen, addressable by name.

Every file `configs/<method>/<name>.yaml` of the source tree is installed
inside the package (`tfgen/configs/`), so after any install, from any
directory, `tfgen train dcgan/multidigit_one` finds it. A path to a YAML
file works as well; a path of the form `[configs/]<method>/<name>.yaml`
that does not exist where the command runs falls back to the installed
config of that name (the README's commands work outside a checkout).

Free of TensorFlow: names are resolved, and a wrong one refused, at once.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import List, NamedTuple, Optional

from tfgen.errors import ConfigError

CONFIG_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


class Experiment(NamedTuple):
    """A resolved config: its file, and the default work directory `runs/<method>/<name>`."""

    path: str
    method: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.method}/{self.name}"

    @property
    def default_workdir(self) -> str:
        return os.path.join("runs", self.method, self.name)


def methods() -> List[str]:
    """The method folders of the installed configs, sorted."""
    if not os.path.isdir(CONFIG_ROOT):
        return []
    return sorted(d for d in os.listdir(CONFIG_ROOT) if os.path.isdir(os.path.join(CONFIG_ROOT, d))
                  and not d.startswith(("_", ".")))


def installed(method: Optional[str] = None) -> List[Experiment]:
    """Every installed config (of one method folder), sorted by method then name."""
    found = []
    for m in ([method] if method else methods()):
        folder = os.path.join(CONFIG_ROOT, m)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            stem, ext = os.path.splitext(file)
            if ext == ".yaml":
                found.append(Experiment(os.path.join(folder, file), m, stem))
    return found


def describe(path: str) -> str:
    """The first sentence of a config's leading comment block (empty if it has none)."""
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if not stripped.startswith("#"):
                break
            lines.append(stripped.lstrip("#").strip())
    text = " ".join(t for t in lines if t)
    # A sentence ends at ". " before a capital letter, not after an abbreviation (Fig. 6, et al. 2016).
    match = _SENTENCE_END.search(text)
    return text[:match.start() + 1] if match else text


_SENTENCE_END = re.compile(r"(?<!\bFig)(?<!\bEq)(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bcf)\.(\s+(?=[A-Z])|$)")


def resolve(spec: str) -> Experiment:
    """Turns a command-line config argument into an `Experiment`.

    Args:
      spec: a path to a YAML file, or `<method>/<name>` (`.yaml` optional) of
        an installed config.

    Raises:
      ConfigError: neither a file nor an installed config; the message names
        the closest installed configs (or, for a bare method, its configs).
    """
    if os.path.isfile(spec):
        path = os.path.abspath(spec)
        method = os.path.basename(os.path.dirname(path))
        return Experiment(spec, method, os.path.splitext(os.path.basename(path))[0])
    parts = [p for p in spec.replace("\\", "/").split("/") if p]
    if parts and parts[-1].endswith(".yaml"):
        parts[-1] = parts[-1][:-len(".yaml")]
    if len(parts) >= 2:
        candidate = os.path.join(CONFIG_ROOT, parts[-2], parts[-1] + ".yaml")
        # A bare method/name, or a source-tree path (configs/<method>/<name>.yaml) used outside the checkout.
        if os.path.isfile(candidate) and (len(parts) == 2 or parts[-3] == "configs"):
            return Experiment(candidate, parts[-2], parts[-1])
    known = [e.key for e in installed()]
    if len(parts) == 1 and parts[0] in methods():
        names = ", ".join(e.key for e in installed(parts[0]))
        raise ConfigError(f"{spec}: is a method, not a config; choose one of {names} "
                          f"(`tfgen configs {parts[0]}` describes them)")
    wanted = "/".join(parts[-2:]) if parts else spec
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; `tfgen configs` lists the installed ones"
    raise ConfigError(f"{spec}: config file not found (neither a file nor an installed config){hint}")
