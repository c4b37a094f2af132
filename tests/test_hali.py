"""HALI and ALI (levels 1): the Gaussian transition, weight norm, matched
triples, inpainting, the generic model test, gradients, configs and the
SavedModel reloaded without tfgen."""

import glob
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tfgen.models.hali  # noqa: F401  (registers "hali"; the package __init__ will import it later)
from model_testing import check_generative_model, make_config
from tfgen import config as config_lib
from tfgen.layers.hali_blocks import (ExampleDropout, GaussianConditional, WeightNormConv2D, per_example_draw,
                                      reparameterize)
from tfgen.models import build_model
from tfgen.models.hali import ali_discriminator_loss, ali_generator_loss, centre_hole_mask

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = config_lib.tiny_overrides("hali")
SHAPE = (16, 16, 1)


def tiny_model(levels=2, image_shape=SHAPE, **overrides):
    return build_model(make_config("hali", {**TINY, "levels": levels, **overrides}), image_shape)


def settle_batch_norm(model, images, steps=40):
    """Moves the batch-norm statistics to the data's (as training would): N(0, 0.01)
    weights make untrained inference-mode outputs nearly constant, which would hide
    a reconstruction (signature, inpainting step) taken from the wrong level."""
    for _ in range(steps):
        means = [mean for _, mean, _ in model.encoder(images, training=True, sample=False)]
        model.decoder.decode_image(means[0], training=True)
        if model.levels == 2:
            model.decoder.decode_z1(means[1], training=True, sample=False)
            z1_prime = model.decoder.decode_z1(means[1], training=False, sample=False)[0]
            model.decoder.decode_image(z1_prime, training=True)


# -- the Gaussian transition ------------------------------------------------

def fixed_gaussian(mean, log_sigma, channels=3, spatial=True):
    """A GaussianConditional whose head ignores its input: mean and log sigma are the bias."""
    layer = GaussianConditional(channels, seed=11)
    layer.build((None, 4, 4, 5) if spatial else (None, 5))
    kernel, _ = layer.head.get_weights()
    layer.head.set_weights([np.zeros_like(kernel), np.array([*mean, *log_sigma], np.float32)])
    return layer


@pytest.mark.parametrize("training", [True, False])
def test_gaussian_samples_have_mean_and_exp_log_sigma(training):
    mean, log_sigma = [0.5, -1.0, 2.0], [np.log(0.3), 0.0, np.log(2.0)]
    layer = fixed_gaussian(mean, log_sigma)
    z, m, s = layer(tf.random.normal([500, 4, 4, 5]), training=training)  # 8000 draws per channel
    assert z.shape == (500, 4, 4, 3)
    np.testing.assert_allclose(m.numpy().reshape(-1, 3), np.tile(mean, (8000, 1)), atol=1e-6)
    np.testing.assert_allclose(s.numpy().reshape(-1, 3), np.tile(log_sigma, (8000, 1)), atol=1e-6)
    draws = z.numpy().reshape(-1, 3)
    # Standard errors: sigma / sqrt(8000) for the mean, ~sigma / sqrt(16000) for the std.
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * np.exp(log_sigma) / np.sqrt(8000)), draws.mean(0)
    np.testing.assert_allclose(draws.std(0), np.exp(log_sigma), rtol=0.04)  # sigma = exp(log sigma)
    assert abs(np.corrcoef(draws[:, 0], draws[:, 2])[0, 1]) < 0.05  # isotropic: independent channels


def test_gaussian_deterministic_mode_and_reparameterisation():
    layer = fixed_gaussian([0.5, -1.0], [np.log(0.3), 1.0], channels=2, spatial=False)
    h = tf.random.normal([6, 5])
    z, m, s = layer(h, sample=False)
    np.testing.assert_array_equal(z.numpy(), m.numpy())
    eps = tf.random.normal([6, 2], seed=3)
    z, m, s = layer(h, noise=eps)
    np.testing.assert_allclose(z.numpy(), (m + tf.exp(s) * eps).numpy(), rtol=1e-6)
    np.testing.assert_allclose(reparameterize(tf.constant([1.0]), tf.constant([np.log(2.0)], tf.float32),
                                              tf.constant([-0.5])).numpy(), [0.0], atol=1e-6)
    # The gradient reaches mean and log sigma through the sample.
    with tf.GradientTape() as tape:
        z, _, _ = layer(h, training=True)
        loss = tf.reduce_sum(z)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in tape.gradient(loss, layer.trainable_variables))


