"""TopKSparsity (AND-OR network Eq. 6): exact counts, ties, gradient mask."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen.models.andor.sparsity import TopKSparsity


def _distinct(shape, seed=0):
    # A permutation of distinct values: the top k are unambiguous.
    rng = np.random.default_rng(seed)
    return tf.constant(rng.permutation(int(np.prod(shape))).reshape(shape).astype("float32") - 7.5)


def test_spatial_keeps_exactly_k_per_channel_and_the_largest_ones():
    x = _distinct((3, 8, 8, 5))
    y = TopKSparsity(16, "spatial")(x).numpy()
    xs = x.numpy()
    for b in range(3):
        for c in range(5):
            kept = y[b, :, :, c] != 0
            assert kept.sum() == 16
            # the kept ones are the 16 largest of that channel, unchanged
            threshold = np.sort(xs[b, :, :, c].ravel())[-16]
            np.testing.assert_array_equal(kept, xs[b, :, :, c] >= threshold)
            np.testing.assert_array_equal(y[b, :, :, c][kept], xs[b, :, :, c][kept])


@pytest.mark.parametrize("shape", [(4, 3200), (2, 4, 4, 40)])
def test_channel_keeps_exactly_k_per_position(shape):
    x = _distinct(shape, seed=1)
    y = TopKSparsity(8, "channel")(x).numpy()
    counts = (y != 0).reshape(-1, shape[-1]).sum(axis=1)
    np.testing.assert_array_equal(counts, 8)
    rows = x.numpy().reshape(-1, shape[-1])
    thresholds = np.sort(rows, axis=1)[:, -8][:, None]
    np.testing.assert_array_equal(y.reshape(-1, shape[-1]) != 0, rows >= thresholds)


def test_ties_keep_the_lower_indices_and_are_deterministic():
    # All equal: the first k positions in row-major order / the first k channels.
    x = tf.ones((2, 4, 4, 3))
    y = TopKSparsity(5, "spatial")(x).numpy()
    expected = np.zeros((4, 4), bool)
    expected.ravel()[:5] = True
    for b in range(2):
        for c in range(3):
            np.testing.assert_array_equal(y[b, :, :, c] != 0, expected)
    v = tf.constant([[2.0, 1.0, 2.0, 2.0, 0.5]])
    np.testing.assert_array_equal(TopKSparsity(2, "channel")(v).numpy(), [[2.0, 0.0, 2.0, 0.0, 0.0]])
    # The same input always gives the same mask (also inside a graph).
    x = tf.constant(np.random.default_rng(0).integers(0, 3, (4, 8, 8, 6)).astype("float32"))
    layer = TopKSparsity(10, "spatial")
    first = layer(x).numpy()
    np.testing.assert_array_equal(tf.function(layer)(x).numpy(), first)
    np.testing.assert_array_equal(layer.mask(x).numpy().sum((1, 2)), 10)


def test_gradient_flows_only_through_kept_entries():
    x = _distinct((2, 4, 4, 3), seed=2)
    layer = TopKSparsity(4, "spatial")
    upstream = tf.constant(np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * upstream)
    grad = tape.gradient(loss, x).numpy()
    mask = layer.mask(x).numpy()
    np.testing.assert_array_equal(grad, upstream.numpy() * mask)
    assert (grad[mask == 0] == 0).all() and (grad[mask == 1] != 0).all()
    # And against the numerical Jacobian (away from ties the mask is locally constant).
    theoretical, numerical = tf.test.compute_gradient(lambda t: layer(t), [x], delta=1e-3)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-2)


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="k must be >= 1"):
        TopKSparsity(0)
    with pytest.raises(ValueError, match="mode"):
        TopKSparsity(2, "rows")
    with pytest.raises(ValueError, match="exceeds"):
        TopKSparsity(17, "spatial")(tf.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="spatial"):
        TopKSparsity(2, "spatial")(tf.zeros((1, 8)))


def test_config_round_trip_and_xla():
    layer = TopKSparsity(3, "channel", name="s")
    clone = TopKSparsity.from_config(layer.get_config())
    assert (clone.k, clone.mode) == (3, "channel")
    x = _distinct((2, 4, 4, 6), seed=4)
    np.testing.assert_array_equal(tf.function(clone, jit_compile=True)(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize("mode,shape", [("spatial", (2, 8, 8, 3)), ("channel", (2, 4, 4, 12))])
def test_a_run_time_k_keeps_the_same_entries_as_top_k_ties_included(mode, shape):
    """The scheduled k (an int32 tensor) ranks by sorting; it must keep exactly what tf.math.top_k keeps,
    ties broken to the lower index, eagerly and under XLA."""
    from tfgen.models.andor.sparsity import group_size, top_k_mask

    ties = tf.constant(np.random.default_rng(1).integers(0, 4, shape).astype("float32"))  # many ties
    n = group_size(shape, mode)
    for k in (1, 3, n // 2, n):
        static = top_k_mask(ties, k, mode).numpy()
        dynamic = top_k_mask(ties, tf.constant(k), mode).numpy()
        np.testing.assert_array_equal(dynamic, static)
        compiled = tf.function(lambda x, kk: top_k_mask(x, kk, mode), jit_compile=True)(ties, tf.constant(k))
        np.testing.assert_array_equal(compiled.numpy(), static)
    # out-of-range run-time k's are clipped to [1, n] (a schedule's rounding cannot ask for more)
    np.testing.assert_array_equal(top_k_mask(ties, tf.constant(n + 5), mode).numpy(), np.ones(shape))
