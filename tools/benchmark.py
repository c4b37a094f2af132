#!/usr/bin/env python
"""Times training steps and generation of every registered tfgen model.

For each model at fixed shapes, with XLA off and on, measured side by side in
one run (absolute numbers drift on shared machines; compare ratios):

* train images/s (full train step: every sub-network's update),
* generate images/s (`model.generate` in a graph function),
* GFLOP per train step (static count of the traced step: conv, matmul, ...)
  and the achieved GFLOP/s as a fraction of the matmul peak in the step's
  product precision, the peak measured in every round beside the steps
  (median over rounds of that round's fraction), after one untimed warm-up
  round per variant.

With --soak it instead trains each model for a fixed number of steps and
watches the process: resident memory (VmRSS) and its peak (VmHWM) per chunk of
steps, ms/step at the start and end, a least-squares RSS slope (KiB/step) with
a flat/leaking verdict, and how often the train step was traced.

Usage:
    python tools/benchmark.py --out runs/benchmark.json [--models dcgan] [--steps 10] [--rounds 5] [--quick]
    python tools/benchmark.py --soak [--soak-steps 600] [--models dcgan] [--tiny] [--quick] [--out runs/soak.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import math
import os
import platform
import sys
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import ops as ops_lib  # noqa: E402  (per-op FLOP statistics)

import tfgen.models  # noqa: E402,F401
from tfgen import config as config_lib  # noqa: E402
from tfgen.data.pipeline import without_autotune_thread  # noqa: E402
from tfgen.models import build_model, get_model_class, names  # noqa: E402
from tfgen.models.trainable import inline_inner_functions  # noqa: E402
from tfgen.ops import conv_grads  # noqa: E402
from tfgen.sampling.langevin import unrolled_loops  # noqa: E402
from tfgen.training.strategy import make_strategy  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/ (run as a script or imported by tests)
from reference_lrgan import ReferenceLRGAN, ReferenceUnavailable, load_reference_classes  # noqa: E402

# (model name, label, model overrides, image shape, batch size)
CASES = {
    "dcgan": [
        ("dcgan", "32x32x1", {}, (32, 32, 1), 64),
        ("dcgan", "32x32x3", {}, (32, 32, 3), 64),
        ("dcgan", "64x64x1", {}, (64, 64, 1), 64),
    ],
    # The shapes of BENCHMARKS.md's reference (the authors' PyTorch LR-GAN).
    "lrgan": [
        ("lrgan", "32x32x3-T2", {"timesteps": 2}, (32, 32, 3), 64),
        ("lrgan", "64x64x1-T3", {"timesteps": 3, "min_object_scale": 2.0}, (64, 64, 1), 64),
    ],
    # configs/lrgan/conditional_multidigit_one.yaml's shape and widths.
    "conditional_lrgan": [
        ("conditional_lrgan", "32x32x1-T2", {"timesteps": 2, "g_filters": 32, "d_filters": 32,
                                             "encoder_filters": 32}, (32, 32, 1), 64),
    ],
    # Table III's networks at full width (batch 100, the paper's) and at
    # configs/aaae/multidigit.yaml's half width.
    "aaae": [
        ("aaae", "32x32x3-table3", {}, (32, 32, 3), 100),
        ("aaae", "32x32x1-half", {"base_filters": 32, "max_filters": 512}, (32, 32, 1), 64),
    ],
    # configs/hali/cifar10.yaml's networks (the paper's CIFAR-10 setting, §4: full width, batch 100)
    # and ALI, its one-level case (configs/hali/ali_cifar10.yaml).
    "hali": [
        ("hali", "32x32x3-cifar10", {"levels": 2, "latent_dim": 256, "z1_channels": 64, "z1_stride": 2,
                                     "filters": 64, "d_filters": 64}, (32, 32, 3), 100),
        ("hali", "32x32x3-ali", {"levels": 1, "latent_dim": 256, "z1_stride": 2, "filters": 64,
                                 "d_filters": 64}, (32, 32, 3), 100),
    ],
    # configs/wframe/multidigit.yaml's shape: N = M = 9, L = 50 Langevin steps per
    # iteration, the learned bank's layout (random values: timing only).
    "wframe": [
        ("wframe", "32x32x1-L50", {"filter_bank": "random"}, (32, 32, 1), 9),
    ],
    # configs/andor/multidigit.yaml's networks and batch; l_G Langevin steps
    # on the batch's latents per iteration.
    "andor": [
        ("andor", "32x32x1-lG15", {"fc_channels": 256, "channels": [128, 64, 32], "top_k": [16, 64, 0],
                                   "energy_first_channels": 32, "energy_channels": [32, 64, 128],
                                   "langevin_steps": 15, "latent_bank_size": 128}, (32, 32, 1), 32),
    ],
}

# Models whose train step runs a Langevin loop (timed eager / graph / XLA).
LANGEVIN_MODELS = ("wframe", "andor")


# The dtype of each train.precision's matrix products (tfgen.models.precision).
PRODUCT_DTYPES = {"float32": tf.float32, "mixed_bfloat16": tf.bfloat16, "mixed_float16": tf.float16}


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, dtype=tf.float32) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n matmul in `dtype` (a graph function): the practical limit."""
    a = tf.cast(tf.random.normal([n, n]), dtype)
    b = tf.cast(tf.random.normal([n, n]), dtype)
    f = tf.function(lambda x, y: tf.matmul(x, y))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def live_float_ops(graph) -> int:
    """FLOPs of the ops of a traced function's graph that its results need (TensorFlow's registered
    per-op counts, as its static profiler uses).

    Only ops that the returned tensors or the function's control outputs
    (its variable updates and other stateful ops) depend on are counted:
    the rest are pruned when the function runs. TensorFlow's profiler counts
    every op of the graph, and a gradient tape's graph holds many that never
    run: `Conv2D`'s gradient always emits the filter gradient, dead when only
    the input's is wanted (the generator step's pass back through the
    discriminator, a Langevin step's gradient in x), and the input's
    gradient, dead at a network's first layer. Those made the profiler's
    counts 5-9% too high for DCGAN and LR-GAN, ~30% for AAAE and HALI and
    ~50% for the Langevin loops (docs/PERFORMANCE.md).
    """
    live, stack = set(), [t.op for t in graph.outputs] + list(graph.control_outputs)
    while stack:
        op = stack.pop()
        if op.name not in live:
            live.add(op.name)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    total = 0
    for op in graph.get_operations():
        if op.name in live:
            try:
                total += ops_lib.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
            except ValueError:  # a shape the count needs is unknown: no count, as in the profiler
                pass
    return total


