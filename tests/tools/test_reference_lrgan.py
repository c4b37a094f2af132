"""tools/reference_lrgan.py without PyTorch: the AST extraction, the name checks and the one-line errors.

None of these need torch (CI has none): they cover what the loader does
before it imports torch, and that it refuses clearly when torch is missing.
"""

import builtins
import os
import sys
import textwrap

import pytest
from repo_paths import REPO, load_tool

REFERENCE = os.path.join(REPO, "tools", "reference_lrgan.py")

# A train.py shaped like theirs: imports, argument parsing and training at
# top level, around the definitions the loader lifts out.
FAKE_TRAIN_PY = textwrap.dedent('''\
    import argparse
    import torch
    import torch.nn as nn
    from modules.stnm import STNM
    parser = argparse.ArgumentParser()
    opt = parser.parse_args()
    nz = int(opt.nz)
    raise SystemExit("train.py's top level ran")

    def weights_init(m):
        classname = m.__class__.__name__
        return classname

    class _netG(nn.Module):
        def __init__(self, ngpu, nsize):
            super(_netG, self).__init__()
            self.scale = opt.maxobjscale
            self.compositor = STNM()

        def forward(self, input):
            hx = Variable(torch.zeros(input.size()[1], nz).cuda())
            return [hx for _ in range(ntimestep)]

    netG = _netG(1, 32)

    class _netD(nn.Module):
        def forward(self, input):
            return input.view(-1, 1)

    netD = _netD(1, 32)
    for epoch in range(opt.niter):
        pass
    ''')


@pytest.fixture(scope="module")
def ref():
    return load_tool("reference_lrgan")


def write_checkout(folder, source=FAKE_TRAIN_PY):
    folder.mkdir(exist_ok=True)
    (folder / "train.py").write_text(source)
    return str(folder)


SHAPE = {"image_size": 32, "channels": 3, "timesteps": 2}


def test_module_loads_without_torch(ref, monkeypatch):
    """Importing the module must not import torch (benchmark.py loads it whether or not the mode is used)."""
    monkeypatch.setitem(sys.modules, "torch", None)
    module = load_tool("reference_lrgan", "tfgen_tools_reference_lrgan_no_torch")
    assert module.ReferenceUnavailable is not None


def test_missing_torch_is_a_one_line_error(ref, tmp_path, monkeypatch):
    checkout = write_checkout(tmp_path / "lr-gan.pytorch")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(ref.ReferenceUnavailable) as err:
        ref.load_reference_classes(checkout, **SHAPE)
    message = str(err.value)
    assert message == "--vs-reference needs PyTorch (pip install torch)"
    assert "\n" not in message
    with pytest.raises(ref.ReferenceUnavailable, match="PyTorch"):  # the timing class refuses the same way
        ref.ReferenceLRGAN(checkout, (32, 32, 3), 2, 64)


