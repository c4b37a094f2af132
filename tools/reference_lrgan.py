#!/usr/bin/env python
"""Times the LR-GAN authors' own PyTorch networks and training step, for comparison with tfgen's.

The authors' code (github.com/jwyang/lr-gan.pytorch, branch pytorch-1.0) is
read at run time from a local checkout the user names; nothing of it is
vendored here. Their `train.py` is a script (it parses arguments, loads a
data set and trains at import time), so it is not imported: `ast` lifts out
just the network classes, `_netG` and `_netD`, and runs those definitions in
a namespace that supplies what the script's top level would have defined
(`opt`, `nz`, `ngf`, `ndf`, `nc`, `nsize`, `ntimestep`, `rot`, ...).

What cannot run on a current CPU-only PyTorch is stood in for:

* `STNM`, their compositor, by a module doing what their pytorch-1.0
  `modules/stnm.py` does (`grid_sample` of mask and appearance with their
  `affine_grid` grid, pasted as mask * fg + (1 - mask) * canvas, NCHW).
  Their `modules/` package is not imported: `modules/gridgen.py` needs
  pyximport and the compiled `_ext` of PyTorch 0.x.
* `AffineGridGen`, constructed in `_netG.__init__` but no longer called by
  its forward (which calls `F.affine_grid`), by a parameter-free module.
* `F.affine_grid` / `F.grid_sample` default to align_corners=True, the only
  behaviour of the PyTorch (<= 1.2) their code was written for.
* `tensor.cuda()` (their forward allocates the LSTM state with it) returns
  the tensor itself while their code runs: everything stays on the CPU.

`ReferenceLRGAN` then runs exactly their training-loop body (train.py, the
`for i, data in enumerate(dataloader)` loop) on a fixed random batch, with
their optimizers and loss.

Usage:
    python tools/reference_lrgan.py --checkout /path/to/lr-gan.pytorch --image-size 32 --channels 3 \
        --timesteps 2 --batch 64 --steps 5 --rounds 3 [--maxobjscale 1.2] [--out runs/reference_lrgan.json]
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import functools
import json
import os
import platform
import statistics
import symtable
import sys
import threading
import time
import types
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence

GENERATOR_CLASS = "_netG"
DISCRIMINATOR_CLASS = "_netD"
# `weights_init` is not among them: train.py's `netG.apply(weights_init)` and
# `netD.apply(weights_init)` are commented out, so their nets train from
# PyTorch's default initialisation.
REFERENCE_NAMES = (GENERATOR_CLASS, DISCRIMINATOR_CLASS)

# train.py's loop constants and argparse defaults (lr, beta1) that the timing uses.
REAL_LABEL, FAKE_LABEL = 1, 0
LEARNING_RATE, BETA1, BETA2 = 0.0002, 0.5, 0.999

TORCH_MISSING = "--vs-reference needs PyTorch (pip install torch)"


class ReferenceUnavailable(RuntimeError):
    """The reference cannot be run here; the message is one line saying why."""


# -- extracting definitions from the script ------------------------------------

def _definition_nodes(source: str, names: Sequence[str], filename: str = "train.py") -> List[ast.stmt]:
    """The top-level class / function definitions called `names`, in file order.

    Only top-level statements are considered: a script's top level is what
    runs at import, and its definitions are what the rest of it calls. A
    name defined twice keeps its last definition, the one in force when the
    script's later top-level code would have used it.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        raise ReferenceUnavailable(f"cannot parse {filename} (line {e.lineno}: {e.msg}); "
                                   f"is it the pytorch-1.0 branch of lr-gan.pytorch?") from None
    wanted = set(names)
    found: Dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in wanted:
            found[node.name] = node
    missing = [n for n in names if n not in found]
    if missing:
        raise ReferenceUnavailable(f"{filename} has no top-level definition of {', '.join(missing)} "
                                   f"(looked for: {', '.join(names)})")
    return sorted(found.values(), key=lambda n: n.lineno)


def extract_definitions(source: str, names: Sequence[str], filename: str = "train.py") -> str:
    """Source text of only the named top-level class / function definitions of a script.

    Nothing else of the script is kept, so executing the result runs none of
    its top-level statements (argument parsing, data loading, training).

    Args:
      source: the script's text.
      names: the classes / functions to keep (each must be defined at top level).
      filename: the script's path, for error messages.

    Returns:
      The definitions' source, verbatim (decorators included), in file
      order, separated by blank lines.

    Raises:
      ReferenceUnavailable: the source does not parse, or a name has no
        top-level definition (the message names what was looked for).
    """
    lines = source.splitlines()
    chunks = []
    for node in _definition_nodes(source, names, filename):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        chunks.append("\n".join(lines[first - 1:node.end_lineno]))
    return "\n\n\n".join(chunks) + "\n"


