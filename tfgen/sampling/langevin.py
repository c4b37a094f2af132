"""Unadjusted Langevin dynamics, shared by the AND-OR network and FRAME.

The update (e.g. AND-OR paper Eq. 13-14, FRAME/wFRAME Algorithm 1) is

    x <- x + step_size**2 / 2 * grad_x log p(x) + step_size * eps,  eps ~ N(0, I)

The loop is a `tf.while_loop` over a pure function of tensors, so it runs
eagerly, inside `tf.function`, and under XLA (`jit_compile=True`). Noise is
drawn with stateless RNG from a (seed, step) pair, so a given seed gives the
same chain eagerly and in graph mode, and the same chain on every XLA run
(XLA's Philox kernel lays the stream out differently from the CPU kernel, so
an XLA chain is a different, equally valid draw).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Optional, Union

import tensorflow as tf

_UNROLL = [False]


@contextlib.contextmanager
def unrolled_loops():
    """Langevin loops traced inside run as Python loops when their step count is static.

    One graph then holds every step, for tools that count a traced train
    step's FLOPs (tools/benchmark.py): a static count sees a
    `tf.while_loop`'s body once, whatever its trip count. Not for training:
    tracing grows with the steps.
    """
    before = _UNROLL[0]
    _UNROLL[0] = True
    try:
        yield
    finally:
        _UNROLL[0] = before


def _seed_pair(seed) -> tf.Tensor:
    """Turns None, an int, or a shape-[2] tensor into an int32 [2] stateless seed."""
    if seed is None:
        return tf.random.uniform([2], minval=0, maxval=2**31 - 1, dtype=tf.int32)
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        return tf.stack([tf.cast(seed, tf.int32), tf.constant(0x5EED, tf.int32)])
    return tf.cast(seed, tf.int32)


def langevin(
    log_prob_fn: Callable[[tf.Tensor], tf.Tensor],
    x0: tf.Tensor,
    step_size: Union[float, tf.Tensor],
    num_steps: Union[int, tf.Tensor],
    seed=None,
    trace_fn: Optional[Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = None,
    noise: bool = True,
    noise_fn: Optional[Callable[[tf.Tensor], tf.Tensor]] = None,
):
    """Runs `num_steps` Langevin steps from `x0` and returns the final state.

    Args:
      log_prob_fn: maps x (shape of `x0`) to log p(x) up to a constant, either
        a scalar or one value per chain ([batch]); chains must be independent
        (the sum over chains is differentiated).
      x0: float tensor [batch, ...], the chains' starting points.
      step_size: the Langevin step delta (> 0). Scalar, or broadcastable to x.
      num_steps: number of updates (python int or int32 scalar tensor).
      seed: None (fresh randomness), an int, or an int32 [2] stateless seed.
        The same seed gives the same chain eagerly and in graph mode; under
        XLA it is reproducible run to run but a different draw.
      trace_fn: optional `f(x, log_prob) -> tensor` evaluated before every
        update (e.g. per-step energies for an energy curve). When given, the
        result is `(x_final, trace)` with trace stacked over steps:
        [num_steps, ...].
      noise: set False for deterministic gradient ascent (step_size**2 / 2
        times the gradient, no noise); used by tests and MAP inference.
      noise_fn: optional `f(step) -> eps` (shape of `x0`) replacing the
        seeded N(0, I) draws, e.g. slices of noise drawn for a whole global
        batch so that chains split over replicas get the noise one device
        would give them. `seed` is then unused.

    Returns:
      x_final with the shape and dtype of `x0`, or `(x_final, trace)` when
      `trace_fn` is given.
    """
    x0 = tf.convert_to_tensor(x0)
    step_size = tf.cast(step_size, x0.dtype)
    num_steps = tf.convert_to_tensor(num_steps, dtype=tf.int32)
    base_seed = _seed_pair(seed)

    def grad_and_logp(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logp = log_prob_fn(x)
            total = tf.reduce_sum(logp)
        return tape.gradient(total, x), logp

    def step(i, x, trace):
        grad, logp = grad_and_logp(x)
        if trace_fn is not None:
            trace = trace.write(i, tf.cast(trace_fn(x, logp), x.dtype))
        x_new = x + 0.5 * tf.square(step_size) * grad
        if noise and noise_fn is not None:
            x_new = x_new + step_size * tf.cast(noise_fn(i), x.dtype)
        elif noise:
            eps = tf.random.stateless_normal(
                tf.shape(x), seed=tf.stack([base_seed[0], base_seed[1] + i]), dtype=x.dtype,
                alg="philox")  # pinned: auto_select may change the algorithm between devices
            x_new = x_new + step_size * eps
        return i + 1, x_new, trace

    static_steps = tf.get_static_value(num_steps)
    if _UNROLL[0] and static_steps is not None and trace_fn is None:
        x = x0
        for i in range(int(static_steps)):
            _, x, _ = step(tf.constant(i, tf.int32), x, None)
        return x
    trace0 = tf.TensorArray(x0.dtype, size=num_steps) if trace_fn is not None else tf.constant(0.0)
    _, x_final, trace = tf.while_loop(
        lambda i, x, t: i < num_steps,
        step,
        (tf.constant(0, tf.int32), x0, trace0),
    )
    if trace_fn is not None:
        return x_final, trace.stack()
    return x_final