def static_gflops(config, image_shape, traced) -> float:
    """The static FLOP count (`live_float_ops`), in GFLOP, of a function of a fresh model.

    The model is built with inner functions inlined and `traced(model)` ->
    (function, input signature list) is traced with Langevin loops unrolled:
    a while loop's body would be counted once, whatever its steps (AND-OR's
    and wFRAME's counts were ~`langevin_steps` times too low).
    """
    with inline_inner_functions():
        model = build_model(config, image_shape, num_classes=10, xla=False)
        model.compile()
    function, signature = traced(model)
    with unrolled_loops():
        graph = tf.function(function).get_concrete_function(*signature).graph
    return live_float_ops(graph) / 1e9


def images_per_step(model, batch: int) -> int:
    """The images one train step reads, as `tfgen train` feeds them: train.batch_size times the
    model's batches_per_step() (AAAE with fresh approximator codes reads 1 + k batches a step)."""
    return batch * model.batches_per_step()


def train_step_gflops(config, image_shape, batch: int) -> float:
    """Static FLOP count of one train step, every Langevin step counted (`static_gflops`), on the
    `images_per_step` a step reads in training."""
    def spec(n):
        return {"image": tf.TensorSpec([n, *image_shape], tf.float32),
                "label": tf.TensorSpec([n], tf.int32), "index": tf.TensorSpec([n], tf.int64)}
    return static_gflops(config, image_shape,
                         lambda model: (model.train_step, [spec(images_per_step(model, batch))]))


def langevin_loop_gflops(config, image_shape, batch: int) -> float:
    """Static FLOP count of one learning iteration's Langevin loop (`_langevin_loop`), every step
    counted (`static_gflops`)."""
    return static_gflops(config, image_shape, lambda model: (_langevin_loop(model, batch)[0], []))


def batches(image_shape, batch: int) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    n = batch * 4  # models with per-example state need latent_bank_size >= 4 batches
    data = {"image": rng.uniform(-1, 1, (n, *image_shape)).astype("float32"),
            "label": rng.integers(0, 10, n).astype("int32"), "index": np.arange(n, dtype="int64")}
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True).repeat().prefetch(2)
    # With tf.data's autotuning thread, each timed `fit` ended waiting up to 2.56 s for it (the
    # exact 125.6 and 62.5 img/s "floors" of earlier reports: 2.55 s and 5.1 s per 5-step round).
    return without_autotune_thread(ds)


class _Variant:
    """One model (XLA on or off, in one precision) warmed up and ready for timed rounds.

    With `strategy` the model is built and compiled in its scope, as `tfgen
    train` does, so that `fit` distributes the batches and runs the step on
    every replica (a MirroredStrategy's all-reduce included).
    """

    def __init__(self, config, image_shape, batch: int, xla: bool, precision: str = "float32",
                 filter_gradient: str = "auto", strategy=None):
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.model = build_model(config, image_shape, num_classes=10, xla=xla, precision=precision)
            self.model.compile()
        self.images_per_step = images_per_step(self.model, batch)
        self.ds = batches(image_shape, self.images_per_step)
        self.batch = batch
        with conv_grads.auto_means(filter_gradient):  # the layers choose while the step is traced
            self.model.fit(self.ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace and compile
        self.gen = tf.function(lambda z: self.model.generate(z), jit_compile=xla)
        self.z = self.model.latent_batch(batch, 0)
        self.gen(self.z).numpy()

    def train_images_per_sec(self, steps: int) -> float:
        """Images read per second (`images_per_step` a step) from `fit`'s start to the end of its last
        step (Keras reads every step's logs, so the step has finished then).

        Not to `fit`'s return: under a MirroredStrategy TensorFlow's
        MultiDeviceIterator builds per-device prefetch pipelines with default
        tf.data options (autotuning on, whatever the dataset's own options
        say), and destroying the iterator when `fit` returns waits for the
        autotuning thread's next wake-up: up to ~5 s measured here, once per
        `fit` (once per training run in `tfgen train`, once per round here).
        """
        end = []
        last = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: end.append(time.perf_counter()) if batch == steps - 1 else None)
        t = time.perf_counter()
        self.model.fit(self.ds, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[last])
        return steps * self.images_per_step / (end[-1] - t)

    def generate_images_per_sec(self, reps: int) -> float:
        t = time.perf_counter()
        for _ in range(reps):
            self.gen(self.z).numpy()
        return reps * self.batch / (time.perf_counter() - t)


def median_ratio(numerators, denominators) -> float:
    """Median of the per-round ratios: what survives the load swings of a shared machine."""
    return float(np.median([a / b for a, b in zip(numerators, denominators)]))


def warm_up(variants: dict, steps: int, rounds: int) -> None:
    """`rounds` untimed training rounds of each variant (the first rounds after tracing run slow)."""
    for variant in variants.values():
        for _ in range(rounds):
            variant.train_images_per_sec(steps)


