"""AAAE: the WGAN-GP losses against hand-computed values, Table III's
architecture, the train step (pretraining gate, critic direction), the
code-space uses, and the generic model test."""

import numpy as np
import pytest
import tensorflow as tf

from model_testing import check_generative_model, make_config, random_batches, weights_of
from tfgen import config as config_lib
from tfgen.errors import ConfigError
from tfgen.losses import gradient_penalty, wasserstein_critic_loss, wasserstein_generator_loss
from tfgen.models import build_model
from tfgen.models.aaae.model import attribute_direction

TINY = config_lib.tiny_overrides("aaae")


def tiny_model(image_shape=(16, 16, 1), batch_size=8, **overrides):
    model = build_model(make_config("aaae", {**TINY, **overrides}, batch_size), image_shape)
    model.compile()
    return model


# -- losses -------------------------------------------------------------------

def test_critic_and_generator_loss_signs_golden():
    real = tf.constant([1.0, 2.0, -0.5])
    fake = tf.constant([[0.5], [-1.0], [0.25]])  # [batch, 1] as a Dense critic gives
    np.testing.assert_allclose(wasserstein_critic_loss(real, fake).numpy(), [-0.5, -3.0, 0.75])
    np.testing.assert_allclose(wasserstein_generator_loss(fake).numpy(), [-0.5, 1.0, -0.25])