def global_names(code: str, filename: str = "<extracted>") -> set:
    """Names that `code` reads from its module's globals (or builtins) without defining them itself.

    From the compiler's own scope analysis (`symtable`), so a method's
    locals, arguments and comprehension variables are not counted.
    """
    top = symtable.symtable(code, filename, "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        stack.extend(table.get_children())
        used.update(s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced())
    return used - defined


def opt_attributes(code: str) -> set:
    """The `opt.<name>` attributes `code` reads (their argparse options)."""
    return {node.attr for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "opt"}


# What the namespace supplies (see `_namespace`); checked before PyTorch is
# imported, so that a checkout whose classes need more fails with a clear
# message instead of a NameError in the middle of a forward pass.
SUPPLIED_NAMES = frozenset({"torch", "nn", "F", "Variable", "STNM", "AffineGridGen", "opt", "ngpu", "nz", "ngf",
                            "ndf", "nc", "nsize", "ntimestep", "rot", "real_label", "fake_label"})
SUPPLIED_OPT = frozenset({"imageSize", "nz", "ngf", "ndf", "ntimestep", "maxobjscale", "ngpu", "cuda", "lr", "beta1"})


# -- running their code on a CPU -----------------------------------------------

_cuda_lock = threading.Lock()
_cuda_depth = 0
_cuda_saved = None


def _tensor_stays(self, *args, **kwargs):
    return self


@contextlib.contextmanager
def cuda_calls_stay_on_cpu():
    """While active, `tensor.cuda()` returns the tensor itself (reentrant).

    Their forward pass writes `torch.zeros(batchSize, nz).cuda()`, which on a
    CPU-only PyTorch raises "Torch not compiled with CUDA enabled" (and on a
    GPU machine would put part of a CPU benchmark on the GPU). The patch is
    process-wide, so it is only in place while their code runs.
    """
    global _cuda_depth, _cuda_saved
    import torch

    with _cuda_lock:
        if _cuda_depth == 0:
            _cuda_saved = torch.Tensor.cuda
            torch.Tensor.cuda = _tensor_stays
        _cuda_depth += 1
    try:
        yield
    finally:
        with _cuda_lock:
            _cuda_depth -= 1
            if _cuda_depth == 0:
                torch.Tensor.cuda = _cuda_saved
                _cuda_saved = None


def _on_cpu(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with cuda_calls_stay_on_cpu():
            return method(*args, **kwargs)

    return wrapper


def _import_torch():
    """Imports torch for CPU timing, keeping Triton out of a process that runs TensorFlow.

    Triton is PyTorch's GPU kernel compiler. CUDA builds of torch (measured
    with 2.14.1+cu130) import it lazily (here in the first timed step,
    through torch._dynamo), and loading its native library into a process
    where TensorFlow is already loaded ends in a segmentation fault (in the
    import of Triton's native module; both bundle LLVM, the likely clash).
    CPU timing never needs it, so when TensorFlow is loaded and Triton is
    not, `import triton` is made to fail and torch runs as if it were not
    installed.
    """
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None  # an ImportError for `import triton`; torch then reports no Triton
    try:
        import torch
    except ImportError:
        raise ReferenceUnavailable(TORCH_MISSING) from None
    return torch


def _functional_as_in_2018(torch) -> types.ModuleType:
    """torch.nn.functional with PyTorch <= 1.2's sampling convention.

    Their code calls `F.affine_grid(theta, size)` with no align_corners; from
    PyTorch 1.3 that means align_corners=False (with a warning on every
    call), before it meant what is now align_corners=True. Keep theirs.
    """
    F = torch.nn.functional
    shim = types.ModuleType("torch.nn.functional", "torch.nn.functional, align_corners=True by default")
    shim.__dict__.update({k: v for k, v in vars(F).items() if not k.startswith("__")})

    def affine_grid(theta, size, align_corners=True):
        return F.affine_grid(theta, size, align_corners=align_corners)

    def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=True):
        return F.grid_sample(input, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    shim.affine_grid, shim.grid_sample = affine_grid, grid_sample
    return shim


def _stand_ins(torch, F) -> Dict[str, type]:
    """Our STNM and AffineGridGen (see the module docstring)."""

    class STNM(torch.nn.Module):
        """Their compositor: pastes a warped foreground on the canvas (NCHW tensors).

        `forward(canvas, fgimg, fggrid, fgmask)`, as `_netG.forward` calls it:
        canvas (N, C, H, W), fgimg (N, C, H, W), fggrid (N, H, W, 2) from
        `F.affine_grid`, fgmask (N, 1, H, W); returns (N, C, H, W). The same
        computation as their pytorch-1.0 `modules/stnm.py` (bilinear, zeros
        outside the source), which replaced the CUDA-only `_ext` kernel.
        """

        def forward(self, canvas, fgimg, fggrid, fgmask):
            mask = F.grid_sample(fgmask, fggrid)
            fg = F.grid_sample(fgimg, fggrid)
            return mask * fg + (1 - mask) * canvas

    class AffineGridGen(torch.nn.Module):
        """Stand-in for their Cython grid generator: built by `_netG.__init__`, never called.

        Their `_netG.forward` makes its grid with `F.affine_grid` (the old
        `self.Ggrid(...)` call is commented out). It holds no parameters,
        so parameter counts are unchanged.
        """

        def __init__(self, height, width, lr=1, aux_loss=False):
            super().__init__()
            self.height, self.width, self.lr, self.aux_loss = height, width, lr, aux_loss

        def forward(self, *args, **kwargs):
            raise NotImplementedError("AffineGridGen stand-in (tools/reference_lrgan.py): their forward no "
                                      "longer calls it; this checkout's does")

    return {"STNM": STNM, "AffineGridGen": AffineGridGen}


def _namespace(torch, *, image_size, channels, timesteps, nz, ngf, ndf, maxobjscale, rot) -> Dict[str, Any]:
    """What train.py's top level defines before its classes run, for one data set's settings."""
    F = _functional_as_in_2018(torch)
    opt = argparse.Namespace(imageSize=image_size, nz=nz, ngf=ngf, ndf=ndf, ntimestep=timesteps,
                             maxobjscale=maxobjscale, ngpu=1, cuda=False, lr=LEARNING_RATE, beta1=BETA1)
    ns = {"__name__": "lrgan_reference_train", "__builtins__": builtins,
          "torch": torch, "nn": torch.nn, "F": F, "Variable": torch.autograd.Variable,
          "opt": opt, "ngpu": 1, "nz": int(nz), "ngf": int(ngf), "ndf": int(ndf), "nc": int(channels),
          "nsize": int(image_size), "ntimestep": int(timesteps), "rot": float(rot),
          "real_label": REAL_LABEL, "fake_label": FAKE_LABEL,
          **_stand_ins(torch, F)}
    assert set(ns) - {"__name__", "__builtins__"} == SUPPLIED_NAMES and set(vars(opt)) == SUPPLIED_OPT
    return ns


# A NamedTuple, not a dataclass: tools/ modules are loaded by path (not in sys.modules), where
# dataclasses fail under `from __future__ import annotations`.
class ReferenceClasses(NamedTuple):
    """Their classes, defined in a namespace of one image shape and timestep count.

    `netG(ngpu, nsize)` and `netD(ngpu, nsize)` are constructed as train.py
    does (`_netG(ngpu, nsize)`); their `__init__` and `forward` run with
    `cuda_calls_stay_on_cpu`.
    """

    netG: type
    netD: type
    train_py: str
    namespace: Dict[str, Any]


def load_reference_classes(checkout: str, *, image_size: int, channels: int, timesteps: int, nz: int = 100,
                           ngf: int = 64, ndf: int = 64, maxobjscale: float = 1.2,
                           rot: float = 0.3) -> ReferenceClasses:
    """Their `_netG` and `_netD`, lifted out of `<checkout>/train.py` and defined for these settings.

    Args:
      checkout: a checkout of lr-gan.pytorch, branch pytorch-1.0 (the folder holding train.py).
      image_size: nsize, their --imageSize (square images, a power of two >= 8).
      channels: nc (train.py sets 3 for cifar10 / cub200, 1 for mnist-one / mnist-two).
      timesteps: ntimestep, their --ntimestep (T, background included).
      nz, ngf, ndf: their --nz / --ngf / --ndf.
      maxobjscale: their --maxobjscale (1.2 by default; 2 for MNIST-TWO).
      rot: bound of the rotation/shear terms (train.py: 0.1 for cifar10 / cub200, 0.3 for MNIST).

    Returns:
      `ReferenceClasses`.

    Raises:
      ReferenceUnavailable: no train.py in `checkout`, the classes are not in
        it, they read names or `opt` options this loader does not supply, or
        PyTorch is not installed.
    """
    train_py = os.path.join(os.path.abspath(os.path.expanduser(checkout)), "train.py")
    if not os.path.isdir(os.path.dirname(train_py)):
        raise ReferenceUnavailable(f"LR-GAN reference checkout not found: {os.path.dirname(train_py)}")
    if not os.path.isfile(train_py):
        raise ReferenceUnavailable(f"no train.py in {os.path.dirname(train_py)} (expected a checkout of "
                                   f"lr-gan.pytorch, branch pytorch-1.0)")
    with open(train_py, encoding="utf-8") as f:
        source = f.read()
    nodes = _definition_nodes(source, REFERENCE_NAMES, train_py)
    code = extract_definitions(source, REFERENCE_NAMES, train_py)
    unknown = sorted(global_names(code, train_py) - SUPPLIED_NAMES - set(dir(builtins)))
    if unknown:
        raise ReferenceUnavailable(f"{', '.join(REFERENCE_NAMES)} in {train_py} use names this loader does not "
                                   f"supply: {', '.join(unknown)}")
    unknown_opt = sorted(opt_attributes(code) - SUPPLIED_OPT)
    if unknown_opt:
        raise ReferenceUnavailable(f"{', '.join(REFERENCE_NAMES)} in {train_py} read options this loader does "
                                   f"not supply: {', '.join('opt.' + a for a in unknown_opt)}")

    torch = _import_torch()
    ns = _namespace(torch, image_size=image_size, channels=channels, timesteps=timesteps, nz=nz, ngf=ngf, ndf=ndf,
                    maxobjscale=maxobjscale, rot=rot)
    # Compile their own nodes (not the re-joined text) so that tracebacks
    # point at the right lines of their train.py.
    exec(compile(ast.Module(body=nodes, type_ignores=[]), train_py, "exec"), ns)
    for name in REFERENCE_NAMES:
        cls = ns[name]
        for method in ("__init__", "forward"):
            if method in vars(cls):
                setattr(cls, method, _on_cpu(vars(cls)[method]))
    return ReferenceClasses(netG=ns[GENERATOR_CLASS], netD=ns[DISCRIMINATOR_CLASS], train_py=train_py, namespace=ns)


# -- their training step, timed --------------------------------------------------

def _numel(params: Iterable) -> int:
    return int(sum(p.numel() for p in params))


class ReferenceLRGAN:
    """The authors' LR-GAN, built for one image shape, training on a fixed random batch.

    Everything train.py sets up before its loop, for timing: netG / netD
    (default initialisation, as theirs), BCELoss, Adam(lr 2e-4, betas (0.5,
    0.999)) for each, the `input` / `noise` / `label` buffers, and a fixed
    real batch uniform in [-1, 1] (N, C, H, W) standing in for the data
    loader (whose cost is not part of the step).

    Args:
      checkout: a checkout of lr-gan.pytorch, branch pytorch-1.0.
      image_shape: (height, width, channels), channels last as tfgen's; square.
      timesteps: T (background included).
      batch: batch size.
      nz, ngf, ndf, maxobjscale: their options (see `load_reference_classes`).
      rot: rotation/shear bound; None: theirs for the data set of this
        channel count (0.1 for 3-channel cifar10 / cub200, 0.3 for MNIST).
      seed: seeds the weights, the real batch and the noise.
      threads: torch intra-op threads (default os.cpu_count()).

    Raises:
      ReferenceUnavailable: see `load_reference_classes`.
      ValueError: a non-square image shape.
    """

    def __init__(self, checkout: str, image_shape: Sequence[int], timesteps: int, batch: int = 64, *,
                 nz: int = 100, ngf: int = 64, ndf: int = 64, maxobjscale: float = 1.2,
                 rot: Optional[float] = None, seed: int = 0, threads: Optional[int] = None):
        h, w, c = (int(v) for v in image_shape)
        if h != w:
            raise ValueError(f"their networks take square images (--imageSize); got {h}x{w}")
        rot = (0.1 if c == 3 else 0.3) if rot is None else rot
        self.classes = load_reference_classes(checkout, image_size=h, channels=c, timesteps=timesteps, nz=nz,
                                              ngf=ngf, ndf=ndf, maxobjscale=maxobjscale, rot=rot)
        torch = self.torch = _import_torch()
        torch.set_num_threads(threads or os.cpu_count() or 1)
        torch.manual_seed(seed)
        self.image_shape, self.timesteps, self.batch, self.nz = (h, w, c), int(timesteps), int(batch), int(nz)
        self.settings = {"image_shape": [h, w, c], "timesteps": self.timesteps, "batch_size": self.batch, "nz": nz,
                         "ngf": ngf, "ndf": ndf, "maxobjscale": maxobjscale, "rot": rot, "seed": seed,
                         "threads": torch.get_num_threads(), "train_py": self.classes.train_py}

        ngpu = 1
        self.netG = self.classes.netG(ngpu, h)
        self.netD = self.classes.netD(ngpu, h)
        self.criterion = torch.nn.BCELoss()
        self.input = torch.empty(batch, c, h, w)
        self.noise = torch.empty(timesteps, batch, nz)
        self.label = torch.empty(batch)
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=LEARNING_RATE, betas=(BETA1, BETA2))
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=LEARNING_RATE, betas=(BETA1, BETA2))
        # Their MNIST data are 3-channel image folders averaged to one channel
        # (`torch.mean(real_cpu, 1)`, which kept the dimension on PyTorch < 0.2
        # and drops it since); the batch here has the channel axis D expects.
        g = torch.Generator().manual_seed(seed)
        self.real = torch.rand(batch, c, h, w, generator=g) * 2 - 1
        self.steps_run = 0

    def _loss(self, output, labelv):
        # Their label is (N,) and D's output (N, 1): PyTorch 1.0's BCELoss
        # warned and paired them element by element, today's raises, so the
        # label is viewed as the output (no copy).
        return self.criterion(output, labelv.view_as(output))

    def train_step(self) -> Dict[str, float]:
        """One iteration of train.py's training loop body, verbatim but for the data loader and logging.

        Returns the losses and D outputs that their progress line prints
        (read with `.item()` as theirs, which also waits for the step).
        """
        netD, netG, input, noise, label = self.netD, self.netG, self.input, self.noise, self.label
        ntimestep, nz = self.timesteps, self.nz
        # `Variable(x)` wrappers of theirs are left out: a no-op since PyTorch 0.4.
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        # train with real
        netD.zero_grad()
        real_cpu = self.real
        batch_size = real_cpu.size(0)
        input.resize_as_(real_cpu).copy_(real_cpu)
        label.resize_(batch_size).fill_(REAL_LABEL)
        output = netD(input)
        errD_real = self._loss(output, label)
        errD_real.backward()
        D_x = output.data.mean()

        # train with fake
        noise.resize_(ntimestep, batch_size, nz).normal_(0, 1)
        fake, fakeseq, fgimgseq, fgmaskseq = netG(noise)
        output = netD(fake.detach())
        errD_fake = self._loss(output, label.fill_(FAKE_LABEL))
        errD_fake.backward()
        D_G_z1 = output.data.mean()
        errD = errD_real + errD_fake
        self.optimizerD.step()

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        # As theirs: netD is not zeroed here, so this backward also adds into
        # D's gradients, which the next iteration's netD.zero_grad() drops.
        netG.zero_grad()
        output = netD(fake)
        errG = self._loss(output, label.fill_(REAL_LABEL))  # fake labels are real for generator cost
        errG.backward()
        D_G_z2 = output.data.mean()
        self.optimizerG.step()
        self.steps_run += 1
        return {"errD": errD.item(), "errG": errG.item(), "D_x": D_x.item(), "D_G_z1": D_G_z1.item(),
                "D_G_z2": D_G_z2.item()}

    def warm_up(self, steps: int = 2) -> None:
        """A few untimed steps: the allocator's and oneDNN's first-call set-up, out of the timing."""
        for _ in range(steps):
            self.train_step()

    def train_images_per_sec(self, steps: int) -> float:
        """Images/s of `steps` consecutive training iterations (D step + G step each)."""
        t = time.perf_counter()
        for _ in range(steps):
            self.train_step()
        return steps * self.batch / (time.perf_counter() - t)

    def generate_images_per_sec(self, reps: int) -> float:
        """Images/s of netG forward passes alone: eval mode (BN's running statistics), no gradients."""
        torch = self.torch
        noise = torch.randn(self.timesteps, self.batch, self.nz)
        self.netG.eval()
        try:
            with torch.no_grad():
                self.netG(noise)  # first eval-mode call out of the timing
                t = time.perf_counter()
                for _ in range(reps):
                    self.netG(noise)
                seconds = time.perf_counter() - t
        finally:
            self.netG.train()
        return reps * self.batch / seconds

    def parameter_count(self) -> Dict[str, int]:
        """Trainable parameters of G and D, and how many of G's its forward pass uses.

        Their `_netG` builds the T > 2 encoder (`encoderconv`, `encoderfc`,
        `nlnet`) whatever T is, so at T = 2 part of `generator` takes no part
        in training; `generator_used` counts the parameters that get a
        gradient from G's output (found with autograd in eval mode, so BN
        running statistics and `.grad` are untouched).
        """
        torch = self.torch
        params = [p for p in self.netG.parameters() if p.requires_grad]
        self.netG.eval()
        try:
            with torch.enable_grad():
                fake = self.netG(torch.randn(self.timesteps, 2, self.nz))[0]
                grads = torch.autograd.grad(fake.sum(), params, allow_unused=True)
        finally:
            self.netG.train()
        return {"generator": _numel(params), "discriminator": _numel(self.netD.parameters()),
                "generator_used": _numel(p for p, g in zip(params, grads) if g is not None),
                "generator_buffers": _numel(self.netG.buffers()), "discriminator_buffers": _numel(self.netD.buffers())}


