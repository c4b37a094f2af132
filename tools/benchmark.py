#!/usr/bin/env python
"""Times training steps and generation of every registered tfgen model.

For each model at fixed shapes, with XLA off and on, measured side by side in
one run (absolute numbers drift on shared machines; compare ratios):

* train images/s (full train step: every sub-network's update),
* generate images/s (`model.generate` in a graph function),
* GFLOP per train step (static count of the traced step: conv, matmul, ...)
  and the achieved GFLOP/s next to this machine's fp32 matmul peak.

Usage:
    python tools/benchmark.py --out runs/benchmark.json [--models dcgan] [--steps 20] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfgen.models  # noqa: E402,F401
from tfgen import config as config_lib  # noqa: E402
from tfgen.models import GenerativeModel, build_model, names  # noqa: E402

# (model name, label, model overrides, image shape, batch size)
CASES = {
    "dcgan": [
        ("dcgan", "32x32x1", {}, (32, 32, 1), 64),
        ("dcgan", "32x32x3", {}, (32, 32, 3), 64),
        ("dcgan", "64x64x1", {}, (64, 64, 1), 64),
    ],
}


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    f = tf.function(lambda x, y: tf.matmul(x, y))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def train_step_gflops(config, image_shape, batch: int) -> float:
    """Static FLOP count of one train step, traced with inner functions inlined."""
    GenerativeModel.inline_inner_functions = True
    try:
        model = build_model(config, image_shape, num_classes=10, xla=False)
        model.compile()
    finally:
        GenerativeModel.inline_inner_functions = False
    spec = {"image": tf.TensorSpec([batch, *image_shape], tf.float32),
            "label": tf.TensorSpec([batch], tf.int32), "index": tf.TensorSpec([batch], tf.int64)}
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops / 1e9


def batches(image_shape, batch: int) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    n = batch * 4
    data = {"image": rng.uniform(-1, 1, (n, *image_shape)).astype("float32"),
            "label": rng.integers(0, 10, n).astype("int32"), "index": np.arange(n, dtype="int64")}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True).repeat().prefetch(2)


def time_training(config, image_shape, batch: int, xla: bool, steps: int) -> dict:
    model = build_model(config, image_shape, num_classes=10, xla=xla)
    model.compile()
    ds = batches(image_shape, batch)
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace and compile
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - t
    gen = tf.function(lambda z: model.generate(z), jit_compile=xla)
    z = tf.random.normal([batch, model.latent_dim])
    gen(z).numpy()
    reps = max(3, steps // 2)
    t = time.perf_counter()
    for _ in range(reps):
        gen(z).numpy()
    gen_seconds = time.perf_counter() - t
    return {"train_images_per_sec": steps * batch / seconds, "train_ms_per_step": 1000 * seconds / steps,
            "generate_images_per_sec": reps * batch / gen_seconds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/benchmark.json")
    p.add_argument("--models", nargs="*", default=None, help=f"subset of {names()}")
    p.add_argument("--steps", type=int, default=20, help="timed train steps per case")
    p.add_argument("--quick", action="store_true", help="first case of each model only, 5 steps (smoke run)")
    args = p.parse_args(argv)

    models = args.models or [m for m in names() if m in CASES]
    steps = 5 if args.quick else args.steps
    peak = matmul_peak_gflops()
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s", flush=True)
    results = []
    for name in models:
        for model_name, label, overrides, shape, batch in CASES[name][: 1 if args.quick else None]:
            config = config_lib.config_from_dict({"model": {"name": model_name, **overrides},
                                                  "train": {"batch_size": batch}})
            gflop = train_step_gflops(config, shape, batch)
            row = {"model": name, "case": label, "batch_size": batch, "gflop_per_train_step": gflop}
            for xla in (False, True):
                timing = time_training(config, shape, batch, xla, steps)
                achieved = gflop * timing["train_images_per_sec"] / batch
                key = "xla" if xla else "graph"
                row[key] = {**timing, "achieved_gflops": achieved, "fraction_of_matmul_peak": achieved / peak}
                print(f"{name:8s} {label:10s} {key:5s} train {timing['train_images_per_sec']:7.1f} img/s "
                      f"({timing['train_ms_per_step']:.0f} ms/step, {achieved:.1f} GFLOP/s = "
                      f"{100 * achieved / peak:.0f}% of peak)  generate {timing['generate_images_per_sec']:8.1f} img/s",
                      flush=True)
            row["xla_speedup"] = row["xla"]["train_images_per_sec"] / row["graph"]["train_images_per_sec"]
            results.append(row)
    report = {"matmul_peak_gflops": peak, "steps": steps, "tensorflow": tf.__version__,
              "devices": [d.name for d in tf.config.list_logical_devices()], "machine": platform.machine(),
              "cpu_count": os.cpu_count(), "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
