"""float32 4x4 stride-2 'same' convolutions at small output maps: TensorFlow's (oneDNN) kernels vs the
same convolution as one matmul on explicitly gathered patches, forward alone and with both gradients
(docs/aaae/small_conv_forms.txt holds three runs, with the shapes of the loop below edited between them)."""
import time, sys
import numpy as np
import tensorflow as tf

def bench(f, *a, reps=10):
    f(*a)
    best = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps): r = f(*a)
        _ = [x.numpy() for x in (r if isinstance(r, (list, tuple)) else [r])]
        best.append((time.perf_counter() - t) / reps)
    return min(best)

def patches(x, k=4, s=2):
    # 'same' padding for even k, stride s: TF pads (k - s) total: left (k-s)//2, right rest
    n, h, w, c = x.shape
    ho, wo = h // s, w // s
    pad_total = max((ho - 1) * s + k - h, 0)
    pl = pad_total // 2; pr = pad_total - pl
    xp = tf.pad(x, [[0, 0], [pl, pr], [pl, pr], [0, 0]])
    cols = []
    for i in range(ho):
        for j in range(wo):
            cols.append(tf.reshape(xp[:, i * s:i * s + k, j * s:j * s + k, :], [n, k * k * c]))
    return tf.reshape(tf.stack(cols, 1), [n * ho * wo, k * k * c]), (n, ho, wo)

for (n, h, cin, cout) in [(100, 4, 512, 512), (100, 4, 512, 256), (100, 4, 1024, 512), (100, 4, 256, 1024), (100, 4, 384, 768), (100, 8, 512, 1024)]:
    x = tf.random.normal([n, h, h, cin]); w = tf.random.normal([4, 4, cin, cout]) * 0.01
    flops = 2 * n * (h // 2) ** 2 * 16 * cin * cout
    native = tf.function(lambda x, w: tf.nn.conv2d(x, w, 2, "SAME"))
    def mm(x, w):
        p, (nn, ho, wo) = patches(x)
        return tf.reshape(tf.matmul(p, tf.reshape(w, [-1, w.shape[-1]])), [nn, ho, wo, -1])
    mmf = tf.function(mm)
    np.testing.assert_allclose(native(x, w).numpy(), mmf(x, w).numpy(), atol=1e-3)
    dy = tf.random.normal([n, h // 2, h // 2, cout])
    def grads(fn):
        def g(x, w):
            with tf.GradientTape() as t:
                t.watch([x, w]); y = fn(x, w)
            return t.gradient(y, [x, w], output_gradients=dy)
        return tf.function(g)
    gn, gm = grads(lambda x, w: tf.nn.conv2d(x, w, 2, "SAME")), grads(mm)
    a, b = gn(x, w), gm(x, w)
    for u, v in zip(a, b): np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-3, atol=1e-2)
    tn, tm = bench(native, x, w), bench(mmf, x, w)
    gtn, gtm = bench(gn, x, w), bench(gm, x, w)
    print(f"{n}x{h}x{h}x{cin}->{cout}: fwd native {flops/tn/1e9:6.1f} GFLOP/s, patches+matmul {flops/tm/1e9:6.1f}; "
          f"fwd+both grads native {3*flops/gtn/1e9:6.1f}, patches+matmul {3*flops/gtm/1e9:6.1f}", flush=True)