# -- command line ------------------------------------------------------------------

def run(args) -> dict:
    ref = ReferenceLRGAN(args.checkout, (args.image_size, args.image_size, args.channels), args.timesteps,
                         args.batch, nz=args.nz, ngf=args.ngf, ndf=args.ndf, maxobjscale=args.maxobjscale,
                         rot=args.rot, seed=args.seed, threads=args.threads)
    counts = ref.parameter_count()
    ref.warm_up(args.warmup_steps)
    train = [ref.train_images_per_sec(args.steps) for _ in range(args.rounds)]
    gen = [ref.generate_images_per_sec(max(3, args.steps // 2)) for _ in range(args.rounds)]
    med = statistics.median(train)
    torch = ref.torch
    return {"reference": "jwyang/lr-gan.pytorch (pytorch-1.0) train.py: _netG, _netD, training-loop body",
            "torch": torch.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "settings": ref.settings, "steps": args.steps, "rounds": args.rounds, "warmup_steps": args.warmup_steps,
            "train_images_per_sec": med, "train_images_per_sec_range": [min(train), max(train)],
            "train_images_per_sec_rounds": train, "train_ms_per_step": 1000 * ref.batch / med,
            "generate_images_per_sec": statistics.median(gen), "parameters": counts}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", required=True, help="checkout of lr-gan.pytorch, branch pytorch-1.0")
    p.add_argument("--image-size", type=int, default=32, help="square image size (their --imageSize)")
    p.add_argument("--channels", type=int, default=3, help="3 (cifar10, cub200) or 1 (mnist-one, mnist-two)")
    p.add_argument("--timesteps", type=int, default=2, help="T, background included (their --ntimestep)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed training iterations per round")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds (the median is reported)")
    p.add_argument("--warmup-steps", type=int, default=2, help="untimed iterations first")
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--maxobjscale", type=float, default=1.2, help="their --maxobjscale (2 for MNIST-TWO)")
    p.add_argument("--rot", type=float, default=None,
                   help="rotation/shear bound (default theirs: 0.1 for 3 channels, 0.3 for 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default os.cpu_count())")
    p.add_argument("--out", default=None, help="write the report as JSON here")
    args = p.parse_args(argv)
    try:
        report = run(args)
    except ReferenceUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s, n = report["settings"], report["parameters"]
    h, w, c = s["image_shape"]
    print(f"reference lrgan {h}x{w}x{c}-T{s['timesteps']} batch {s['batch_size']}: train "
          f"{report['train_images_per_sec']:.1f} img/s (median of {args.rounds} rounds of {args.steps} steps, range "
          f"{report['train_images_per_sec_range'][0]:.1f}-{report['train_images_per_sec_range'][1]:.1f}; "
          f"{report['train_ms_per_step']:.0f} ms/step), generate {report['generate_images_per_sec']:.1f} img/s, "
          f"torch {report['torch']}, {s['threads']} threads")
    print(f"parameters: G {n['generator']:,} ({n['generator_used']:,} used by its forward), "
          f"D {n['discriminator']:,}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
