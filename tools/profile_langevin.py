#!/usr/bin/env python
"""Profiles one Langevin loop (wFRAME or AND-OR) eagerly, as a graph and under XLA on the CPU.

Why this exists: on CPU, `tf.function(..., jit_compile=True)` made every
Langevin loop 7-22x slower than the same loop as a plain graph function. This
tool measures the loop and its ops side by side and records what XLA emits
for the loop's convolutions, so the cause can be checked on any machine.

It reports, in one process, with the variants timed in alternating rounds
(the machine may be shared; medians and per-round ratios survive load swings):

* the whole loop, ms: eager, graph, XLA, and both modes again with every
  convolution's input gradient computed as a forward convolution with the
  flipped, transposed kernel (`conv2d_grad_as_forward_conv`, the
  restructuring that sidesteps XLA:CPU's slow path) and, for wFRAME, XLA
  with the max-pool gradient also written as a mask (`max_pool2d_mask_grad`);
* per-op micro-benchmarks at the loop's exact shapes (read from XLA's
  optimized HLO): each conv forward and conv backprop-input, timed inside a
  `tf.while_loop` as graph and XLA, plus XLA with the op unrolled in the entry
  computation and XLA with the backprop done as a forward conv; the max-pool
  (wFRAME) and top-k sparsity masks (AND-OR);
* the XLA optimized HLO's convolutions: dimension labels, which computation
  holds them (entry or while body) and whether they have the canonical form
  XLA:CPU sends to its Eigen convolution runtime (NHWC input, HWIO kernel);
  with --dump-dir, the names of the convolutions XLA compiled as naive
  "elemental" loop nests;
* the loop's GFLOP (a static count of the conv and dot instructions of the
  optimized HLO, times the while loop's trip count) and the achieved GFLOP/s
  against this machine's fp32 matmul peak (best of 5 2048x2048 matmuls in a
  graph function, measured every round).

Inputs are random at the configs' shapes (tools/benchmark.py's CASES: the
wFRAME random filter bank, AND-OR's untrained networks): timing only.

Usage:
    python tools/profile_langevin.py --model wframe --out runs/profile_wframe.json
    python tools/profile_langevin.py --model andor --rounds 3 --out runs/profile_andor.json
    # one XLA flag setting per process (XLA reads XLA_FLAGS once):
    python tools/profile_langevin.py --model wframe --parts loop --xla-flags="--xla_cpu_use_onednn=true"
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import platform
import re
import sys
import time

PARTS = ("loop", "micro", "flops")


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (see the module docstring); `argv` None reads sys.argv."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=("wframe", "andor"), default="wframe")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of the whole-loop timings")
    p.add_argument("--micro-rounds", type=int, default=3, help="alternating rounds of each per-op micro-benchmark")
    p.add_argument("--micro-iters", type=int, default=5, help="op calls per micro-benchmark loop")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    p.add_argument("--no-eager", action="store_true", help="skip the eager loop (slow for AND-OR)")
    p.add_argument("--xla-flags", default="", help="appended to XLA_FLAGS before TensorFlow starts")
    p.add_argument("--dump-dir", default="", help="dump XLA's HLO and kernels here and list the elemental convs")
    p.add_argument("--out", default="", help="write the results as JSON here")
    args = p.parse_args(argv)
    args.parts = tuple(s for s in args.parts.split(",") if s)
    bad = set(args.parts) - set(PARTS)
    if bad:
        p.error(f"--parts: unknown {sorted(bad)}")
    return args


def _set_xla_env(args) -> None:
    """XLA parses XLA_FLAGS once, when the first computation is compiled: set it before TensorFlow loads."""
    flags = [os.environ.get("XLA_FLAGS", ""), args.xla_flags]
    if args.dump_dir:
        # Only this loop's modules (their names start with the traced lambda's).
        flags.append(f"--xla_dump_to={args.dump_dir} --xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*lambda.*")
    os.environ["XLA_FLAGS"] = " ".join(f for f in flags if f).strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


if __name__ == "__main__":
    _ARGS = parse_args()
    _set_xla_env(_ARGS)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark  # noqa: E402  (tools/benchmark.py: the cases and the loop builder)

from tfgen import config as config_lib  # noqa: E402
from tfgen.models import build_model  # noqa: E402


# -- the restructuring: conv input gradients as forward convolutions ------------

_TF_CONV2D = tf.nn.conv2d


def conv2d_grad_as_forward_conv(input, filters, strides, padding, data_format="NHWC", dilations=None,  # noqa: A002
                                name=None):
    """`tf.nn.conv2d` whose input gradient is a forward conv with the flipped, transposed kernel.

    For stride 1, "SAME" padding and an odd square kernel, the input gradient
    of y = conv(x, k) is conv(dy, k'), k' = k reversed in both spatial axes
    with its in/out channels swapped. TensorFlow's own gradient is a
    Conv2DBackpropInput op, which tf2xla lowers to an HLO convolution with an
    OIHW-ordered kernel (dim_labels ..._01oi->...). XLA:CPU only sends
    NHWC/HWIO convolutions to its Eigen runtime, and the pass that transposes
    others into that form (ConvCanonicalization) visits only the entry
    computation, so inside a while loop (every Langevin loop) the backprop
    conv is compiled as a naive elemental loop nest. Written as a forward
    conv it keeps the canonical form wherever it lives.

    Any other stride, padding, layout or dilation falls back to `tf.nn.conv2d`.
    """
    k = tf.convert_to_tensor(filters)
    stride_one = strides in (1, [1], [1, 1], [1, 1, 1, 1], (1, 1), (1, 1, 1, 1))
    odd = k.shape.rank == 4 and k.shape[0] is not None and k.shape[0] % 2 == 1 and k.shape[0] == k.shape[1]
    plain = data_format == "NHWC" and dilations in (None, 1, [1, 1, 1, 1])
    if not (stride_one and odd and padding == "SAME" and plain):
        return _TF_CONV2D(input, filters, strides, padding, data_format=data_format, dilations=dilations, name=name)

    @tf.custom_gradient
    def conv(x, kernel):
        y = _TF_CONV2D(x, kernel, 1, "SAME")

        def grad(dy):
            flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
            dx = _TF_CONV2D(dy, flipped, 1, "SAME")
            # The kernel gradient keeps TensorFlow's op; a Langevin loop never
            # asks for it (the op is pruned from the graph, DCE'd by XLA).
            dk = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                                                 strides=[1, 1, 1, 1], padding="SAME")
            return dx, dk

        return y, grad

    return conv(tf.convert_to_tensor(input), k)


_TF_MAX_POOL2D = tf.nn.max_pool2d


def max_pool2d_mask_grad(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """`tf.nn.max_pool2d` (2x2, stride 2, even H and W) whose gradient is a first-max mask, not MaxPoolGrad.

    TensorFlow's MaxPoolGrad becomes an HLO select-and-scatter, which XLA:CPU
    expands into a reduce-window that tracks each window's argmax plus a
    scatter: ~4x slower than graph mode's kernel at wFRAME's shapes. Here
    the gradient goes to the first (row-major) position of each window
    that equals the window's max, the positions MaxPoolGrad picks, written
    as compares, an argmax over 4 and a one-hot: elementwise work XLA fuses.
    Slower than MaxPoolGrad in graph mode, so only worth it under XLA.

    Other sizes, strides, layouts or odd H, W fall back to `tf.nn.max_pool2d`.
    """
    x = tf.convert_to_tensor(input)
    two = (2, [2], [2, 2], (2, 2), [1, 2, 2, 1])
    if x.shape.rank != 4 or None in x.shape[1:]:
        return _TF_MAX_POOL2D(input, ksize, strides, padding, data_format=data_format, name=name)
    _, h, w, c = x.shape
    if not (ksize in two and strides in two and h % 2 == 0 and w % 2 == 0 and data_format == "NHWC"):
        return _TF_MAX_POOL2D(input, ksize, strides, padding, data_format=data_format, name=name)

    @tf.custom_gradient
    def pool(v):
        y = _TF_MAX_POOL2D(v, 2, 2, "VALID")  # = "SAME" for even sizes

        def grad(dy):
            win = tf.reshape(v, [-1, h // 2, 2, w // 2, 2, c])
            win = tf.reshape(tf.transpose(win, [0, 1, 3, 5, 2, 4]), [-1, h // 2, w // 2, c, 4])
            first = tf.argmax(tf.cast(tf.equal(win, y[..., None]), tf.int32), axis=-1, output_type=tf.int32)
            d = tf.one_hot(first, 4, dtype=dy.dtype) * dy[..., None]
            d = tf.transpose(tf.reshape(d, [-1, h // 2, w // 2, c, 2, 2]), [0, 1, 4, 2, 5, 3])
            return tf.reshape(d, tf.shape(v))

        return y, grad

    return pool(x)


@contextlib.contextmanager
def restructured_gradients(convs: bool = True, pools: bool = False):
    """While tracing inside this context, tfgen's `tf.nn.conv2d` / `tf.nn.max_pool2d` calls use the versions above.

    A what-if for this profile only: tfgen's filter bank and AND-OR generator
    call these functions at trace time, so swapping the module attributes
    changes the traced loop without touching tfgen.
    """
    if convs:
        tf.nn.conv2d = conv2d_grad_as_forward_conv
    if pools:
        tf.nn.max_pool2d = max_pool2d_mask_grad
    try:
        yield
    finally:
        tf.nn.conv2d = _TF_CONV2D
        tf.nn.max_pool2d = _TF_MAX_POOL2D


# -- machine ----------------------------------------------------------------------

def machine_info() -> dict:
    """CPU, ISA extensions, TensorFlow version, thread settings and XLA flags of this run."""
    model = ""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1]
    except OSError:
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f" {f}" in f" {flags}"]
    return {"cpu": model or platform.processor(), "logical_cpus": os.cpu_count(), "isa": isa,
            "tensorflow": tf.__version__, "python": platform.python_version(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "TF_XLA_FLAGS": os.environ.get("TF_XLA_FLAGS", ""),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)"),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


# -- timing -------------------------------------------------------------------------

def _block(result) -> None:
    """Waits for every tensor in `result` (XLA and TF run asynchronously until .numpy())."""
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, result)


def time_rounds(fns: dict, rounds: int, warm: bool = True, between=None):
    """ms per call of each function, in `rounds` alternating rounds (first calls excluded).

    Alternating rounds give every variant the same share of a shared
    machine's load swings, so per-round ratios are meaningful.

    Args:
      fns: name -> function of no arguments returning tensors.
      rounds: timed calls of each function.
      warm: call each function once first (tracing, XLA compilation).
      between: optional function of no arguments called at the start of
        every round (e.g. a matmul peak measurement).

    Returns:
      (name -> list of ms per round, name -> the warm-up call's seconds).
    """
    first = {}
    if warm:
        for key, f in fns.items():
            t = time.perf_counter()
            _block(f())
            first[key] = time.perf_counter() - t
    ms = {k: [] for k in fns}
    for _ in range(rounds):
        if between is not None:
            between()
        for key, f in fns.items():
            t = time.perf_counter()
            _block(f())
            ms[key].append(1000 * (time.perf_counter() - t))
    return ms, first


def median_ratio(a, b) -> float:
    """Median over rounds of a[i] / b[i]: robust to load that hits both variants of a round alike."""
    return float(np.median([x / y for x, y in zip(a, b)]))


# -- the case -------------------------------------------------------------------------

def build_case(name: str):
    """(model, loop function, steps, chains, label) of tools/benchmark.py's first case of `name`."""
    model_name, label, overrides, shape, batch = benchmark.CASES[name][0]
    config = config_lib.config_from_dict({"model": {"name": model_name, **overrides}, "train": {"batch_size": batch}})
    model = build_model(config, shape, num_classes=10)
    model.compile()
    loop, steps, chains = benchmark._langevin_loop(model, batch)
    return model, loop, int(steps), int(chains), label


# -- HLO ----------------------------------------------------------------------------------

_COMP = re.compile(r"^(ENTRY )?%([\w.\-]+) \(.*\{\s*$")
_INSTR = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (.+?) ([a-z][a-z\-]*)\((.*)$")
_ARRAY = re.compile(r"^([a-z0-9]+)\[([0-9,]*)\]")


def _dims(shape: str):
    m = _ARRAY.match(shape)
    if not m:
        return None
    return [int(d) for d in m.group(2).split(",") if d]


def parse_hlo(text: str, default_trip_count: int) -> dict:
    """Convolutions and dots of an HLO module's text, each with its computation and run count.

    A computation that is a while body runs trip-count times per run of its
    parent (the while's known_trip_count, else `default_trip_count`).
    """
    shapes, bodies, trips = {}, {}, {}
    instrs = []
    comp, entry = None, None
    for line in text.splitlines():
        m = _COMP.match(line)
        if m:
            comp = m.group(2)
            if m.group(1):
                entry = comp
            continue
        m = _INSTR.match(line)
        if not m or comp is None:
            continue
        name, shape, opcode, rest = m.groups()
        shapes[name] = shape
        if opcode == "while":
            body = re.search(r"body=%([\w.\-]+)", rest)
            trip = re.search(r'"known_trip_count":\{"n":"(\d+)"', rest)
            if body:
                bodies[body.group(1)] = comp
                trips[body.group(1)] = int(trip.group(1)) if trip else default_trip_count
        if opcode in ("convolution", "dot"):
            instrs.append((comp, name, shape, opcode, rest))

    def runs(c, depth=0):
        if c not in bodies or depth > 10:
            return 1
        return trips[c] * runs(bodies[c], depth + 1)

    out = []
    for comp_name, name, shape, opcode, rest in instrs:
        operands = re.findall(r"%([\w.\-]+)", rest.split(")", 1)[0])
        lhs, rhs = (_dims(shapes.get(o, "")) for o in operands[:2])
        res = _dims(shape)
        op_type = re.search(r'op_type="([^"]*)"', rest)
        op_name = re.search(r'op_name="([^"]*)"', rest)
        rec = {"hlo_name": name, "opcode": opcode, "op_type": op_type.group(1) if op_type else "",
               "op_name": op_name.group(1) if op_name else "", "lhs": lhs, "rhs": rhs, "out": res,
               "computation": comp_name, "in_while_body": comp_name in bodies, "runs_per_call": runs(comp_name)}
        if opcode == "convolution":
            labels = re.search(r"dim_labels=(\w+)_(\w+)->(\w+)", rest)
            window = re.search(r"window=\{([^}]*)\}", rest)
            groups = re.search(r"feature_group_count=(\d+)", rest)
            lhs_l, rhs_l, out_l = labels.groups() if labels else ("", "", "")
            rec.update({"dim_labels": f"{lhs_l}_{rhs_l}->{out_l}", "window": window.group(1) if window else "",
                        "feature_group_count": int(groups.group(1)) if groups else 1})
            # XLA:CPU's Eigen convolution wants NHWC input, HWIO kernel, NHWC
            # output and no window reversal (PotentiallyImplementedAsEigenConvolution).
            rec["eigen_form"] = (lhs_l == "b01f" and rhs_l == "01io" and out_l == "b01f"
                                 and "rhs_reversal" not in rec["window"])
            if lhs and rhs and res and rhs_l:
                out_features = rhs[rhs_l.index("o")]
                rec["gflop"] = 2.0 * math.prod(res) * math.prod(rhs) / out_features / rec["feature_group_count"] / 1e9
        else:
            contracting = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", rest)
            k = math.prod(lhs[int(d)] for d in contracting.group(1).split(",") if d) if (contracting and lhs) else 0
            rec["gflop"] = 2.0 * math.prod(res or [0]) * k / 1e9
        out.append(rec)
    return {"entry": entry, "instructions": out,
            "while_bodies": {b: {"parent": p, "trip_count": trips[b]} for b, p in bodies.items()}}


def hlo_text(fn, stage: str = "optimized_hlo") -> str:
    """The HLO text XLA:CPU produces for a jit-compiled function of no arguments (compiles it)."""
    return fn.experimental_get_compiler_ir()(stage=stage)


def loop_flops(parsed: dict) -> dict:
    """GFLOP of one call of the module `parse_hlo` read, total and per TensorFlow op type."""
    convs = [r for r in parsed["instructions"] if "gflop" in r]
    total = sum(r["gflop"] * r["runs_per_call"] for r in convs)
    by_type = {}
    for r in convs:
        key = r["op_type"] or r["opcode"]
        by_type[key] = by_type.get(key, 0.0) + r["gflop"] * r["runs_per_call"]
    return {"gflop_per_loop": total, "gflop_by_op_type": by_type,
            "counted": "HLO convolution and dot instructions (2 x MACs) times their computation's runs; "
                       "elementwise ops, pooling and reductions not counted"}


def profiler_gflop(fn) -> float:
    """tf.compat.v1.profiler's static float-op count of the traced graph (it does not enter while bodies)."""
    graph = fn.get_concrete_function().graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops / 1e9


def elemental_kernels(dump_dir: str) -> list:
    """Names of the HLO instructions XLA:CPU compiled as naive elemental loop nests (from a --dump-dir dump)."""
    names = set()
    for path in glob.glob(os.path.join(dump_dir, "module_*_elemental_kernel_module*")):
        prefix = os.path.basename(path).split("_elemental_kernel_module", 1)[0]
        # module_NNNN.<module name>.<id>.<instruction name>
        m = re.search(r"\.\d+\.([A-Za-z][\w.\-]*)$", prefix)
        if m and not m.group(1).startswith("obj-file"):
            names.add(m.group(1))
    return sorted(names)


# -- per-op micro-benchmarks -------------------------------------------------------------

def _looped(op, arg, n: int, unrolled: bool = False):
    """n calls of `op`, each on `arg` nudged by the running sum so no compiler can hoist or drop one.

    In a tf.while_loop (the Langevin loop's context) or, with `unrolled`,
    as n copies in straight-line code (XLA: the entry computation).
    """
    def body(acc):
        return acc + tf.reduce_sum(op(arg + 1e-30 * acc))

    def f():
        if unrolled:
            acc = tf.constant(0.0)
            for _ in range(n):
                acc = body(acc)
            return acc
        return tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, body(a)),
                             (tf.constant(0), tf.constant(0.0)))[1]
    return f


def _same_padding(window: str, kernel_hw) -> bool:
    if "stride=" in window or "lhs_dilate" in window or "rhs_dilate" in window:
        return False
    pads = re.search(r"pad=(\d+)_(\d+)x(\d+)_(\d+)", window)
    if not pads:
        return False
    lo_h, hi_h, lo_w, hi_w = (int(v) for v in pads.groups())
    kh, kw = kernel_hw
    return (lo_h, hi_h, lo_w, hi_w) == ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)


