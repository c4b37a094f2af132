"""tfgen.ops.FusedAdam against Adam's formula and against keras.optimizers.Adam."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.ops import FusedAdam


def _gradients(shapes, steps, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [[rng.normal(0, 1, s).astype(dtype) for s in shapes] for _ in range(steps)]


def _run(optimizer, init, grads, graph=True):
    variables = [keras.Variable(v) for v in init]
    apply = (lambda g: optimizer.apply(g, variables))
    apply = tf.function(apply) if graph else apply
    for g in grads:
        apply([tf.constant(x) for x in g])
    return variables, optimizer


def _adam_by_formula(init, grads, lr, b1, b2, eps):
    """Kingma & Ba's Algorithm 1 with the bias correction in the step size, float64."""
    theta = [np.array(v, np.float64) for v in init]
    m = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    for t, g in enumerate(grads, start=1):
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for i, gi in enumerate(g):
            m[i] += (1 - b1) * (gi - m[i])
            v[i] += (1 - b2) * (gi * gi - v[i])
            theta[i] -= alpha * m[i] / (np.sqrt(v[i]) + eps)
    return theta, m, v


SHAPES = [(3, 4), (5,), (2, 3, 3, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_adams_formula(dtype):
    init = [np.random.default_rng(1).normal(0, 1, s).astype(dtype) for s in SHAPES]
    grads = _gradients(SHAPES, 6, dtype=dtype)
    lr = 2.0**-9  # Keras keeps the learning rate as a float32 variable: one it holds exactly
    variables, opt = _run(FusedAdam(lr, beta_1=0.5, beta_2=0.999, epsilon=1e-7), init, grads)
    theta, m, v = _adam_by_formula(init, grads, lr, 0.5, 0.999, 1e-7)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for i, var in enumerate(variables):
        assert np.abs(var.numpy() - init[i]).max() > 1e-3  # it moved
        np.testing.assert_allclose(var.numpy(), theta[i], rtol=tol, atol=tol)
        np.testing.assert_allclose(opt._momentums[i].numpy(), m[i], rtol=tol, atol=tol)
        np.testing.assert_allclose(opt._velocities[i].numpy(), v[i], rtol=tol, atol=tol)
    assert int(opt.iterations.numpy()) == 6


@pytest.mark.parametrize("graph", [True, False])
def test_matches_keras_adam_with_a_schedule(graph):
    init = [np.random.default_rng(2).normal(0, 1, s).astype(np.float32) for s in SHAPES]
    grads = _gradients(SHAPES, 8, seed=3)

    def schedule():
        return keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=2, decay_rate=0.5)

    fused, _ = _run(FusedAdam(schedule(), beta_1=0.9, beta_2=0.99), init, grads, graph)
    ref, _ = _run(keras.optimizers.Adam(schedule(), beta_1=0.9, beta_2=0.99), init, grads, graph)
    for a, b in zip(fused, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_one_fused_op_per_variable():
    variables = [keras.Variable(np.zeros(s, np.float32)) for s in SHAPES]
    opt = FusedAdam(1e-3)
    opt.build(variables)
    graph = tf.function(lambda g: opt.apply(g, variables)).get_concrete_function(
        [tf.TensorSpec(s, tf.float32) for s in SHAPES]).graph
    types = [op.type for op in graph.get_operations()]
    assert types.count("ResourceApplyAdam") == len(SHAPES)
    # Keras' Adam: an assign-add per moment and an assign-sub per variable; here at most the step counter's.
    assert types.count("AssignAddVariableOp") <= 1 and "AssignSubVariableOp" not in types


def test_falls_back_to_keras_for_amsgrad():
    init = [np.ones(s, np.float32) for s in SHAPES]
    grads = _gradients(SHAPES, 4, seed=4)
    fused, _ = _run(FusedAdam(1e-2, amsgrad=True), init, grads)
    ref, _ = _run(keras.optimizers.Adam(1e-2, amsgrad=True), init, grads)
    for a, b in zip(fused, ref):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_config_round_trips_and_keras_checkpoints_restore(tmp_path):
    opt = FusedAdam(3e-4, beta_1=0.5, beta_2=0.99, epsilon=1e-6)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(again) is FusedAdam and again.get_config() == opt.get_config()

    init = [np.random.default_rng(5).normal(0, 1, s).astype(np.float32) for s in SHAPES]
    variables, keras_adam = _run(keras.optimizers.Adam(1e-2), init, _gradients(SHAPES, 3, seed=6))
    path = tf.train.Checkpoint(optimizer=keras_adam, weights=variables).save(str(tmp_path / "ckpt"))
    restored_vars = [keras.Variable(np.zeros(s, np.float32)) for s in SHAPES]
    fused = FusedAdam(1e-2)
    fused.build(restored_vars)
    tf.train.Checkpoint(optimizer=fused, weights=restored_vars).restore(path).assert_consumed()
    assert int(fused.iterations.numpy()) == 3
    for a, b in zip(fused.variables, keras_adam.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_sparse_gradients_take_keras_update():
    """An embedding-style gradient (tf.IndexedSlices) gives Keras' Adam's result."""
    def train(optimizer):
        table = keras.Variable(np.arange(12, dtype=np.float32).reshape(6, 2) / 10)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(tf.gather(table, [0, 3, 3])))
            grad = tape.gradient(loss, table)
            assert isinstance(grad, tf.IndexedSlices)
            optimizer.apply([grad], [table])

        for _ in range(3):
            step()
        return table.numpy()

    fused, ref = train(FusedAdam(1e-2)), train(keras.optimizers.Adam(1e-2))
    assert np.abs(fused - np.arange(12).reshape(6, 2) / 10).max() > 1e-3
    np.testing.assert_allclose(fused, ref, rtol=1e-6, atol=1e-7)
