"""bf16 filter gradients at the DCGAN trunks' space-to-depth shapes (batch 64, 4x4 stride 2, graph mode, GFLOP/s,
medians of 7 alternating rounds of 10 calls): `patch_filter_gradient`'s four products [s²C_in, N]^T [N, C_out]
(one per block offset) against one product of the four windows concatenated ([4 s²C_in, N]^T [N, C_out], and
as [C_out, N] [N, 4 s²C_in] transposed), one batched product of the stacked windows, and four products of
explicitly transposed windows. All give the same gradient (max difference printed).
Usage: python docs/lrgan/filter_gradient_product_forms.py > docs/lrgan/filter_gradient_product_forms.json"""
import time, json
import numpy as np, tensorflow as tf
from tfgen.ops.conv_grads import patch_filter_gradient

def window_forms(inputs, output_grad, kernel_shape, strides, swap=False, mode="concat"):
    kh, kw, c_in, c_out = (int(n) for n in kernel_shape)
    s = int(strides)
    _, h, w, _ = inputs.shape
    ho, wo = -(-h // s), -(-w // s)
    ah, aw = -(-kh // s), -(-kw // s)
    def pads(size, out, k, blocks):
        before = max((out - 1) * s + k - size, 0) // 2
        return [before, (out - 1 + blocks) * s - size - before]
    x = tf.pad(inputs, [[0, 0], pads(h, ho, kh, ah), pads(w, wo, kw, aw), [0, 0]])
    x = tf.nn.space_to_depth(x, s)
    grad = tf.reshape(tf.cast(output_grad, inputs.dtype), [-1, c_out])
    if mode == "batched":
        st = tf.stack([tf.reshape(x[:, a:a + ho, b:b + wo, :], [-1, s * s * c_in]) for a in range(ah) for b in range(aw)])
        k = tf.matmul(st, grad, transpose_a=True)
    elif mode == "explicit_t":
        k = tf.stack([tf.matmul(tf.transpose(tf.reshape(x[:, a:a + ho, b:b + wo, :], [-1, s * s * c_in])), grad) for a in range(ah) for b in range(aw)])
    else:
        cols = tf.reshape(tf.concat([x[:, a:a + ho, b:b + wo, :] for a in range(ah) for b in range(aw)], -1),
                          [-1, ah * aw * s * s * c_in])
        k = tf.transpose(tf.matmul(grad, cols, transpose_a=True)) if swap else tf.matmul(cols, grad, transpose_a=True)
    k = tf.reshape(k, [ah, aw, s, s, c_in, c_out])
    k = tf.reshape(tf.transpose(k, [0, 2, 1, 3, 4, 5]), [ah * s, aw * s, c_in, c_out])
    return k[:kh, :kw]

cases = {  # name: (inputs shape, output_grad shape, kernel shape)
    "D down1 16x16x64->8x8x128": ([64, 16, 16, 64], [64, 8, 8, 128], (4, 4, 64, 128)),
    "D down2 8x8x128->4x4x256": ([64, 8, 8, 128], [64, 4, 4, 256], (4, 4, 128, 256)),
    "G up0 4x4x512->8x8x256 (roles swapped)": ([64, 8, 8, 256], [64, 4, 4, 512], (4, 4, 256, 512)),
    "G up1 8x8x256->16x16x128 (roles swapped)": ([64, 16, 16, 128], [64, 8, 8, 256], (4, 4, 128, 256)),
}
out = {}
for name, (xs, gs, ks) in cases.items():
    x = tf.cast(tf.random.normal(xs), tf.bfloat16); g = tf.cast(tf.random.normal(gs), tf.bfloat16)
    flop = 2 * np.prod(gs) * ks[0] * ks[1] * ks[2]
    fs = {"four_products": tf.function(lambda x, g: patch_filter_gradient(x, g, ks, 2)),
          "concat_one_product": tf.function(lambda x, g: window_forms(x, g, ks, 2)),
          "concat_one_product_swapped": tf.function(lambda x, g: window_forms(x, g, ks, 2, swap=True)),
          "batched": tf.function(lambda x, g: window_forms(x, g, ks, 2, mode="batched")),
          "explicit_t": tf.function(lambda x, g: window_forms(x, g, ks, 2, mode="explicit_t"))}
    ref = fs["four_products"](x, g)
    res = {k: [] for k in fs}
    for f in fs.values(): f(x, g).numpy()
    for r in range(7):
        for k in (list(fs) if r % 2 == 0 else list(fs)[::-1]):
            t = time.perf_counter()
            for _ in range(10): fs[k](x, g).numpy()
            res[k].append(flop / ((time.perf_counter() - t) / 10) / 1e9)
    err = {k: float(tf.reduce_max(tf.abs(tf.cast(fs[k](x, g), tf.float32) - tf.cast(ref, tf.float32)))) for k in fs}
    out[name] = {"gflops": {k: round(float(np.median(v)), 1) for k, v in res.items()}, "max_abs_difference": err}
print(json.dumps(out, indent=1))
