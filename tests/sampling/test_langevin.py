"""The shared Langevin sampler against closed forms."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen.sampling import langevin


def linear_gaussian_posterior(W, sigma, x):
    """z ~ N(0, I), x | z ~ N(W z, sigma^2 I)  =>  z | x ~ N(mu, S)."""
    precision = np.eye(W.shape[1]) + W.T @ W / sigma**2
    S = np.linalg.inv(precision)
    mu = S @ W.T @ x / sigma**2
    return mu, S


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_chains_match_linear_gaussian_posterior(jit):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 2)) * 0.8
    sigma = 0.9
    x = np.array([0.7, -1.2, 0.4])
    mu, S = linear_gaussian_posterior(W, sigma, x)
    Wt, xt = tf.constant(W, tf.float64), tf.constant(x, tf.float64)

    def log_prob(z):  # [chains, 2] -> [chains]
        resid = xt[None, :] - tf.linalg.matvec(Wt, z)
        return -0.5 * tf.reduce_sum(z**2, -1) - 0.5 * tf.reduce_sum(resid**2, -1) / sigma**2

    chains = 4000
    z0 = tf.zeros([chains, 2], tf.float64)
    step = 0.05
    sample = tf.function(lambda z: langevin(log_prob, z, step, 3000, seed=7), jit_compile=jit)(z0).numpy()
    emp_mu, emp_S = sample.mean(0), np.cov(sample.T)
    # Unadjusted Langevin's stationary covariance is S up to O(step^2) (< 1% here);
    # the rest is Monte-Carlo error over 4000 chains.
    np.testing.assert_allclose(emp_mu, mu, atol=0.04)
    np.testing.assert_allclose(emp_S, S, atol=0.03, rtol=0.08)


def test_standard_normal_is_invariant():
    """Started in N(0, I), chains on log p = -|x|^2/2 stay N(0, I)."""
    x0 = tf.random.stateless_normal([20000, 1], seed=[1, 2], dtype=tf.float64)
    out = langevin(lambda x: -0.5 * tf.reduce_sum(x**2, -1), x0, 0.1, 50, seed=3).numpy()
    assert abs(out.mean()) < 0.03
    # ULA on a unit Gaussian with step h has variance 1 / (1 - h^2/4).
    assert abs(out.var() - 1 / (1 - 0.1**2 / 4)) < 0.04


def test_noise_free_step_is_gradient_ascent():
    x0 = tf.constant([[1.0, -2.0]])
    out = langevin(lambda x: -0.5 * tf.reduce_sum(3.0 * x**2, -1), x0, 0.2, 1, noise=False)
    # x + h^2/2 * grad = x + 0.02 * (-3x)
    np.testing.assert_allclose(out.numpy(), x0.numpy() * (1 - 0.02 * 3.0), rtol=1e-6)


def test_same_seed_same_chain_eager_and_graph_and_xla_reproducible():
    def log_prob(x):
        return -tf.reduce_sum(tf.square(x - 1.0) * tf.tanh(x), axis=[1, 2])

    x0 = tf.random.stateless_normal([4, 5, 3], seed=[0, 1])
    eager = langevin(log_prob, x0, 0.1, 20, seed=11)
    graph = tf.function(lambda x: langevin(log_prob, x, 0.1, 20, seed=11))(x0)
    xla_fn = tf.function(lambda x: langevin(log_prob, x, 0.1, 20, seed=11), jit_compile=True)
    np.testing.assert_allclose(eager.numpy(), graph.numpy(), atol=1e-5)
    np.testing.assert_array_equal(xla_fn(x0).numpy(), xla_fn(x0).numpy())
    # Without noise the three modes compute the same deterministic path.
    quiet = lambda x: langevin(log_prob, x, 0.1, 20, noise=False)  # noqa: E731
    np.testing.assert_allclose(quiet(x0).numpy(), tf.function(quiet, jit_compile=True)(x0).numpy(), atol=1e-4)
    other = langevin(log_prob, x0, 0.1, 20, seed=12)
    assert not np.allclose(eager.numpy(), other.numpy())


def test_trace_records_every_step():
    x0 = tf.fill([6, 2], 3.0)
    out, trace = tf.function(lambda x: langevin(lambda v: -0.5 * tf.reduce_sum(v**2, -1), x, 0.3, 25,
                                                seed=0, trace_fn=lambda v, lp: lp))(x0)
    assert out.shape == (6, 2) and trace.shape == (25, 6)
    np.testing.assert_allclose(trace[0].numpy(), -9.0, rtol=1e-6)  # log p at the start: -|(3,3)|^2/2
    assert trace[-1].numpy().mean() > -3.0  # chains moved towards the mode


@pytest.mark.parametrize("steps", [0, 1])
def test_zero_and_one_steps(steps):
    x0 = tf.ones([2, 2])
    out = langevin(lambda x: -tf.reduce_sum(x**2, -1), x0, 0.1, steps, seed=0)
    assert out.shape == x0.shape
    assert np.allclose(out.numpy(), 1.0) == (steps == 0)


def test_noise_fn_supplies_the_noise_of_each_step():
    # log p = -x²/2: each step is x <- x - δ²/2 x + δ ε_i with the given ε_i.
    eps = tf.constant([[[0.5, -1.0]], [[2.0, 0.25]], [[-0.3, 0.0]]])  # [steps, batch 1, 2]
    delta = 0.4
    out = langevin(lambda x: -0.5 * tf.reduce_sum(tf.square(x), axis=-1), tf.constant([[1.0, -2.0]]), delta, 3,
                   noise_fn=lambda i: eps[i])
    x = np.array([[1.0, -2.0]])
    for i in range(3):
        x = x - delta ** 2 / 2 * x + delta * eps.numpy()[i]
    np.testing.assert_allclose(out.numpy(), x, rtol=1e-6)


def test_unrolled_loops_give_the_same_chain_and_a_graph_with_every_step():
    """For FLOP counting: with a static step count the loop is traced step by step; same draws, same chain,
    and a static count of the graph grows with the steps (a while loop's body is counted once)."""
    from tfgen.sampling.langevin import unrolled_loops

    a = tf.constant(np.random.default_rng(0).normal(size=(16, 16)).astype("float32"))

    def log_prob(x):
        return -0.5 * tf.reduce_sum(tf.square(tf.matmul(x, a)), axis=1)

    x0 = tf.ones([4, 16])
    looped = langevin(log_prob, x0, 0.1, 7, seed=3).numpy()
    with unrolled_loops():
        unrolled = langevin(log_prob, x0, 0.1, 7, seed=3).numpy()
    np.testing.assert_allclose(unrolled, looped, rtol=1e-6, atol=1e-6)

    def flops(steps, unroll):
        fn = tf.function(lambda x: langevin(log_prob, x, 0.1, steps, seed=3))
        if unroll:
            with unrolled_loops():
                graph = fn.get_concrete_function(tf.TensorSpec([4, 16])).graph
        else:
            graph = fn.get_concrete_function(tf.TensorSpec([4, 16])).graph
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops

    one, ten = flops(1, True), flops(10, True)
    assert one > 0 and ten == pytest.approx(10 * one, rel=0.05)
    assert flops(10, False) < 2 * one  # what the static count saw before