def conv_micro_specs(parsed: dict) -> list:
    """One micro-benchmark per distinct (op type, shapes) of the loop body's Conv2D / Conv2DBackpropInput."""
    specs = {}
    for r in parsed["instructions"]:
        wanted = r["op_type"] in ("Conv2D", "Conv2DBackpropInput")
        if r["opcode"] != "convolution" or not r["in_while_body"] or not wanted:
            continue
        if not (r["lhs"] and r["rhs"] and r["out"]) or not _same_padding(r["window"], r["rhs"][:2]):
            continue
        # Conv2D: lhs x, rhs the HWIO kernel. Conv2DBackpropInput: lhs dy, out
        # dx, rhs the forward kernel's dims [kh, kw, dx channels, dy channels]
        # (labelled 01oi), i.e. TensorFlow's filter shape of that conv.
        key = (r["op_type"], tuple(r["lhs"]), tuple(r["rhs"]), tuple(r["out"]))
        if key in specs:
            specs[key]["count_per_step"] += 1
            specs[key]["op_names"].append(r["op_name"])
            continue
        specs[key] = {"op": r["op_type"], "input": r["lhs"], "kernel": r["rhs"], "output": r["out"],
                      "dim_labels": r["dim_labels"], "gflop": r["gflop"], "count_per_step": 1,
                      "op_names": [r["op_name"]]}
    return list(specs.values())