def alternating_rounds(variants: dict, steps: int, rounds: int, warm_up_rounds: int = 2, log=None) -> dict:
    """Train images/s of each variant, round by round: {name: [images/s per round]}.

    An A/B on a shared machine: `warm_up_rounds` untimed rounds per variant
    first (the first rounds after tracing run slow), then `rounds` rounds in
    which the variants take turns, in reversed order every other round so
    that neither always runs first. Compare with `median_ratio`.
    """
    warm_up(variants, steps, warm_up_rounds)
    out = {name: [] for name in variants}
    for r in range(rounds):
        for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            out[name].append(variants[name].train_images_per_sec(steps))
        if log is not None:
            log(r, {name: round(v[-1], 1) for name, v in out.items()})
    return out


def round_fraction_of_peak(gflop: float, batch: int, images_per_sec_rounds, peak_rounds) -> float:
    """Median over rounds of (GFLOP/s reached in the round) / (matmul peak measured in the same round)."""
    return float(np.median([gflop * ips / batch / peak for ips, peak in zip(images_per_sec_rounds, peak_rounds)]))


def variant_key(precision: str, xla: bool) -> str:
    """"graph" / "xla" for float32 (the report's original keys), else e.g. "mixed_bfloat16/graph"."""
    mode = "xla" if xla else "graph"
    return mode if precision == "float32" else f"{precision}/{mode}"


NATIVE_FILTER_GRADIENT = "/native-filter-gradient"
MIRRORED = "/mirrored"