def test_triton_is_kept_out_of_a_process_running_tensorflow(ref, tmp_path, monkeypatch):
    """CUDA builds of torch import Triton, whose LLVM crashes a process that already loaded TensorFlow's."""
    seen = {}

    class FakeTorch:  # what torch does with Triton: try it, fall back to no Triton on ImportError
        def __init__(self):
            try:
                import triton  # noqa: F401
                seen["triton"] = True
            except ImportError:
                seen["triton"] = False

    (tmp_path / "triton").mkdir()  # an installed Triton, found on the path
    (tmp_path / "triton" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow") or object())
    monkeypatch.delitem(sys.modules, "triton", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch":
            sys.modules["torch"] = FakeTorch()
            return sys.modules["torch"]
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert isinstance(ref._import_torch(), FakeTorch)
    assert seen == {"triton": False}
    assert sys.modules["triton"] is None

    # Without TensorFlow loaded, Triton is left alone.
    seen.clear()
    monkeypatch.delitem(sys.modules, "tensorflow")
    monkeypatch.delitem(sys.modules, "triton")
    monkeypatch.delitem(sys.modules, "torch")
    ref._import_torch()
    assert seen == {"triton": True}


def test_checkout_without_train_py_names_the_path(ref, tmp_path):
    empty = tmp_path / "not-lr-gan"
    empty.mkdir()
    with pytest.raises(ref.ReferenceUnavailable) as err:
        ref.load_reference_classes(str(empty), **SHAPE)
    message = str(err.value)
    assert str(empty) in message and "train.py" in message
    assert "\n" not in message
    with pytest.raises(ref.ReferenceUnavailable, match="not found") as err:
        ref.load_reference_classes(str(tmp_path / "missing"), **SHAPE)
    assert str(tmp_path / "missing") in str(err.value)


def test_extracts_only_the_named_definitions(ref):
    code = ref.extract_definitions(FAKE_TRAIN_PY, ["_netG", "_netD", "weights_init"])
    # Verbatim and in file order.
    assert code.index("def weights_init(m):") < code.index("class _netG(nn.Module):") < code.index("class _netD")
    assert "    def forward(self, input):\n        return input.view(-1, 1)\n" in code
    # None of the top level: no imports, parsing, raise, instances or loop.
    for line in ("import", "parse_args", "raise SystemExit", "netG = _netG", "netD = _netD", "for epoch"):
        assert line not in code
    # Executing it defines exactly the three names and runs nothing of the script.
    namespace = {"nn": type("nn", (), {"Module": object})}
    exec(code, namespace)
    assert {k for k in namespace if not k.startswith("__")} == {"nn", "_netG", "_netD", "weights_init"}
    assert namespace["weights_init"](1.5) == "float"
    # Only what was asked for.
    only_d = ref.extract_definitions(FAKE_TRAIN_PY, ["_netD"])
    assert only_d.startswith("class _netD(nn.Module):") and "_netG" not in only_d and "weights_init" not in only_d


def test_extraction_keeps_decorators_skips_nested_and_keeps_the_last_definition(ref):
    source = textwrap.dedent('''\
        import functools

        def outer():
            class _netG:  # nested: not a top-level definition
                pass

        class _netG:
            version = 1

        @functools.lru_cache(maxsize=None)
        def helper():
            return 2

        class _netG:
            version = 2
        ''')
    code = ref.extract_definitions(source, ["_netG", "helper"])
    assert code.startswith("@functools.lru_cache(maxsize=None)\ndef helper():")
    assert "version = 2" in code and "version = 1" not in code and "def outer" not in code


def test_missing_definition_names_what_was_looked_for(ref, tmp_path):
    with pytest.raises(ref.ReferenceUnavailable) as err:
        ref.extract_definitions("class _netG:\n    pass\n", ["_netG", "_netD"], filename="x/train.py")
    assert str(err.value) == "x/train.py has no top-level definition of _netD (looked for: _netG, _netD)"
    checkout = write_checkout(tmp_path / "other-gan", "class Generator:\n    pass\n")
    with pytest.raises(ref.ReferenceUnavailable) as err:
        ref.load_reference_classes(checkout, **SHAPE)
    message = str(err.value)
    assert "_netG, _netD" in message and os.path.join(checkout, "train.py") in message and "\n" not in message


def test_unparsable_train_py_is_a_one_line_error(ref, tmp_path):
    checkout = write_checkout(tmp_path / "py2", "print 'hello'\nclass _netG: pass\n")
    with pytest.raises(ref.ReferenceUnavailable, match="cannot parse") as err:
        ref.load_reference_classes(checkout, **SHAPE)
    assert "\n" not in str(err.value)


def test_global_names_and_opt_options_read_by_the_classes(ref):
    code = ref.extract_definitions(FAKE_TRAIN_PY, ["_netG", "_netD"])
    assert ref.global_names(code) - set(dir(builtins)) == {"nn", "opt", "STNM", "Variable", "torch", "nz", "ntimestep"}
    assert ref.opt_attributes(code) == {"maxobjscale"}


def test_classes_needing_unsupplied_names_are_refused_before_torch(ref, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # the check comes first: no torch needed to see it
    source = FAKE_TRAIN_PY.replace("return input.view(-1, 1)", "return input.view(-1, 1) * opt.temperature")
    with pytest.raises(ref.ReferenceUnavailable, match=r"options .* not supply: opt\.temperature$"):
        ref.load_reference_classes(write_checkout(tmp_path / "a", source), **SHAPE)
    source = FAKE_TRAIN_PY.replace("self.compositor = STNM()", "self.compositor = STNM3D(checkfreq)")
    with pytest.raises(ref.ReferenceUnavailable, match=r"names .* not supply: STNM3D, checkfreq$"):
        ref.load_reference_classes(write_checkout(tmp_path / "b", source), **SHAPE)