def run_conv_micro(spec: dict, iters: int, rounds: int, seed: int = 0) -> dict:
    """Times one conv of `conv_micro_specs` on random inputs: ms per call per variant, ratios, GFLOP/s.

    Variants: "graph" and "xla" in a while loop; for a backprop-input conv
    also "xla_entry" (unrolled: the entry computation) and "xla_fwdconv"
    (the backprop as a forward conv with the flipped kernel, in the loop).
    """
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal(spec["input"]).astype("float32"))
    k = tf.constant((rng.standard_normal(spec["kernel"]) * 0.05).astype("float32"))
    if spec["op"] == "Conv2D":
        def op(a):
            return tf.nn.conv2d(a, k, 1, "SAME")
        fns = {"graph": tf.function(_looped(op, x, iters)),
               "xla": tf.function(_looped(op, x, iters), jit_compile=True)}
    else:
        dx_shape = tf.constant(spec["output"], tf.int32)
        flipped = tf.transpose(tf.reverse(k, [0, 1]), [0, 1, 3, 2])

        def op(dy):
            return tf.raw_ops.Conv2DBackpropInput(input_sizes=dx_shape, filter=k, out_backprop=dy,
                                                  strides=[1, 1, 1, 1], padding="SAME")

        def op_fwd(dy):
            return tf.nn.conv2d(dy, flipped, 1, "SAME")

        fns = {"graph": tf.function(_looped(op, x, iters)),
               "xla": tf.function(_looped(op, x, iters), jit_compile=True),
               # The same n backprop convs straight-line: the entry computation,
               # where XLA:CPU's ConvCanonicalization does transpose them.
               "xla_entry": tf.function(_looped(op, x, iters, unrolled=True), jit_compile=True),
               "xla_fwdconv": tf.function(_looped(op_fwd, x, iters), jit_compile=True)}
    ms, _ = time_rounds(fns, rounds)
    out = {k: float(np.median(v)) / iters for k, v in ms.items()}
    out["xla_over_graph"] = median_ratio(ms["xla"], ms["graph"])
    if "xla_fwdconv" in ms:
        out["xla_fwdconv_over_graph"] = median_ratio(ms["xla_fwdconv"], ms["graph"])
        out["xla_entry_over_graph"] = median_ratio(ms["xla_entry"], ms["graph"])
        # The restructuring is exact (up to summation order): check it at this shape.
        out["fwdconv_max_abs_diff"] = float(tf.reduce_max(tf.abs(op(x) - op_fwd(x))))
        out["max_abs_value"] = float(tf.reduce_max(tf.abs(op(x))))
    out["gflops_graph"] = spec["gflop"] / (out["graph"] / 1000)
    out["gflops_xla"] = spec["gflop"] / (out["xla"] / 1000)
    return out