def test_training_and_evaluation_streams_are_separate():
    layer = fixed_gaussian([0.0], [0.0], channels=1, spatial=False)
    before = layer.train_seed.state.numpy().copy()
    layer(tf.zeros([4, 5]), training=False)
    np.testing.assert_array_equal(layer.train_seed.state.numpy(), before)  # drawing pictures moves no training noise
    layer(tf.zeros([4, 5]), training=True)
    assert not np.array_equal(layer.train_seed.state.numpy(), before)


class FakeReplicaContext:
    num_replicas_in_sync = 2

    def __init__(self, replica):
        self.replica_id_in_sync_group = replica


@pytest.mark.parametrize("replica", [0, 1])
def test_per_example_draw_slices_the_global_draw(monkeypatch, replica):
    draw = lambda s: tf.random.stateless_normal(s, seed=[1, 2])  # noqa: E731
    whole = per_example_draw(draw, [8, 3]).numpy()  # one device, global batch 8
    monkeypatch.setattr(tf.distribute, "get_replica_context", lambda: FakeReplicaContext(replica))
    local = per_example_draw(draw, [4, 3]).numpy()  # replica `replica` of 2, local batch 4
    np.testing.assert_array_equal(local, whole[4 * replica:4 * replica + 4])


def test_dropout_rate_and_scaling():
    layer = ExampleDropout(0.5, seed=3)
    y = layer(tf.ones([200, 50]), training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs((y == 0).mean() - 0.5) < 0.02
    np.testing.assert_array_equal(layer(tf.ones([2, 3]), training=False).numpy(), np.ones([2, 3]))


def test_weight_norm_filters_have_norm_g():
    conv = WeightNormConv2D(6, 3, strides=2)
    conv.build((None, 8, 8, 4))
    conv.g.assign(np.arange(1, 7, dtype=np.float32))
    conv.v.assign(conv.v * 5.0)  # scaling v changes nothing: only its direction counts
    norms = np.sqrt((conv.kernel().numpy() ** 2).sum(axis=(0, 1, 2)))
    np.testing.assert_allclose(norms, np.arange(1, 7), rtol=1e-5)
    assert conv(tf.zeros([2, 8, 8, 4])).shape == (2, 4, 4, 6)


def test_ali_losses_golden_numbers():
    enc, dec = tf.constant([0.0, 2.0]), tf.constant([0.0, -1.0])
    sp = lambda v: np.log1p(np.exp(v))  # noqa: E731
    np.testing.assert_allclose(ali_discriminator_loss(enc, dec).numpy(), [2 * sp(0), sp(-2) + sp(-1)], rtol=1e-6)
    np.testing.assert_allclose(ali_generator_loss(enc, dec).numpy(), [2 * sp(0), sp(2) + sp(1)], rtol=1e-6)


# -- the model --------------------------------------------------------------

@pytest.mark.parametrize("levels", [2, 1], ids=["hali", "ali"])
def test_generic(levels):
    model, history = check_generative_model("hali", {**TINY, "levels": levels}, SHAPE)
    per_level = [f"{m}_{lv}" for m in ("recon_mse", "perceptual") for lv in range(1, levels + 1)]
    assert set(history) == {"d_loss", "g_loss", "d_encoder", "d_decoder", *per_level}
    assert model.reconstructs
    panels = model.image_panels(model.sample_latent(4, seed=1), {"image": tf.random.uniform([8, *SHAPE], -1, 1)})
    assert set(panels) == {"samples", "real_vs_reconstructions", "inpainting"}
    assert panels["real_vs_reconstructions"].shape[0] % (1 + levels) == 0


def test_latents_and_architecture():
    model = tiny_model(2, (32, 32, 3))
    assert model.latent_dim == 8 and model.sample_latent(3, seed=0).shape == (3, 8)
    codes = model.encode(tf.zeros([2, 32, 32, 3]))
    assert codes["z1"].shape == (2, 16, 16, 4) and codes["z2"].shape == (2, 8)  # 32x32: z1 at 16x16
    ali = tiny_model(1, (32, 32, 3))
    assert list(ali.encode(tf.zeros([2, 32, 32, 3]))) == ["z2"]
    big = build_model(make_config("hali", {**TINY, "z1_stride": 4}), (64, 64, 3))
    assert big.encode(tf.zeros([1, 64, 64, 3]))["z1"].shape == (1, 16, 16, 4)  # 64x64: z1 still 16x16
    with pytest.raises(ValueError, match="power of two"):
        build_model(make_config("hali", TINY), (24, 24, 3))
    for net in model.sub_networks().values():  # the blocks' configs round-trip too
        assert type(net).from_config(net.get_config()).get_config() == net.get_config()


def test_discriminator_sees_matched_triples():
    model = tiny_model(2)
    x = tf.random.uniform([6, *SHAPE], -1, 1, seed=1)
    z1, z2 = tf.random.normal([6, 8, 8, 4], seed=2), tf.random.normal([6, 8], seed=3)  # prior-scale codes
    d = lambda *t: model.discriminator(list(t), training=False).numpy()  # noqa: E731  (no noise, no dropout)
    base = d(x, z1, z2)
    np.testing.assert_array_equal(d(x, z1, z2), base)  # inference mode is deterministic
    shift = lambda t: tf.roll(t, 1, axis=0)  # noqa: E731  (pairs every example with its neighbour's code)
    assert np.abs(d(x, shift(z1), z2) - base).max() > 1e-4 * np.abs(base).max()
    assert np.abs(d(x, z1, shift(z2)) - base).max() > 1e-4 * np.abs(base).max()
    # Each logit depends on its own triple only: permuting whole triples permutes the logits.
    perm = [3, 0, 5, 1, 2, 4]
    np.testing.assert_allclose(d(*[tf.gather(t, perm) for t in (x, z1, z2)]), base[perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("levels", [2, 1], ids=["hali", "ali"])
def test_inpainting_keeps_known_pixels_exactly(levels):
    model = tiny_model(levels)
    images = tf.random.uniform([4, *SHAPE], -1, 1, seed=2)
    mask = tf.cast(tf.random.uniform([4, 16, 16, 1], seed=3) > 0.3, tf.float32)
    settle_batch_norm(model, images)
    steps = model.inpaint_steps(images, mask, iterations=2)
    assert len(steps) == 3
    known = np.broadcast_to(mask.numpy() > 0.5, images.shape)
    for out in steps:
        np.testing.assert_array_equal(out.numpy()[known], images.numpy()[known])
        assert not np.allclose(out.numpy()[~known], images.numpy()[~known])
    # Step 0 fills the hole from the top level's reconstruction of the image with its hole zeroed.
    holed = tf.where(mask > 0.5, images, 0.0)
    top = model.reconstruct_from_level(holed, levels).numpy()
    np.testing.assert_allclose(steps[0].numpy()[~known], top[~known], atol=1e-6)
    if levels == 2:  # level 1 would give another fill
        assert np.abs(model.reconstruct(holed).numpy() - top)[~known].max() > 1e-4
    # Later steps refine with level-1 reconstructions of the previous step.
    np.testing.assert_allclose(steps[1].numpy()[~known], model.reconstruct(steps[0]).numpy()[~known], atol=1e-6)
    np.testing.assert_array_equal(model.inpaint(images, mask, iterations=2).numpy(), steps[-1].numpy())
    hole = centre_hole_mask(2, 16, 16).numpy()
    assert hole.shape == (2, 16, 16, 1) and hole.sum() == 2 * (256 - 64)


def test_reconstruction_levels():
    model = tiny_model(2)
    x = tf.random.uniform([3, *SHAPE], -1, 1, seed=4)
    r1, r2 = model.reconstructions(x)
    np.testing.assert_allclose(model.reconstruct(x).numpy(), r1.numpy(), atol=1e-6)
    np.testing.assert_allclose(model.reconstruct_from_level(x, tf.constant(2)).numpy(), r2.numpy(), atol=1e-6)
    np.testing.assert_allclose(model.reconstruct_from_level(x, 1).numpy(), r1.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="level must be in 1..2"):
        model.reconstruct_from_level(x, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="level must be in 1..2"):
        model.reconstruct_from_level(x, tf.constant(0))


@pytest.mark.parametrize("levels", [2, 1], ids=["hali", "ali"])
def test_gradients_reach_encoder_and_decoder(levels):
    model = tiny_model(levels)
    real = tf.random.uniform([4, *SHAPE], -1, 1, seed=5)
    d_grads, g_grads, stats = model._grads_impl(real, tf.random.normal([4, model.latent_dim], seed=6))
    assert all(g is not None for g in d_grads) and all(g is not None for g in g_grads)
    grads = dict(zip([v.path for v in model.generator_variables()], g_grads))
    for net in ("encoder", "decoder"):
        # Every layer's kernel of each network gets a gradient (BN betas before a following BN may not).
        kernels = {p: g for p, g in grads.items() if p.startswith(net + "/") and p.endswith("kernel")}
        assert kernels and all(float(tf.reduce_max(tf.abs(g))) > 0 for g in kernels.values()), net
    assert np.isfinite(float(stats["d_loss"])) and np.isfinite(float(stats["g_loss"]))


def test_persistent_state_covers_every_noise_stream():
    model = tiny_model(2)
    state = model.persistent_state()
    assert "noise_seed" in state
    # Encoder: input noise, two Gaussians; decoder: one Gaussian; discriminator: 3 input noises + dropouts.
    assert sum(k.endswith("to_z1") or k.endswith("to_z2") for k in state) == 3
    assert sum(k.endswith("_dropout") for k in state) >= 8
    assert len({id(v) for v in state.values()}) == len(state)


def test_every_config_loads():
    paths = sorted(glob.glob(os.path.join(REPO, "configs", "hali", "*.yaml")))
    datasets = ["multidigit", "shapes", "svhn_cropped", "cifar10", "celeb_a"]
    assert {f"{p}{d}.yaml" for p in ("", "ali_") for d in datasets} <= {os.path.basename(p) for p in paths}
    levels = {}
    for path in paths:
        cfg = config_lib.load_config(path)
        assert cfg.model.name == "hali"
        levels[os.path.basename(path)] = cfg.model.levels
    assert all((name.startswith("ali_")) == (lv == 1) for name, lv in levels.items()), levels


# -- export -----------------------------------------------------------------

RELOAD = textwrap.dedent("""\
    import sys, json
    sys.modules["tfgen"] = None  # any import of tfgen now fails: plain TensorFlow only
    import numpy as np, tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    given = np.load(sys.argv[2])
    images, mask = tf.constant(given["images"]), tf.constant(given["mask"])
    calls = {
        "generate": m.signatures["generate"](z=tf.random.stateless_normal([5, 8], seed=[5, 6])),
        "encode": m.signatures["encode"](images=images),
        "reconstruct_1": m.signatures["reconstruct"](images=images, level=tf.constant(1)),
        "reconstruct_2": m.signatures["reconstruct"](images=images, level=tf.constant(2)),
        "inpaint": m.signatures["inpaint"](images=images, mask=mask),
    }
    result = {"signatures": sorted(m.signatures)}
    arrays = {}
    for name, out in calls.items():
        result[name] = {k: v.shape.as_list() for k, v in out.items()}
        arrays.update({f"{name}/{k}": v.numpy() for k, v in out.items()})
    np.savez(sys.argv[3], **arrays)
    try:
        m.signatures["reconstruct"](images=images, level=tf.constant(3))
        result["bad_level"] = None
    except Exception as e:
        result["bad_level"] = str(e)
    print(json.dumps(result))
    """)


def test_export_reloads_without_tfgen(tmp_path):
    from tfgen.export import export_model

    model = tiny_model(2)
    images = tf.random.uniform([3, *SHAPE], -1, 1, seed=7)
    mask = tf.cast(tf.random.uniform([3, 16, 16, 1], seed=8) > 0.5, tf.float32)
    settle_batch_norm(model, images)
    r1, r2 = [r.numpy() for r in model.reconstructions(images)]
    atol = 1e-5
    assert np.abs(r1 - r2).max() > 20 * atol  # so the comparisons below tell the two levels apart
    expected = {"encode/z1_mean": model.encode(images)["z1"], "encode/z2_mean": model.encode(images)["z2"],
                "reconstruct_1/reconstructions": r1, "reconstruct_2/reconstructions": r2,
                "inpaint/images": model.inpaint(images, mask)}

    out = tmp_path / "exported"
    docs = export_model(model, str(out))
    assert "level: int32 scalar in 1..2" in docs["reconstruct"]
    np.savez(tmp_path / "inputs.npz", images=images.numpy(), mask=mask.numpy())
    proc = subprocess.run([sys.executable, "-c", RELOAD, str(out), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "outputs.npz")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["signatures"] == ["encode", "generate", "inpaint", "reconstruct", "serving_default"]
    assert r["generate"] == {"images": [5, 16, 16, 1]}
    assert r["encode"] == {"z1_mean": [3, 8, 8, 4], "z2_mean": [3, 8]}
    assert r["reconstruct_1"] == r["reconstruct_2"] == {"reconstructions": [3, 16, 16, 1]}
    assert r["inpaint"] == {"images": [3, 16, 16, 1]}
    assert r["bad_level"] and "level must be in 1..2" in r["bad_level"]
    served = np.load(tmp_path / "outputs.npz")
    lo, hi = served["generate/images"].min(), served["generate/images"].max()
    assert -1.0 <= lo <= hi <= 1.0
    for key, value in expected.items():
        np.testing.assert_allclose(served[key], np.asarray(value), atol=atol, rtol=0, err_msg=key)
    known = np.broadcast_to(mask.numpy() > 0.5, images.shape)
    np.testing.assert_array_equal(served["inpaint/images"][known], images.numpy()[known])