def time_side_by_side(config, image_shape, batch: int, steps: int, rounds: int,
                      precisions=("float32",), xla_modes=(False, True), reference=None,
                      native_filter_gradient=False, mirrored=None, warm_up_rounds: int = 1,
                      peak=None) -> dict:
    """Graph mode vs XLA (and each precision), in alternating rounds so all see the same machine load.

    Every variant first trains `warm_up_rounds` untimed rounds. With `peak`
    (precision -> GFLOP/s function) each round also measures every
    precision's matmul peak, so a round's speed can be set against the
    machine's speed at that moment (`peaks_by_round`).

    Returns per variant (`variant_key`) the median (and range) of images/s
    over the rounds and the rounds' values, and medians of per-round ratios, which are what survive
    the load swings of a shared machine: XLA/graph in float32
    (`xla_speedup_train`, `xla_speedup_generate`, when both modes run) and,
    per other precision p, p/float32 in graph mode (`<p>_speedup_train`).
    With `mirrored` (a MirroredStrategy) every precision and XLA mode is also
    timed built under it (keys ending in `MIRRORED`), and
    `mirrored_vs_default_train[key]` is the median per-round ratio of the
    mirrored variant's images/s to the plain one's: what the distribution
    machinery costs (with one replica, pure overhead). Mirrored XLA variants
    synchronize no batch norm (`train.sync_batch_norm: false`, the only way
    tfgen runs XLA under a mirrored strategy).
    """
    variants = {variant_key(p, x): _Variant(config, image_shape, batch, x, p)
                for p in precisions for x in xla_modes}
    if native_filter_gradient:  # 16-bit graph mode with TensorFlow's kernels wherever conv_grads' "auto" would not
        for p in precisions:
            if p != "float32" and False in xla_modes:
                variants[variant_key(p, False) + NATIVE_FILTER_GRADIENT] = _Variant(
                    config, image_shape, batch, False, p, filter_gradient="native")
    if mirrored is not None:
        # Under XLA batch norm runs per replica: its synchronized all-reduce cannot run inside the XLA
        # function under a mirrored strategy (tfgen.training.strategy.resolve_xla refuses the pair).
        per_replica_bn = dataclasses.replace(config, train=dataclasses.replace(config.train, sync_batch_norm=False))
        for p in precisions:
            for x in xla_modes:
                variants[variant_key(p, x) + MIRRORED] = _Variant(per_replica_bn if x else config, image_shape, batch,
                                                                  x, p, strategy=mirrored)
    if reference is not None:  # the authors' code (tools/reference_lrgan.py), in the same rounds
        reference.warm_up()
        variants["reference"] = reference
    warm_up(variants, steps, warm_up_rounds)
    train = {k: [] for k in variants}
    gen = {k: [] for k in variants}
    peaks = {p: [] for p in (precisions if peak is not None else ())}
    for _ in range(rounds):
        for p in peaks:
            peaks[p].append(peak(p))
        for key, variant in variants.items():
            train[key].append(variant.train_images_per_sec(steps))
            gen[key].append(variant.generate_images_per_sec(max(3, steps // 2)))
    out = {"peaks_by_round": peaks} if peaks else {}
    out["images_per_step"] = variants[variant_key(precisions[0], xla_modes[0])].images_per_step
    for key in variants:
        med = float(np.median(train[key]))
        per_step = getattr(variants[key], "images_per_step", batch)
        out[key] = {"train_images_per_sec": med, "train_images_per_sec_range": [min(train[key]), max(train[key])],
                    "train_images_per_sec_rounds": train[key], "train_ms_per_step": 1000 * per_step / med,
                    "generate_images_per_sec": float(np.median(gen[key]))}
    if "xla" in train and "graph" in train:
        out["xla_speedup_train"] = median_ratio(train["xla"], train["graph"])
        out["xla_speedup_generate"] = median_ratio(gen["xla"], gen["graph"])
    base = variant_key("float32", False)
    if mirrored is not None:
        out["mirrored_replicas"] = int(mirrored.num_replicas_in_sync)
        out["mirrored_vs_default_train"] = {
            key: median_ratio(train[key + MIRRORED], train[key])
            for key in train if key + MIRRORED in train}
    if reference is not None:
        # ours / theirs per round, for every variant of ours: what a shared machine cannot bias.
        out["vs_reference_train"] = {key: median_ratio(train[key], train["reference"])
                                     for key in train if key != "reference"}
    for p in precisions:
        key = variant_key(p, False)
        if p != "float32" and key in train and base in train:
            out[f"{p}_speedup_train"] = median_ratio(train[key], train[base])
            out[f"{p}_speedup_generate"] = median_ratio(gen[key], gen[base])
        native = key + NATIVE_FILTER_GRADIENT
        if native in train:
            out[f"{p}_matmul_filter_gradient_speedup_train"] = median_ratio(train[key], train[native])
    return out


def _langevin_loop(model, batch: int):
    """(loop function, steps, chains) of one learning iteration's Langevin loop."""
    cfg = model.model_config
    if cfg.name == "wframe":  # L steps on the M persistent chains
        x = model.bank.to_units(model.sample_latent(cfg.num_chains, seed=0))
        return (lambda: model._langevin(x, cfg.langevin_steps, seed=[1, 2])), cfg.langevin_steps, cfg.num_chains
    # andor: l_G steps on a batch's latents, posterior of the batch's images
    images = tf.random.stateless_uniform((batch, *model.image_shape), seed=[3, 4], minval=-1, maxval=1)
    z0 = model.latent_batch(batch, seed=5)
    steps = tf.constant(cfg.langevin_steps)
    return (lambda: model._infer_impl(images, z0, steps, seed=[1, 2])), cfg.langevin_steps, batch


def time_langevin(config, image_shape, rounds: int, batch: int, peak_gflops: float | None = None) -> dict:
    """One learning iteration's Langevin loop (wFRAME: L steps on the M chains;
    AND-OR: l_G steps on a batch of latents) run eagerly, as a graph and under
    XLA, in alternating rounds; ms per loop and the ratios (median of
    per-round ratios). With `peak_gflops` (the matmul peak of the precision
    the loop runs in), also the loop's static FLOP count and, per mode, the
    GFLOP/s it achieved and its fraction of that peak."""
    model = build_model(config, image_shape, num_classes=10, xla=False)
    model.compile()
    loop, steps, chains = _langevin_loop(model, batch)

    fns = {"eager": loop, "graph": tf.function(loop), "xla": tf.function(loop, jit_compile=True)}
    for f in fns.values():
        f().numpy()  # trace / compile
    ms = {k: [] for k in fns}
    for _ in range(rounds):
        for key, f in fns.items():
            t = time.perf_counter()
            f().numpy()
            ms[key].append(1000 * (time.perf_counter() - t))
    out = {f"{k}_ms": float(np.median(v)) for k, v in ms.items()}
    out["steps"], out["chains"] = int(steps), int(chains)
    out["graph_speedup_over_eager"] = median_ratio(ms["eager"], ms["graph"])
    out["xla_speedup_over_graph"] = median_ratio(ms["graph"], ms["xla"])
    if peak_gflops:
        out["gflop_per_loop"] = gflop = langevin_loop_gflops(config, image_shape, batch)
        for k in fns:
            out[f"{k}_gflops"] = gflop / (out[f"{k}_ms"] / 1000)
            out[f"{k}_fraction_of_matmul_peak"] = out[f"{k}_gflops"] / peak_gflops
    return out


# -- soak mode ----------------------------------------------------------------

# --tiny (tests, smoke runs): each model's smallest sensible width, 16x16 images, batch 16.
TINY_SIZE = 16
TINY_BATCH = 16

# Verdict rule of `memory_trend`. RSS of a healthy TF process is not a smooth
# curve: the allocator keeps freed activation buffers in its arenas and takes
# memory from / gives it back to the OS in lumps. Two 600-step dcgan 32x32x1
# soaks on this CPU showed both kinds of noise: one jittered (residual SD ~8
# MiB around the fitted line, swings of up to 25 MiB between chunks), the
# other was a staircase (flat, +3 MiB at step 175, +5 MiB at step 325, then
# flat to the end within 20 KiB). A leak is growth that keeps accumulating,
# so memory is reported growing only when the least-squares fit shows growth
# that is all of
#   * significant: slope > GROWTH_Z x its standard error. The noise is
#     measured on the series itself, so a jittery run needs a clearer trend.
#     Under independent normal noise z = 3 errs on a flat process about once
#     in 740 soaks. Lumpy noise is not independent (a staircase fits a line
#     with a small error), hence the persistence test;
#   * material: the growth the line predicts over the measured window
#     (slope x window steps) >= the larger of MATERIAL_GROWTH_KIB and
#     MATERIAL_GROWTH_FRACTION of the start RSS. This keeps a short, smooth
#     soak from flagging the allocator settling in (the quick 40-step tiny
#     soak rises ~0.6 MiB with a slope 15 standard errors above zero).
#     4 MiB is about one large activation buffer of the reference models
#     (64 x 16 x 16 x 64 floats); 1% of RSS scales that with the process;
#   * persistent: a line fitted to each half of the window alone predicts at
#     least half that floor over its half. A leak grows in both halves; the
#     allocator settling in comes in lumps that end (the staircase above
#     gained 8 MiB in its first half and 0.02 MiB in its second).
# The smallest slope a soak can flag is reported as
# `detectable_slope_kib_per_step` = max(floor / window, z x standard error):
# a longer soak resolves smaller leaks (both terms shrink with the window),
# as it should, since a leak grows linearly and allocator noise does not.
GROWTH_Z = 3.0
MATERIAL_GROWTH_KIB = 4 * 1024
MATERIAL_GROWTH_FRACTION = 0.01


def read_memory_kib() -> dict:
    """This process's resident memory now (VmRSS) and its peak so far (VmHWM), KiB."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])  # "    123456 kB"; the kernel's kB are KiB
    return {"rss_kib": found["VmRSS"], "hwm_kib": found["VmHWM"]}


def _fit_line(x: np.ndarray, y: np.ndarray):
    """Least-squares slope of y on x and its standard error (independent residuals assumed)."""
    # Centred sums: the textbook formula, stable for large step numbers.
    dx, dy = x - x.mean(), y - y.mean()
    sxx = float(np.dot(dx, dx))
    slope = float(np.dot(dx, dy)) / sxx
    residuals = dy - slope * dx
    return slope, math.sqrt(float(np.dot(residuals, residuals)) / (len(x) - 2) / sxx)


def memory_trend(steps, rss_kib, floor_kib: float = MATERIAL_GROWTH_KIB,
                 floor_fraction: float = MATERIAL_GROWTH_FRACTION, z: float = GROWTH_Z) -> dict:
    """Least-squares line through (step, RSS KiB) samples and the flat/growing verdict.

    Args:
      steps: training step of each sample (increasing); the first one starts
        the measured window (after warm-up). At least 5 samples, so that
        each half of the window has a line of its own.
      rss_kib: VmRSS at those steps, KiB.
      floor_kib, floor_fraction, z: the verdict rule (see GROWTH_Z above).

    Returns a dict: slope (KiB/step) and its standard error, the growth the
    line predicts over the window and the observed start->end growth (MiB),
    the growth predicted over each half, the materiality floor, the smallest
    slope this series could flag, the three tests and `memory_flat`: False
    only when the growth is significant, material and persistent.
    """
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(rss_kib, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 5:
        raise ValueError(f"need >= 5 (step, rss) samples of equal length, got {x.shape} and {y.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("steps must increase")
    slope, stderr = _fit_line(x, y)
    window = float(x[-1] - x[0])
    fitted_growth_kib = slope * window
    floor = max(float(floor_kib), floor_fraction * float(y[0]))
    # Halves share the middle sample, so together they cover the window once.
    mid = len(x) // 2
    halves = [(x[: mid + 1], y[: mid + 1]), (x[mid:], y[mid:])]
    half_growth_kib = [_fit_line(hx, hy)[0] * float(hx[-1] - hx[0]) for hx, hy in halves]
    significant = slope > z * stderr
    material = fitted_growth_kib >= floor
    # Each half's share of the floor is in proportion to its length (about half).
    persistent = all(g >= floor * float(hx[-1] - hx[0]) / window for g, (hx, _) in zip(half_growth_kib, halves))
    return {
        "slope_kib_per_step": slope,
        "slope_stderr_kib_per_step": stderr,
        "window_steps": int(window),
        "fitted_growth_mib": fitted_growth_kib / 1024,
        "observed_growth_mib": float(y[-1] - y[0]) / 1024,
        "first_half_growth_mib": half_growth_kib[0] / 1024,
        "second_half_growth_mib": half_growth_kib[1] / 1024,
        "material_growth_mib": floor / 1024,
        "growth_significant": bool(significant),
        "growth_material": bool(material),
        "growth_persistent": bool(persistent),
        "detectable_slope_kib_per_step": max(floor / window, z * stderr),
        "memory_flat": not (significant and material and persistent),
    }


def count_train_step_traces(model) -> dict:
    """Counts the traces of `model.train_step`; returns the live counter {"traces": n}.

    Under `fit` (graph mode) the Python body of train_step runs only while
    TensorFlow traces it into a graph; every later step replays the graph. So
    the number of Python calls is the number of traces, whatever Keras wraps
    around it. Must be installed before the first `fit`, which captures
    `model.train_step` when it builds `model.train_function`.
    """
    counter = {"traces": 0}
    step = model.train_step

    def counted_train_step(data):
        counter["traces"] += 1
        return step(data)

    model.train_step = counted_train_step
    return counter


def tf_function_traces(model) -> dict:
    """Tracing counts of the graph functions a train step runs: name -> count.

    The model's own inner functions (attributes, e.g. DCGAN's `_d_grads`) and
    the functions Keras builds around train_step, found in the closure of
    `model.train_function` (a plain Python function in Keras 3). Reporting
    only: the Keras part depends on its internals and may come back empty.
    """
    found = {}
    polymorphic = tf.types.experimental.PolymorphicFunction
    for attr, value in vars(model).items():
        if isinstance(value, polymorphic):
            found[attr] = value.experimental_get_tracing_count()

    def visit(obj, depth):
        if isinstance(obj, polymorphic):
            found.setdefault(getattr(obj, "__name__", "tf_function"), obj.experimental_get_tracing_count())
        elif depth > 0 and isinstance(obj, types.FunctionType):
            for cell in obj.__closure__ or ():
                try:
                    visit(cell.cell_contents, depth - 1)
                except ValueError:  # a cell not filled yet
                    pass
            visit(getattr(obj, "__wrapped__", None), depth - 1)

    visit(getattr(model, "train_function", None), 3)
    return found


class SoakMonitor(keras.callbacks.Callback):
    """Samples ms/step and memory after every chunk of steps (one Keras epoch).

    Keeps only Python ints and floats, never the logs' tensors, so its own
    footprint grows by a few hundred bytes per chunk. It hooks epochs only: a
    batch hook would make Keras convert the logs to Python after every step
    (a device sync per step), which changes the step time being measured.

    `leak_kib_per_step` > 0 deliberately retains that much memory per step
    (written, so resident): the positive control that shows a leak is seen.
    """

    def __init__(self, chunk: int, warmup_chunks: int, trace_counter: dict, leak_kib_per_step: int = 0):
        super().__init__()
        self.chunk = chunk
        self.warmup_chunks = warmup_chunks
        self.trace_counter = trace_counter
        self.leak_kib_per_step = leak_kib_per_step
        self.series = []
        self.train_function_at_start = None
        self.tf_traces_at_start = {}
        self._ballast = []
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        # Keras waits for the chunk's last step (and has read the metrics)
        # before on_epoch_end, so this is the chunk's full compute time.
        seconds = time.perf_counter() - self._t0
        if self.leak_kib_per_step:
            self._ballast.append(np.ones(self.leak_kib_per_step * self.chunk * 1024 // 8))  # float64: 8 B
        # Cyclic garbage is freed eventually and is no leak; collect it so the
        # sample shows what the process really keeps. Outside the timed part.
        gc.collect()
        self.series.append({"step": (epoch + 1) * self.chunk, "ms_per_step": 1000 * seconds / self.chunk,
                            "train_step_traces": self.trace_counter["traces"],
                            "warmup": epoch < self.warmup_chunks, **read_memory_kib()})
        if epoch + 1 == self.warmup_chunks:
            self.train_function_at_start = self.model.train_function
            self.tf_traces_at_start = tf_function_traces(self.model)


def soak_case(config, image_shape, batch: int, xla: bool = False, soak_steps: int = 600, chunk: int = 25,
              warmup_steps: int = 50, leak_kib_per_step: int = 0) -> dict:
    """Trains one model for warmup_steps + soak_steps steps in one `fit`; the soak report.

    One `fit` with one epoch per chunk, like a long training run (the runner
    also makes a single `fit` call): a `fit` per chunk would add a new data
    iterator, callback list and history per chunk, i.e. measure Keras set-up
    rather than the train step. The start sample is taken after the warm-up
    (tracing and the allocator's first growth), the end sample after the last
    chunk; the memory trend is fitted on the samples from start to end.
    """
    if chunk < 1 or warmup_steps < chunk or warmup_steps % chunk or soak_steps % chunk:
        raise ValueError(f"warmup_steps ({warmup_steps}) and soak_steps ({soak_steps}) must be positive "
                         f"multiples of chunk ({chunk}), warm-up at least one chunk (it holds the tracing)")
    if soak_steps < 4 * chunk:  # 5 samples with the start one: a line per half of the window
        raise ValueError(f"soak_steps ({soak_steps}) must span at least 4 chunks of {chunk}")
    model = build_model(config, image_shape, num_classes=10, xla=xla)
    model.compile()
    traces = count_train_step_traces(model)
    warmup_chunks = warmup_steps // chunk
    monitor = SoakMonitor(chunk, warmup_chunks, traces, leak_kib_per_step)
    chunks = warmup_chunks + soak_steps // chunk
    history = model.fit(batches(image_shape, images_per_step(model, batch)), epochs=chunks,
                        steps_per_epoch=chunk, callbacks=[monitor], verbose=0, shuffle=False)

    series = monitor.series
    start, first, end = series[warmup_chunks - 1], series[warmup_chunks], series[-1]
    measured = series[warmup_chunks - 1:]
    trend = memory_trend([s["step"] for s in measured], [s["rss_kib"] for s in measured])
    tf_traces_end = tf_function_traces(model)
    tracing = {
        "train_step_traces": traces["traces"],
        "train_step_traces_during_soak": traces["traces"] - start["train_step_traces"],
        "tf_function_traces": tf_traces_end,
        "tf_function_traces_during_soak": {k: v - monitor.tf_traces_at_start.get(k, 0)
                                           for k, v in tf_traces_end.items()},
        "train_function_unchanged": model.train_function is monitor.train_function_at_start,
    }
    tracing["traced_once"] = bool(traces["traces"] == 1 and all(v == 1 for v in tf_traces_end.values())
                                  and tracing["train_function_unchanged"])
    mib = lambda kib: kib / 1024  # noqa: E731
    row = {
        "warmup_steps": warmup_steps, "soak_steps": soak_steps, "chunk_steps": chunk,
        "steps_run": len(series) * chunk,
        "optimizer_iterations": {name: int(opt.iterations.numpy())
                                 for name, opt in model.optimizers_by_name().items()},
        "rss_start_mib": mib(start["rss_kib"]), "rss_end_mib": mib(end["rss_kib"]),
        "hwm_start_mib": mib(start["hwm_kib"]), "hwm_end_mib": mib(end["hwm_kib"]),
        "rss_growth_mib": mib(end["rss_kib"] - start["rss_kib"]),
        "hwm_growth_mib": mib(end["hwm_kib"] - start["hwm_kib"]),
        "ms_per_step_start": first["ms_per_step"], "ms_per_step_end": end["ms_per_step"],
        "ms_per_step_end_over_start": end["ms_per_step"] / first["ms_per_step"],
        "ms_per_step_median": float(np.median([s["ms_per_step"] for s in series[warmup_chunks:]])),
        **trend,
        "tracing": tracing,
        "final_metrics": {k: float(v[-1]) for k, v in history.history.items()},
        "series": series,
    }
    return row


def soak_cases(names_, tiny: bool, all_cases: bool):
    """(name, label, overrides, config, image shape, batch) per soak: each model's first CASES entry
    (its reference shape) unless all_cases; --tiny shrinks it to TINY_* sizes."""
    for name in names_:
        for model_name, label, overrides, shape, batch in CASES[name][: None if all_cases else 1]:
            if tiny:
                overrides = {**overrides, **config_lib.tiny_overrides(model_name)}
                shape, batch = (TINY_SIZE, TINY_SIZE, shape[-1]), TINY_BATCH
                label = f"{TINY_SIZE}x{TINY_SIZE}x{shape[-1]}-tiny"
            config = config_lib.config_from_dict({"model": {"name": model_name, **overrides},
                                                  "train": {"batch_size": batch}})
            yield name, label, overrides, config, shape, batch


def soak_main(args, models) -> dict:
    if args.quick:  # smoke run: seconds, not minutes
        soak_steps, chunk, warmup = 40, 5, 10
    else:
        soak_steps, chunk, warmup = args.soak_steps, args.soak_chunk, args.soak_warmup
    xla_modes = {"off": [False], "on": [True], "both": [False, True]}[args.soak_xla]
    rows = []
    for name, label, overrides, config, shape, batch in soak_cases(models, args.tiny, args.soak_all_cases):
        for xla in xla_modes:
            row = soak_case(config, shape, batch, xla=xla, soak_steps=soak_steps, chunk=chunk, warmup_steps=warmup,
                            leak_kib_per_step=args.soak_leak_kib_per_step)
            row = {"model": name, "case": label, "image_shape": list(shape), "batch_size": batch,
                   "overrides": overrides, "xla": xla, **row}
            rows.append(row)
            tr = row["tracing"]
            print(f"{name:8s} {label:14s} {'xla' if xla else 'graph':5s} "
                  f"RSS {row['rss_start_mib']:.1f}->{row['rss_end_mib']:.1f} MiB "
                  f"(peak {row['hwm_start_mib']:.1f}->{row['hwm_end_mib']:.1f})  "
                  f"slope {row['slope_kib_per_step']:+.2f}±{row['slope_stderr_kib_per_step']:.2f} KiB/step "
                  f"over {row['window_steps']} steps: {'flat' if row['memory_flat'] else 'GROWING'}  "
                  f"ms/step {row['ms_per_step_start']:.1f}->{row['ms_per_step_end']:.1f}  "
                  f"traces {tr['train_step_traces']}{'' if tr['traced_once'] else ' RETRACED'}", flush=True)
            # Free this model's graphs and variables before the next soak starts.
            keras.backend.clear_session()
            gc.collect()
    return {"mode": "soak", "tensorflow": tf.__version__, "keras": keras.__version__,
            "devices": [d.name for d in tf.config.list_logical_devices()], "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "settings": {"soak_steps": soak_steps, "chunk_steps": chunk, "warmup_steps": warmup, "tiny": args.tiny,
                         "xla": args.soak_xla, "leak_kib_per_step": args.soak_leak_kib_per_step},
            "flatness_rule": (f"least-squares RSS slope over the post-warm-up samples; memory_flat is false "
                              f"only if slope > {GROWTH_Z:g} standard errors AND slope x window >= "
                              f"floor = max({MATERIAL_GROWTH_KIB / 1024:g} MiB, {100 * MATERIAL_GROWTH_FRACTION:g}% "
                              f"of start RSS) AND a line fitted to each half of the window predicts >= half the "
                              f"floor over it (see GROWTH_Z in tools/benchmark.py)"),
            "soak": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="JSON report (default runs/benchmark.json, with --soak runs/soak.json)")
    p.add_argument("--models", nargs="*", default=None, help=f"subset of {names()}")
    p.add_argument("--steps", type=int, default=10, help="timed train steps per round")
    p.add_argument("--rounds", type=int, default=5, help="alternating graph/XLA rounds per case")
    p.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"], choices=list(PRODUCT_DTYPES),
                   help="train.precision values to time (each model only in those it supports)")
    p.add_argument("--xla", choices=["off", "on", "both"], default="both", help="XLA variants to time")
    p.add_argument("--native-filter-gradient", action="store_true",
                   help="also time each 16-bit precision (graph mode) with TensorFlow's own kernels where 'auto' "
                        "takes matrix products (tfgen.ops.conv_grads: the strided layers' filter gradients, the "
                        "1-4-channel heads' forward pass)")
    p.add_argument("--mirrored", action="store_true",
                   help="also time every variant built under a MirroredStrategy over all local GPUs (or the "
                        "CPU), in the same rounds: its overhead over the plain model (train.strategy: mirrored)")
    p.add_argument("--vs-reference", metavar="CHECKOUT", default=None,
                   help="also time the LR-GAN authors' PyTorch code (a local checkout of jwyang/lr-gan.pytorch, "
                        "branch pytorch-1.0; needs torch) in the same rounds as the lrgan cases")
    p.add_argument("--quick", action="store_true",
                   help="first case of each model only, 5 steps (smoke run); with --soak: 10 warm-up + 40 steps "
                        "in chunks of 5")
    soak = p.add_argument_group("soak mode")
    soak.add_argument("--soak", action="store_true",
                      help="instead of timing: train each model for a fixed number of steps and track memory "
                           "(VmRSS, VmHWM), ms/step and tracing")
    soak.add_argument("--soak-steps", type=int, default=600, help="measured steps after the warm-up")
    soak.add_argument("--soak-chunk", type=int, default=25, help="steps between samples")
    soak.add_argument("--soak-warmup", type=int, default=50,
                      help="steps before the start sample (tracing, allocator growth); a multiple of --soak-chunk")
    soak.add_argument("--soak-xla", choices=["off", "on", "both"], default="off",
                      help="XLA for the soaked models (off: the CPU default of train.xla=auto)")
    soak.add_argument("--soak-all-cases", action="store_true",
                      help="soak every CASES entry of a model, not just its first (reference) shape")
    soak.add_argument("--soak-leak-kib-per-step", type=int, default=0,
                      help="positive control: retain this much memory per step on purpose, to see it flagged")
    soak.add_argument("--tiny", action="store_true",
                      help=f"soak small stand-ins: {TINY_SIZE}x{TINY_SIZE} images, batch {TINY_BATCH}, "
                           f"and each model config's TINY settings")
    args = p.parse_args(argv)
    if args.vs_reference:
        try:  # one line, before any timing, when torch or the checkout is missing
            load_reference_classes(args.vs_reference, image_size=32, channels=3, timesteps=2)
        except ReferenceUnavailable as e:
            p.error(f"--vs-reference: {e}")

    models = args.models or [m for m in names() if m in CASES]
    unknown = [m for m in models if m not in CASES]
    if unknown:
        p.error(f"--models: no benchmark cases for {unknown} (have {sorted(CASES)})")
    if args.soak:
        report = soak_main(args, models)
        out = args.out or "runs/soak.json"
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {out}")
        return 0
    args.out = args.out or "runs/benchmark.json"
    steps = 5 if args.quick else args.steps
    rounds = 2 if args.quick else args.rounds
    peaks = {p: matmul_peak_gflops(dtype=PRODUCT_DTYPES[p]) for p in args.precisions}
    peak = peaks.get("float32") or matmul_peak_gflops()
    for p, value in peaks.items():
        print(f"{PRODUCT_DTYPES[p].name} matmul peak: {value:.1f} GFLOP/s", flush=True)
    xla_modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.xla]
    mirrored = make_strategy("mirrored") if args.mirrored else None
    results = []
    for name in models:
        for model_name, label, overrides, shape, batch in CASES[name][: 1 if args.quick else None]:
            config = config_lib.config_from_dict({"model": {"name": model_name, **overrides},
                                                  "train": {"batch_size": batch}})
            precisions = [p for p in args.precisions if p in get_model_class(model_name).precisions]
            gflop = train_step_gflops(config, shape, batch)
            row = {"model": name, "case": label, "batch_size": batch, "gflop_per_train_step": gflop}
            reference = None
            if args.vs_reference and model_name == "lrgan":
                reference = ReferenceLRGAN(args.vs_reference, shape, overrides.get("timesteps", 2), batch,
                                           maxobjscale=overrides.get("min_object_scale", 1.2))
                row["reference_parameters"] = reference.parameter_count()
                row["reference_settings"] = {**reference.settings, "torch": reference.torch.__version__}
            timing = time_side_by_side(config, shape, batch, steps, rounds, precisions, xla_modes, reference,
                                       native_filter_gradient=args.native_filter_gradient, mirrored=mirrored,
                                       peak=lambda p: matmul_peak_gflops(dtype=PRODUCT_DTYPES[p]))
            row["matmul_peaks_by_round"] = timing["peaks_by_round"]
            row["images_per_step"] = fed = timing["images_per_step"]

            def fraction(t, p):  # median over rounds of that round's GFLOP/s over that round's peak
                return round_fraction_of_peak(gflop, fed, t["train_images_per_sec_rounds"],
                                              timing["peaks_by_round"][p])
            if reference is not None:
                row["reference"] = timing["reference"]
                row["vs_reference_train"] = timing["vs_reference_train"]
                print(f"{name:8s} {label:10s} authors' PyTorch train {timing['reference']['train_images_per_sec']:7.1f}"
                      f" img/s; ours/theirs (median of per-round ratios): "
                      + ", ".join(f"{k} x{v:.2f}" for k, v in timing["vs_reference_train"].items()), flush=True)
            for p in precisions:
                for xla in xla_modes:
                    key = variant_key(p, xla)
                    t = timing[key]
                    achieved = gflop * t["train_images_per_sec"] / fed
                    row[key] = {**t, "achieved_gflops": achieved, "fraction_of_matmul_peak": fraction(t, p)}
                    print(f"{name:8s} {label:10s} {key:20s} train {t['train_images_per_sec']:7.1f} img/s "
                          f"(median of {rounds}, range {t['train_images_per_sec_range'][0]:.0f}-"
                          f"{t['train_images_per_sec_range'][1]:.0f}; {achieved:.1f} GFLOP/s = "
                          f"{100 * fraction(t, p):.0f}% of its peak)  "
                          f"generate {t['generate_images_per_sec']:8.1f} img/s", flush=True)
                native = variant_key(p, False) + NATIVE_FILTER_GRADIENT
                if native in timing:
                    t = timing[native]
                    row[native] = {**t, "fraction_of_matmul_peak": fraction(t, p)}
                    row[f"{p}_matmul_filter_gradient_speedup_train"] = s = \
                        timing[f"{p}_matmul_filter_gradient_speedup_train"]
                    print(f"{name:8s} {label:10s} {native:20s} train {t['train_images_per_sec']:7.1f} img/s; "
                          f"matmul filter gradients and heads x{s:.2f} (median of per-round ratios)", flush=True)
                for xla in xla_modes if mirrored is not None else ():
                    key = variant_key(p, xla)
                    t, ratio = timing[key + MIRRORED], timing["mirrored_vs_default_train"][key]
                    row[key + MIRRORED] = {**t, "fraction_of_matmul_peak": fraction(t, p)}
                    print(f"{name:8s} {label:10s} {key + MIRRORED:20s} train {t['train_images_per_sec']:7.1f} "
                          f"img/s; mirrored / plain x{ratio:.2f} ({timing['mirrored_replicas']} replica(s), "
                          f"median of per-round ratios)", flush=True)
                if p != "float32" and f"{p}_speedup_train" in timing:
                    row[f"{p}_speedup_train"] = timing[f"{p}_speedup_train"]
                    print(f"{name:8s} {label:10s} {p}/float32 (graph): train x{timing[f'{p}_speedup_train']:.2f}",
                          flush=True)
            if name in LANGEVIN_MODELS:
                # wFRAME and AND-OR train in float32 only (their `precisions`): the loops run in it.
                row["langevin"] = lv = time_langevin(config, shape, rounds, batch, peak_gflops=peak)
                print(f"{name:8s} {label:10s} Langevin loop ({lv['steps']} steps, {lv['chains']} chains, "
                      f"{lv['gflop_per_loop']:.1f} GFLOP): eager {lv['eager_ms']:.0f} ms, "
                      f"graph {lv['graph_ms']:.0f} ms ({100 * lv['graph_fraction_of_matmul_peak']:.0f}% of the "
                      f"float32 peak), XLA {lv['xla_ms']:.0f} ms; graph/eager x{lv['graph_speedup_over_eager']:.2f}, "
                      f"XLA/graph x{lv['xla_speedup_over_graph']:.2f}", flush=True)
            if mirrored is not None:
                row["mirrored_replicas"] = timing["mirrored_replicas"]
                row["mirrored_vs_default_train"] = timing["mirrored_vs_default_train"]
            if "xla_speedup_train" in timing:
                row["xla_speedup"] = timing["xla_speedup_train"]
                row["xla_speedup_generate"] = timing["xla_speedup_generate"]
                print(f"{name:8s} {label:10s} XLA/graph: train x{row['xla_speedup']:.2f}, "
                      f"generate x{row['xla_speedup_generate']:.2f} (median of per-round ratios)", flush=True)
            results.append(row)
    report = {"matmul_peak_gflops": peak, "matmul_peak_gflops_by_precision": peaks,
              "steps": steps, "rounds": rounds, "tensorflow": tf.__version__,
              "devices": [d.name for d in tf.config.list_logical_devices()], "machine": platform.machine(),
              "cpu_count": os.cpu_count(),
              "mirrored_devices": list(mirrored.extended.worker_devices) if mirrored is not None else None,
              "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