def other_micro_specs(model, chains: int, batch: int) -> list:
    """The loop's non-conv ops worth a look: wFRAME's max-pool (forward + gradient), AND-OR's top-k masks."""
    specs = []
    cfg = model.model_config
    if cfg.name == "wframe":
        bank = model.bank
        h, w, _ = model.image_shape
        last = len(bank.kernels) - 1
        for i, kernel in enumerate(bank.kernels):
            if i in bank.pool_after and i < last:
                specs.append({"op": "MaxPool+MaxPoolGrad", "input": [chains, h, w, int(kernel.shape[-1])],
                              "count_per_step": 1})
                h, w = -(-h // 2), -(-w // 2)
    else:
        gen = model.generator
        for layer in gen.layer_numbers:
            k = gen.layer_k(layer)
            if not k:
                continue
            hh, ww, c = gen.layer_shape(layer)
            mode = "channel" if layer == gen.layer_numbers[0] else "spatial"
            specs.append({"op": f"top_k_mask({mode}, k={k})", "input": [batch, hh, ww, c], "k": k, "mode": mode,
                          "count_per_step": 1})
    return specs


def run_other_micro(spec: dict, iters: int, rounds: int, seed: int = 0) -> dict:
    """Times one op of `other_micro_specs` in a while loop, graph vs XLA (and the max-pool mask gradient)."""
    rng = np.random.default_rng(seed)
    x = tf.constant(np.abs(rng.standard_normal(spec["input"])).astype("float32"))
    if spec["op"].startswith("MaxPool"):
        wts = tf.constant(rng.standard_normal([s if i in (0, 3) else -(-s // 2) for i, s in
                                               enumerate(spec["input"])]).astype("float32"))

        def op(a):
            with tf.GradientTape() as tape:
                tape.watch(a)
                y = tf.reduce_sum(tf.nn.max_pool2d(a, 2, 2, "SAME") * wts)
            return tape.gradient(y, a)
    else:
        from tfgen.models.andor.sparsity import top_k_mask

        def op(a):
            return top_k_mask(a, spec["k"], spec["mode"])
    fns = {"graph": tf.function(_looped(op, x, iters)), "xla": tf.function(_looped(op, x, iters), jit_compile=True)}
    if spec["op"].startswith("MaxPool"):
        def op_mask(a):
            with tf.GradientTape() as tape:
                tape.watch(a)
                y = tf.reduce_sum(max_pool2d_mask_grad(a, 2, 2, "SAME") * wts)
            return tape.gradient(y, a)
        fns["graph_mask"] = tf.function(_looped(op_mask, x, iters))
        fns["xla_mask"] = tf.function(_looped(op_mask, x, iters), jit_compile=True)
    ms, _ = time_rounds(fns, rounds)
    out = {k: float(np.median(v)) / iters for k, v in ms.items()}
    out["xla_over_graph"] = median_ratio(ms["xla"], ms["graph"])
    if "xla_mask" in ms:
        out["xla_mask_over_graph"] = median_ratio(ms["xla_mask"], ms["graph"])
        out["mask_max_abs_diff"] = float(tf.reduce_max(tf.abs(op(x) - op_mask(x))))
    return out


# -- main -------------------------------------------------------------------------------------

def _matmul_peak(store: list):
    """A function that appends this moment's fp32 matmul peak (GFLOP/s) to `store`."""
    def measure():
        store.append(benchmark.matmul_peak_gflops())
    return measure


def main(args) -> dict:
    """Runs the parts in `args.parts` for `args.model`, prints a summary and writes `args.out`.

    Returns:
      The results (the JSON's content).
    """
    t_start = time.perf_counter()
    model, loop, steps, chains, label = build_case(args.model)
    batch = benchmark.CASES[args.model][0][4]
    result = {"model": args.model, "case": label, "steps": steps, "chains": chains, "machine": machine_info(),
              "inputs": "random at the config's shapes (tools/benchmark.py CASES); timing only"}
    print(f"{args.model} {label}: {steps} Langevin steps on {chains} chains; XLA_FLAGS={os.environ['XLA_FLAGS']!r}",
          flush=True)

    xla_fn = tf.function(loop, jit_compile=True)
    parsed = None
    if "flops" in args.parts or "micro" in args.parts:
        parsed = parse_hlo(hlo_text(xla_fn), steps)
        convs = [r for r in parsed["instructions"] if r["opcode"] == "convolution"]
        result["hlo"] = {"convolutions": convs, "while_bodies": parsed["while_bodies"],
                         "convolutions_in_while_body_not_eigen_form": [
                             r["op_name"] for r in convs if r["in_while_body"] and not r["eigen_form"]]}
        with restructured_gradients():
            fixed = parse_hlo(hlo_text(tf.function(loop, jit_compile=True)), steps)
        result["hlo"]["forward_conv_gradients_not_eigen_form"] = [
            r["op_name"] for r in fixed["instructions"] if r["opcode"] == "convolution" and not r["eigen_form"]]
        result["flops"] = loop_flops(parsed)
        result["flops"]["tf_profiler_gflop_of_traced_graph"] = profiler_gflop(tf.function(loop))
        print(f"  loop: {result['flops']['gflop_per_loop']:.2f} GFLOP (HLO conv/dot count); "
              f"tf.compat.v1.profiler sees {result['flops']['tf_profiler_gflop_of_traced_graph']:.3f} GFLOP "
              "(it does not enter the while body)", flush=True)
        print(f"  convs in the while body not in Eigen's NHWC/HWIO form: "
              f"{len(result['hlo']['convolutions_in_while_body_not_eigen_form'])} of "
              f"{sum(r['in_while_body'] for r in convs)}; with forward-conv gradients: "
              f"{len(result['hlo']['forward_conv_gradients_not_eigen_form'])}", flush=True)

    peaks = []
    if "loop" in args.parts:
        fns = {}
        if not args.no_eager:
            fns["eager"] = loop
        fns["graph"] = tf.function(loop)
        fns["xla"] = xla_fn
        # (function, also the max-pool mask gradient): traced inside restructured_gradients.
        fixed_fns = {"graph_fwdconv": (tf.function(loop), False),
                     "xla_fwdconv": (tf.function(loop, jit_compile=True), False)}
        if args.model == "wframe":  # the only loop with a max-pool
            fixed_fns["xla_fwdconv_poolmask"] = (tf.function(loop, jit_compile=True), True)
        first, outputs = {}, {}
        for key, (f, pools) in fixed_fns.items():
            with restructured_gradients(convs=True, pools=pools):  # trace inside; later calls reuse the trace
                t = time.perf_counter()
                outputs[key] = f().numpy()
                first[key] = time.perf_counter() - t
            fns[key] = f
        for key in ("graph", "xla") + (() if args.no_eager else ("eager",)):
            t = time.perf_counter()
            outputs[key] = fns[key]().numpy()
            first[key] = time.perf_counter() - t
        ms, _ = time_rounds(fns, args.rounds, warm=False, between=_matmul_peak(peaks))
        loop_out = {f"{k}_ms": float(np.median(v)) for k, v in ms.items()}
        loop_out.update({f"{k}_ms_range": [min(v), max(v)] for k, v in ms.items()})
        loop_out["first_call_s"] = first
        # Same seed, same mode: the restructured loops should match their
        # reference up to float summation order (XLA draws other noise than
        # graph mode, so each is compared within its mode). AND-OR's top-k
        # masks can flip on such tiny differences and then diverge further.
        loop_out["max_abs_diff"] = {
            f"{k}_vs_{ref}": float(np.max(np.abs(outputs[k] - outputs[ref])))
            for k, ref in (("graph_fwdconv", "graph"), ("xla_fwdconv", "xla"), ("xla_fwdconv_poolmask", "xla"))
            if k in outputs}
        loop_out["max_abs_value"] = float(np.max(np.abs(outputs["graph"])))
        loop_out["xla_over_graph"] = median_ratio(ms["xla"], ms["graph"])
        loop_out["xla_fwdconv_over_graph"] = median_ratio(ms["xla_fwdconv"], ms["graph"])
        loop_out["graph_fwdconv_over_graph"] = median_ratio(ms["graph_fwdconv"], ms["graph"])
        loop_out["xla_fwdconv_over_xla"] = median_ratio(ms["xla_fwdconv"], ms["xla"])
        if "xla_fwdconv_poolmask" in ms:
            loop_out["xla_fwdconv_poolmask_over_graph"] = median_ratio(ms["xla_fwdconv_poolmask"], ms["graph"])
        if "eager" in ms:
            loop_out["eager_over_graph"] = median_ratio(ms["eager"], ms["graph"])
        result["loop"] = loop_out
        result["matmul_peak_gflops"] = {"median": float(np.median(peaks)), "per_round": peaks}
        print("  whole loop, ms (median of rounds): " + ", ".join(
            f"{k} {loop_out[k + '_ms']:.0f}" for k in fns), flush=True)
        print(f"  XLA/graph {loop_out['xla_over_graph']:.2f}x; XLA with forward-conv gradients/graph "
              f"{loop_out['xla_fwdconv_over_graph']:.2f}x; graph with them/graph "
              f"{loop_out['graph_fwdconv_over_graph']:.2f}x", flush=True)
        if "xla_fwdconv_poolmask" in ms:
            print(f"  XLA with forward-conv and max-pool mask gradients/graph "
                  f"{loop_out['xla_fwdconv_poolmask_over_graph']:.2f}x", flush=True)
        if "flops" in result:
            g = result["flops"]["gflop_per_loop"]
            ach = {k: g / (np.array(ms[k]) / 1000) for k in ("graph", "xla", "xla_fwdconv", "xla_fwdconv_poolmask")
                   if k in ms}
            result["achieved"] = {
                f"{k}_gflops": float(np.median(v)) for k, v in ach.items()}
            result["achieved"].update({
                f"{k}_fraction_of_peak": float(np.median(v / np.array(peaks))) for k, v in ach.items()})
            print(f"  fp32 matmul peak {np.median(peaks):.0f} GFLOP/s; graph loop reaches "
                  f"{result['achieved']['graph_gflops']:.1f} GFLOP/s = "
                  f"{100 * result['achieved']['graph_fraction_of_peak']:.1f}% of it (per-round ratio)", flush=True)
    elif "flops" in args.parts:
        _matmul_peak(peaks)()
        result["matmul_peak_gflops"] = {"median": float(np.median(peaks)), "per_round": peaks}

    if "micro" in args.parts:
        rows = []
        print(f"  per-op, ms per call inside a {args.micro_iters}-iteration while loop (median of "
              f"{args.micro_rounds} rounds):", flush=True)
        print(f"    {'op':22s} {'input':>18s} {'kernel':>14s} {'n/step':>6s} {'graph':>8s} {'XLA':>8s} "
              f"{'XLA/gr':>7s} {'XLA entry':>9s} {'XLA fwdconv':>11s}", flush=True)
        for spec in conv_micro_specs(parsed):
            r = {**spec, **run_conv_micro(spec, args.micro_iters, args.micro_rounds)}
            rows.append(r)
            print(f"    {r['op']:22s} {str(r['input']):>18s} {str(r['kernel']):>14s} {r['count_per_step']:6d} "
                  f"{r['graph']:8.2f} {r['xla']:8.2f} {r['xla_over_graph']:7.2f} "
                  f"{r.get('xla_entry', float('nan')):9.2f} {r.get('xla_fwdconv', float('nan')):11.2f}", flush=True)
        for spec in other_micro_specs(model, chains, batch):
            r = {**spec, **run_other_micro(spec, args.micro_iters, args.micro_rounds)}
            rows.append(r)
            extra = (f"   (mask gradient: graph {r['graph_mask']:.2f}, XLA {r['xla_mask']:.2f})"
                     if "xla_mask" in r else "")
            print(f"    {r['op']:22s} {str(r['input']):>18s} {'':>14s} {r['count_per_step']:6d} "
                  f"{r['graph']:8.2f} {r['xla']:8.2f} {r['xla_over_graph']:7.2f}{extra}", flush=True)
        result["micro"] = rows
        # How much of each whole-loop time the measured ops explain (the rest:
        # elementwise ops, RNG, loop overhead; and the micro loops' own adds).
        if "loop" in result:
            explained = {}
            columns = {"graph": ["graph"], "xla": ["xla"], "xla_fwdconv": ["xla_fwdconv", "xla"],
                       "xla_fwdconv_poolmask": ["xla_fwdconv", "xla_mask", "xla"]}
            for mode, prefs in columns.items():
                if f"{mode}_ms" not in result["loop"]:
                    continue
                tot = sum(next(r[c] for c in prefs if c in r) * r["count_per_step"] * steps for r in rows)
                explained[mode] = {"ops_ms": tot, "loop_ms": result["loop"][f"{mode}_ms"],
                                   "rest_ms": result["loop"][f"{mode}_ms"] - tot}
            result["explained"] = explained
            print("  loop time explained by the ops above (x steps): " + "; ".join(
                f"{m} {e['ops_ms']:.0f} of {e['loop_ms']:.0f} ms" for m, e in explained.items()), flush=True)

    if args.dump_dir:
        result["elemental_kernels"] = elemental_kernels(args.dump_dir)
        print(f"  XLA compiled as elemental loop nests: {result['elemental_kernels']}", flush=True)
    result["wall_s"] = time.perf_counter() - t_start
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.out} ({result['wall_s']:.0f} s)", flush=True)
    return result


if __name__ == "__main__":
    main(_ARGS)
