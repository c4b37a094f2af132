"""Micro-benchmarks behind `tfgen.ops.spatial_transformer`'s compiled gradient (graph mode, this CPU):
(1) the scatter-add of the sampler's image gradient, 262,144 rows of 4 channels into 65,536 segments, as
TensorFlow's `UnsortedSegmentSum` / `ScatterNd` and under XLA; (2) the sampler's forward plus backward at
LR-GAN's shape (batch 64, 32x32, appearance and mask: 4 channels), gradient "autodiff" vs "xla".
Usage: python docs/lrgan/sampler_gradient_micro.py > docs/lrgan/sampler_gradient_micro.json"""
import json, time
import numpy as np, tensorflow as tf
from tfgen.ops.spatial_transformer import affine_grid, bilinear_sample


def best_ms(f, *args, reps=10, rounds=5):
    f(*args)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            tf.nest.map_structure(lambda x: x.numpy(), f(*args))
        times.append((time.perf_counter() - t) / reps * 1000)
    return float(np.median(times))


rows, segments, channels = 4 * 65536, 65536, 4
ids = tf.constant(np.random.default_rng(0).integers(0, segments, rows).astype(np.int32))
data = tf.random.normal([rows, channels], seed=1)
scatter = {
    "unsorted_segment_sum": tf.function(lambda d: tf.math.unsorted_segment_sum(d, ids, segments)),
    "scatter_nd": tf.function(lambda d: tf.scatter_nd(ids[:, None], d, [segments, channels])),
    "unsorted_segment_sum_xla": tf.function(lambda d: tf.math.unsorted_segment_sum(d, ids, segments),
                                            jit_compile=True),
}
out = {"scatter_ms": {k: best_ms(f, data) for k, f in scatter.items()}}

b, h, w, c = 64, 32, 32, 4
rng = np.random.default_rng(2)
images = tf.constant(rng.uniform(-1, 1, (b, h, w, c)).astype(np.float32))
upstream = tf.constant(rng.normal(0, 1, (b, h, w, c)).astype(np.float32))
theta = tf.constant((np.array([[1.7, 0.1, 0.3], [-0.05, 1.6, -0.2]]) + rng.normal(0, 0.2, (b, 2, 3)))
                    .astype(np.float32))


def forward_backward(gradient):
    @tf.function
    def f(x, t):
        with tf.GradientTape() as tape:
            tape.watch([x, t])
            y = bilinear_sample(x, affine_grid(t, h, w), gradient=gradient)
        return [y, *tape.gradient(y, [x, t], output_gradients=upstream)]
    return f


fb = {g: forward_backward(g) for g in ("autodiff", "xla")}
a, x = fb["autodiff"](images, theta), fb["xla"](images, theta)
out["sampler_forward_backward_ms"] = {g: best_ms(f, images, theta, reps=20, rounds=7) for g, f in fb.items()}
out["sampler_max_abs_difference"] = {k: float(tf.reduce_max(tf.abs(p - q))) for k, p, q in
                                     zip(("output", "d_images", "d_theta"), a, x)}
out["sampler_max_abs_d_theta"] = float(tf.reduce_max(tf.abs(a[2])))
print(json.dumps(out, indent=1))