def test_gradient_penalty_of_a_linear_critic():
    # D(c) = w . c: the gradient is w wherever it is taken, so (|w| - 1)^2 = (5 - 1)^2.
    w = tf.constant([[3.0], [4.0]])
    real = tf.constant([[1.0, 2.0], [-3.0, 0.5], [0.0, 0.0]])
    fake = tf.constant([[0.0, 1.0], [2.0, 2.0], [1.0, -1.0]])
    penalty = gradient_penalty(lambda c: tf.matmul(c, w), real, fake, tf.constant([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(penalty.numpy(), [16.0, 16.0, 16.0], rtol=1e-6)


def test_gradient_penalty_is_per_example_at_the_interpolate():
    # D(c) = |c|^2 / 2 has gradient c_hat, so the penalty is (|c_hat| - 1)^2 per example.
    real = tf.constant([[2.0, 0.0], [0.0, 4.0], [3.0, 4.0]])
    fake = tf.constant([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    alpha = tf.constant([0.5, 0.25, 1.0])  # c_hat = [1, 0], [0, 1], [3, 4]
    critic = lambda c: 0.5 * tf.reduce_sum(tf.square(c), axis=1)  # noqa: E731
    np.testing.assert_allclose(gradient_penalty(critic, real, fake, alpha).numpy(), [0.0, 0.0, 16.0], atol=1e-5)
    # alpha weighs the real sample: alpha = 0 puts c_hat at the fake one.
    np.testing.assert_allclose(gradient_penalty(critic, fake + [[1.0, 1.0]], real, tf.zeros([3])).numpy(),
                               [1.0, 9.0, 16.0], atol=1e-5)
    # The penalty trains the critic: it has a gradient w.r.t. the critic's weights.
    v = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        p = tf.reduce_sum(gradient_penalty(lambda c: v * critic(c), real, fake, alpha))
    grad = tape.gradient(p, v)
    assert grad is not None and abs(float(grad)) > 0


# -- architecture ---------------------------------------------------------------

def _layers(net, kind):
    # StridedConv2D is Keras' Conv2D with a faster form for some shapes (tfgen.layers.dcgan_blocks).
    return [layer for layer in net.layers if type(layer).__name__ in (kind, "Strided" + kind)]


def test_table_iii_architecture_at_32x32():
    model = build_model(make_config("aaae", {}, 100), (32, 32, 3))
    e, g, d = model.encoder, model.decoder, model.discriminator
    assert [c.filters for c in _layers(e, "Conv2D")] == [64, 128, 256, 512, 1024]
    assert [c.strides for c in _layers(e, "Conv2D")] == [(1, 1)] + [(2, 2)] * 4
    assert all(c.kernel_size == (4, 4) for c in _layers(e, "Conv2D"))
    assert len(_layers(e, "BatchNormalization")) == 3 and len(_layers(e, "ELU")) == 5
    assert e.output_shape == (None, 128)
    assert [c.filters for c in _layers(g, "Conv2DTranspose")] == [512, 256, 128, 64]
    # Table III: FC 1024 (+ BN, eLU), here reshaped to 2x2x256 for the four stride-2 deconvolutions
    assert _layers(g, "Dense")[0].units == 1024 and len(_layers(g, "BatchNormalization")) == 1
    assert _layers(g, "Reshape")[0].output.shape == (None, 2, 2, 256)
    assert g.output_shape == (None, 32, 32, 3)
    assert [c.filters for c in _layers(d, "Conv2D")] == [64, 128, 256, 512, 1]
    assert not _layers(d, "BatchNormalization") and d.output_shape == (None, 2, 2, 1)  # patch logits
    assert [x.units for x in _layers(model.approximator, "Dense")] == [512, 512, 512, 128]
    assert model.approximator.input_shape == (None, 64)
    assert [x.units for x in _layers(model.critic, "Dense")] == [512, 512, 512, 1]
    assert len(_layers(model.critic, "LeakyReLU")) == 3
    assert _layers(model.critic, "LeakyReLU")[0].negative_slope == pytest.approx(0.1)
    kernel = _layers(e, "Conv2D")[-1].kernel.numpy()
    assert abs(kernel.std() - 0.01) < 0.001 and np.all(_layers(e, "Conv2D")[-1].bias.numpy() == 0)


def test_a_run_recorded_before_decoder_dense_units_rebuilds_its_wide_decoder():
    """A complete record without the field (config.yaml / model.json of an older run) is read as it ran,
    2x2 x the top filters; a user's short config without it gets Table III's 1024."""
    from tfgen.models.aaae.config import AAAEConfig, _RECORDED_BEFORE

    old = {f: getattr(AAAEConfig(), f) for f in _RECORDED_BEFORE}
    assert AAAEConfig.upgrade(old)["decoder_dense_units"] == 0
    assert "decoder_dense_units" not in AAAEConfig.upgrade({"name": "aaae", "latent_dim": 8})
    assert AAAEConfig.upgrade({**old, "decoder_dense_units": 512})["decoder_dense_units"] == 512
    model = build_model(make_config("aaae", {"decoder_dense_units": 0}, 100), (32, 32, 3))
    assert _layers(model.decoder, "Dense")[0].units == 2 * 2 * 1024
    with pytest.raises(ConfigError, match="multiple of 4"):
        build_model(make_config("aaae", {"decoder_dense_units": 1022}, 100), (32, 32, 3))


def test_64x64_adds_one_stage():
    model = build_model(make_config("aaae", {"base_filters": 8, "max_filters": 64}, 4), (64, 64, 3))
    assert [c.filters for c in _layers(model.encoder, "Conv2D")] == [8, 16, 32, 64, 64, 64]
    assert model.decoder.output_shape == (None, 64, 64, 3)
    assert model.discriminator.output_shape == (None, 2, 2, 1)


# -- training -----------------------------------------------------------------------

@pytest.mark.parametrize("image_shape", [(16, 16, 3)])  # gray: tests/models/test_every_model.py
def test_generic(image_shape):
    _, history = check_generative_model("aaae", TINY, image_shape=image_shape, batch_size=8, steps=2)
    for name in ("reconstruction_mse", "adversarial", "d_loss", "critic_loss", "wasserstein", "gradient_penalty",
                 "approximator_loss"):
        assert name in history


def test_generic_under_xla():
    check_generative_model("aaae", TINY, image_shape=(16, 16, 1), batch_size=8, steps=2, xla=True)


def test_pretraining_holds_the_approximator_and_critic():
    model = tiny_model(pretrain_steps=2)
    ds = random_batches((16, 16, 1), 8 * model.batches_per_step())
    before = weights_of(model)
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    during = weights_of(model)
    for net in ("approximator", "critic"):
        assert all(np.array_equal(a, b) for a, b in zip(before[net], during[net])), net
    for opt in (model.approximator_optimizer, model.critic_optimizer):
        moments = [v for v in opt.variables if "momentum" in v.path or "velocity" in v.path]
        assert moments and not any(np.any(v.numpy()) for v in moments)  # Adam's moments stay 0
    assert any(not np.array_equal(a, b) for a, b in zip(before["encoder"], during["encoder"]))
    assert int(model.approximator_optimizer.iterations) == 0 and int(model.critic_optimizer.iterations) == 0
    model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    after = weights_of(model)
    for net in ("approximator", "critic"):
        assert any(not np.array_equal(a, b) for a, b in zip(during[net], after[net])), net
    # k = 2 real steps since the pretraining ended: the counter started from 0.
    assert int(model.approximator_optimizer.iterations) == 2 and int(model.critic_optimizer.iterations) == 2


def _spy_run(model, parts_values, spied):
    """One eager step on a batch whose equal parts are constant images of `parts_values`; returns the calls
    recorded by the spies (method name -> list of what each call saw)."""
    calls = {name: [] for name in spied}
    for name, record in spied.items():
        original = getattr(model, name)

        def spy(*args, _original=original, _record=record, _name=name):
            calls[_name].append(_record(model, *args))
            return _original(*args)
        setattr(model, name, spy)
    # part j of the step is examples j, j + parts, ... (strided)
    images = tf.reshape(tf.stack([tf.fill([4, 16, 16, 1], v) for v in parts_values], 1), [-1, 16, 16, 1])
    model.fit(tf.data.Dataset.from_tensors({"image": images}), epochs=1, verbose=0)
    return calls


def test_fresh_codes_encode_a_new_batch_for_each_approximator_step():
    """Algorithm 1 line 9: the k critic steps see codes of their own x (the step's batch parts 1..k, encoded
    by the encoder after step 1's update); reuse hands them step 1's codes."""
    mean = lambda model, images, *rest: float(tf.reduce_mean(images))  # noqa: E731
    model = tiny_model(pretrain_steps=0)
    model.compile(run_eagerly=True)
    assert model.model_config.approximator_codes == "fresh" and model.batches_per_step() == 1 + 2
    calls = _spy_run(model, [-0.5, 0.25, 0.75], {"_ae_grads": mean, "_encode_for_critic": mean})
    assert calls["_ae_grads"] == [-0.5] and calls["_encode_for_critic"] == [0.25, 0.75]
    reuse = tiny_model(pretrain_steps=0, approximator_codes="reuse")
    reuse.compile(run_eagerly=True)
    assert reuse.batches_per_step() == 1
    calls = _spy_run(reuse, [-0.5], {"_ae_grads": mean, "_encode_for_critic": mean})
    assert calls["_ae_grads"] == [-0.5] and calls["_encode_for_critic"] == []
    with pytest.raises(ValueError, match="3 equal parts"):
        model.fit(random_batches((16, 16, 1), 8), steps_per_epoch=1, epochs=1, verbose=0)


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_simultaneous_update_takes_both_gradients_before_either_step(update):
    """Algorithm 1 lines 11-13: G_φ's gradient is taken at the critic the critic's own gradient saw (and on
    the same z); alternating takes it after the critic's step."""
    def critic_now(model, *args):
        return model.critic.trainable_variables[0].numpy().copy()

    model = tiny_model(pretrain_steps=0, approximator_codes="reuse", approximator_update=update)
    model.compile(run_eagerly=True)
    calls = _spy_run(model, [0.1], {"_critic_grads": lambda m, codes, z, alpha: (critic_now(m), z.numpy()),
                                    "_approximator_grads": lambda m, z: (critic_now(m), z.numpy())})
    pairs = list(zip(calls["_critic_grads"], calls["_approximator_grads"]))
    assert len(pairs) == 2
    simultaneous = update == "simultaneous"
    for (critic_c, z_c), (critic_a, z_a) in pairs:
        assert np.array_equal(critic_c, critic_a) == simultaneous
        assert np.array_equal(z_c, z_a) == simultaneous


def test_critic_step_widens_the_gap_and_approximator_step_closes_it():
    model = tiny_model(gradient_penalty_weight=0.0, mlp_units=32, init_stddev=0.1)
    codes = tf.random.stateless_normal([64, 8], seed=[1, 2]) + 3.0  # "encoded" codes far from G_phi's
    z = tf.random.stateless_normal([64, 8], seed=[3, 4])

    def gap():
        return float(tf.reduce_mean(model.critic(codes)) - tf.reduce_mean(model.critic(model.approximate(z))))

    g0 = gap()
    grads, stats = model._critic_grads_impl(codes, z, tf.fill([64], 0.5))
    assert float(stats["wasserstein"]) == pytest.approx(g0, abs=1e-5)
    for g, v in zip(grads, model.critic.trainable_variables):
        v.assign_sub(0.01 * g)
    g1 = gap()
    assert g1 > g0  # the critic scores encoded codes higher than approximated ones
    grads, _ = model._approximator_grads_impl(z)
    for g, v in zip(grads, model.approximator.trainable_variables):
        v.assign_sub(0.01 * g)
    assert gap() < g1  # the approximator moves its codes where the critic scores high


def test_autoencoder_gradient_ignores_discriminator_loss_and_codes_are_detached():
    model = tiny_model()
    real = tf.random.stateless_uniform([8, 16, 16, 1], seed=[5, 6], minval=-1, maxval=1)
    ae_grads, d_grads, codes, stats = model._ae_grads_impl(real)
    assert len(ae_grads) == len(model.autoencoder_variables()) and all(g is not None for g in ae_grads)
    assert len(d_grads) == len(model.discriminator.trainable_variables) and all(g is not None for g in d_grads)
    with tf.GradientTape() as tape:
        tape.watch(codes)
        loss = tf.reduce_sum(model.critic(codes))
    assert tape.gradient(loss, model.encoder.trainable_variables[0]) is None
    assert float(stats["reconstruction_mse"]) == pytest.approx(
        float(tf.reduce_mean(tf.square(real - model.decoder(model.encoder(real, training=True), training=True)))),
        rel=1e-5)


def test_logit_adversarial_form_changes_only_the_adversarial_term():
    real = tf.random.stateless_uniform([8, 16, 16, 1], seed=[5, 6], minval=-1, maxval=1)
    models = {}
    for form in ("nonsaturating", "logit"):
        for weight in (0.0, 100.0):
            models[form, weight] = tiny_model(adversarial_weight=weight, adversarial_form=form)
    reference = models["nonsaturating", 0.0].get_weights()
    for m in models.values():
        m.set_weights(reference)
    out = {key: m._ae_grads_impl(real) for key, m in models.items()}
    # The logged term is -mean D(x_rec) over patches; D's loss and gradients are untouched.
    m = models["logit", 100.0]
    recon_logits = m.discriminator(m.decoder(m.encoder(real, training=True), training=True), training=True)
    assert float(out["logit", 100.0][3]["adversarial"]) == pytest.approx(-float(tf.reduce_mean(recon_logits)),
                                                                         rel=1e-4)
    assert float(out["logit", 100.0][3]["d_loss"]) == pytest.approx(float(out["nonsaturating", 100.0][3]["d_loss"]),
                                                                   rel=1e-5)
    for a, b in zip(out["logit", 100.0][1], out["nonsaturating", 100.0][1]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-7)
    # Without the term the two forms are one loss.
    for a, b in zip(out["logit", 0.0][0], out["nonsaturating", 0.0][0]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-8)

    def adversarial_part(form):  # the term's own gradient: (g at weight 100 - g at 0) / 100
        return np.concatenate([(a - b).numpy().ravel() for a, b in zip(out[form, 100.0][0], out[form, 0.0][0])])

    linear, saturating = adversarial_part("logit"), adversarial_part("nonsaturating")
    # At the N(0, 0.01) init the patch logits are ~0, so sigmoid(-D) ~ 1/2: the linear form's
    # gradient is the non-saturating one's doubled, the same direction.
    assert float(tf.reduce_max(tf.abs(recon_logits))) < 0.05
    assert np.linalg.norm(linear) > 0
    cosine = linear @ saturating / (np.linalg.norm(linear) * np.linalg.norm(saturating))
    assert cosine > 0.99
    assert np.linalg.norm(linear) / np.linalg.norm(saturating) == pytest.approx(2.0, rel=0.05)


# -- uses -----------------------------------------------------------------------------

def test_interpolation_ends_are_reconstructions_and_path_is_linear_in_code():
    model = tiny_model()
    a = tf.random.stateless_uniform([3, 16, 16, 1], seed=[1, 1], minval=-1, maxval=1)
    b = tf.random.stateless_uniform([3, 16, 16, 1], seed=[2, 2], minval=-1, maxval=1)
    path = model.interpolate(a, b, 5).numpy()
    assert path.shape == (3, 5, 16, 16, 1)
    np.testing.assert_allclose(path[:, 0], model.reconstruct(a).numpy(), atol=1e-5)
    np.testing.assert_allclose(path[:, -1], model.reconstruct(b).numpy(), atol=1e-5)
    mid = 0.5 * (model.encode(a) + model.encode(b))
    np.testing.assert_allclose(path[:, 2], model.decode(mid).numpy(), atol=1e-5)


def test_attribute_direction_and_manipulation():
    codes = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 1.0], [0.0, -1.0]])
    direction = attribute_direction(codes, [True, True, False, False])
    np.testing.assert_allclose(direction, [2.0, 1.0])
    with pytest.raises(ValueError, match="both with and without"):
        attribute_direction(codes, [True] * 4)
    model = tiny_model()
    images = tf.random.stateless_uniform([2, 16, 16, 1], seed=[7, 7], minval=-1, maxval=1)
    d = np.linspace(-1, 1, 8).astype(np.float32)
    moved = model.manipulate(images, d, [0.0, 2.0]).numpy()
    assert moved.shape == (2, 2, 16, 16, 1)
    np.testing.assert_allclose(moved[:, 0], model.reconstruct(images).numpy(), atol=1e-5)
    np.testing.assert_allclose(moved[:, 1], model.decode(model.encode(images) + 2.0 * d).numpy(), atol=1e-5)


def test_panels_and_histograms():
    model = tiny_model()
    real = next(iter(random_batches((16, 16, 1), 16, num_classes=3)))
    panels = model.image_panels(model.sample_latent(16, seed=1), real)
    assert {"samples", "real_vs_reconstruction", "interpolation", "manipulation", "codes"} <= set(panels)
    # 8 interpolation rows of a, 8 decodes, b; 17 px per 16 px tile plus the border.
    assert panels["interpolation"].shape == (1, 8 * 17 + 1, 10 * 17 + 1, 1)
    assert panels["codes"].shape[-1] == 3
    hist = model.histograms(model.sample_latent(16, seed=1), real)
    assert set(hist) == {f"codes/dim{d}/{k}" for d in range(4) for k in ("encoded", "approximated")}
    assert all(len(v) == 16 for v in hist.values())
