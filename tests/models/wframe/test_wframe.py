"""wFRAME / FRAME: filter banks, the energy and its θ objective against hand
computations, the Langevin chain on the reference distribution against its
closed form, persistent chains across a resume, the generic model test and
export."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen.models  # noqa: F401
from tfgen import config as config_lib
from tfgen.errors import TfgenError, WeightsNotFoundError
from tfgen.models.wframe import filter_bank as fb
from tfgen.models.wframe.losses import (
    frame_energy,
    frame_theta_loss,
    gradient_norm_penalty,
    power_iteration,
    response_distance,
    squared_input_gradient_norm,
)
from tfgen.models import build_model

from export_testing import reload_without_tfgen
from model_testing import check_generative_model, make_config, random_batches

TINY = config_lib.tiny_overrides("wframe")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def tiny_model(image_shape=(16, 16, 1), **overrides):
    model = build_model(make_config("wframe", {**TINY, **overrides}), image_shape)
    model.compile()
    return model


# -- filter banks --------------------------------------------------------------

def test_vgg16_bank_matches_keras_vgg16_first_four_conv_layers(tmp_path):
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg16_notop.weights.h5")
    vgg.save_weights(path)
    bank = fb.vgg16_filter_bank(path)
    assert bank.num_filters == 128 and bank.in_channels == 3 and bank.bgr
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    # Keras' own pipeline: [0, 255] RGB -> preprocess_input (BGR, minus the ImageNet mean) -> conv2_2 (+ReLU).
    reference = keras.Model(vgg.input, vgg.get_layer("block2_conv2").output)(
        keras.applications.vgg16.preprocess_input(127.5 * (images + 1.0)))
    ours = tf.nn.relu(bank(bank.to_units(tf.constant(images))))
    np.testing.assert_allclose(ours.numpy(), np.asarray(reference), rtol=1e-4, atol=1e-3)
    # Units: the mean image is 0, and to_image inverts to_units.
    np.testing.assert_allclose(bank.to_image(bank.to_units(tf.constant(images))).numpy(), images, atol=1e-5)


def test_vgg16_bank_without_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(WeightsNotFoundError, match="never downloads.*filter_bank=learned"):
        fb.vgg16_filter_bank(None)
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        fb.vgg16_filter_bank(str(tmp_path / "missing.h5"))
    (tmp_path / "bad.h5").write_text("not weights")
    with pytest.raises(TfgenError, match="cannot be loaded as VGG-16"):
        fb.vgg16_filter_bank(str(tmp_path / "bad.h5"))


def test_learned_bank_is_trained_once_cached_and_reads_centred_units(tmp_path, monkeypatch):
    data = config_lib.config_from_dict({"model": {"name": "wframe"},
                                        "data": {"name": "multidigit", "num_train": 128, "num_test": 32,
                                                 "image_size": 16}}).data
    folder = fb.learned_bank_for(data, steps=3, cache_dir=str(tmp_path))
    assert os.path.isfile(os.path.join(folder, "filters.npz"))
    meta = json.load(open(os.path.join(folder, "bank.json")))
    assert meta["dataset"] == "multidigit" and meta["steps"] == 3 and 0.0 <= meta["train_accuracy"] <= 1.0

    def no_training(*args, **kwargs):
        raise AssertionError("the cached bank was trained again")

    monkeypatch.setattr(fb, "train_filter_classifier", no_training)
    assert fb.learned_bank_for(data, steps=3, cache_dir=str(tmp_path)) == folder
    # Per-class models share the bank of the whole dataset.
    import dataclasses

    assert fb.learned_bank_for(dataclasses.replace(data, classes=[3]), steps=3, cache_dir=str(tmp_path)) == folder
    bank = fb.load_learned_bank(folder)
    assert "learned on multidigit" in bank.description and bank.in_channels == 1

    # The classifier saw [-1, 1] images minus their mean pixel, and the first kernel
    # is folded by 1/127.5: the bank on centred units equals those convolutions.
    assert 0.0 < meta["mean"][0] < 127.5  # digits: mostly dark background
    images = tf.random.uniform((2, 16, 16, 1), -1, 1, seed=1)
    x = images - (meta["mean"][0] / 127.5 - 1.0)
    for i, (k, b) in enumerate(zip(bank.kernels, bank.biases)):
        k = k * 127.5 if i == 0 else k
        x = tf.nn.conv2d(x, k, 1, "SAME") + b
        if i < 3:
            x = tf.nn.relu(x)
        if i == 1:
            x = tf.nn.max_pool2d(x, 2, 2, "SAME")
    np.testing.assert_allclose(bank(bank.to_units(images)).numpy(), x.numpy(), rtol=1e-4, atol=1e-4)


def test_learned_bank_needs_labels_and_a_real_folder(tmp_path):
    with pytest.raises(TfgenError, match="not a learned filter bank"):
        fb.load_learned_bank(str(tmp_path))


# -- the energy and the θ objective ---------------------------------------------

def linear_bank(weights, biases):
    """One 1x1 conv layer on gray images: F_k(x)_p = w_k x_p + b_k."""
    kernels = [np.asarray(weights, np.float32).reshape(1, 1, 1, -1)]
    return fb.FilterBank(kernels, [np.asarray(biases, np.float32)], [127.5], pool_after=())


def test_gradient_norm_term_matches_a_hand_computation():
    w, b = np.array([1.5, -2.0, 0.5]), np.array([0.1, 0.3, -0.2])
    theta = tf.Variable([0.7, -1.1, 2.0])
    bank = linear_bank(w, b)
    x = np.random.default_rng(0).normal(size=(4, 5, 5, 1)).astype("float32")

    def energy(u):
        return frame_energy(bank(u), theta)

    with tf.GradientTape() as tape:
        norms = squared_input_gradient_norm(energy, tf.constant(x))
        total = tf.reduce_mean(norms)
    p = tape.gradient(total, theta).numpy()

    # By hand: masks m_kp = [w_k x_p + b_k > 0]; ∇_x Φ at p = Σ_k θ_k m_kp w_k;
    # |∇Φ|² = Σ_p (Σ_k θ_k m_kp w_k)²; P_j = mean_i Σ_p 2 (Σ_k θ_k m_kp w_k) m_jp w_j.
    th = theta.numpy()
    masks = (x[..., None] * w + b > 0).astype(np.float64)  # [4, 5, 5, 1, K]
    grad_x = (masks * th * w).sum(-1)  # [4, 5, 5, 1]
    np.testing.assert_allclose(norms.numpy(), (grad_x ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)
    p_hand = (2 * grad_x[..., None] * masks * w).sum(axis=(1, 2, 3)).mean(0)
    np.testing.assert_allclose(p, p_hand, rtol=1e-5)


def test_the_two_theta_objectives_give_algorithm_1_line_14():
    w, b = np.array([1.0, -0.5]), np.array([0.2, 0.1])
    bank = linear_bank(w, b)
    theta = tf.Variable([0.3, -0.4])
    rng = np.random.default_rng(1)
    obs, prev, cur = (rng.normal(size=(n, 4, 4, 1)).astype("float32") for n in (6, 3, 3))
    lam, beta, gamma = 1e-2, 60.0, 0.25

    def energy(u):
        return frame_energy(bank(u), theta)

    with tf.GradientTape(persistent=True) as tape:
        likelihood = frame_theta_loss(energy(obs), energy(cur), 6, 3)
        penalty = gradient_norm_penalty(squared_input_gradient_norm(energy, prev),
                                        squared_input_gradient_norm(energy, cur), gamma, 3)
    # SGD at rate λ on the first, β/2 times the gradient of the second.
    step = -lam * tape.gradient(likelihood, theta).numpy() - beta / 2 * tape.gradient(penalty, theta).numpy()

    def h(x):  # ∇_θ Φ averaged over examples: mean_i Σ_p ReLU(F_k)
        return np.maximum(x[..., None] * w + b, 0).sum(axis=(1, 2, 3)).mean(0)

    def p(x):
        masks = (x[..., None] * w + b > 0).astype(np.float64)
        gx = (masks * theta.numpy() * w).sum(-1)
        return (2 * gx[..., None] * masks * w).sum(axis=(1, 2, 3)).mean(0)

    line_14 = lam * (h(obs) - h(cur)) - beta / 2 * ((1 - gamma) * p(prev) + gamma * p(cur))
    np.testing.assert_allclose(step, line_14, rtol=1e-5)


def test_power_iteration_finds_the_top_eigenvalue_of_the_gram_matrix():
    # Φ linear in θ: |∇_x Φ|² = θᵀ G θ, G = mean_i Σ_p (m_ip ∘ w)(m_ip ∘ w)ᵀ on a 1x1 bank.
    w, b = np.array([1.5, -2.0, 0.5]), np.array([0.1, 0.3, -0.2])
    bank = linear_bank(w, b)
    x = np.random.default_rng(2).normal(size=(5, 4, 4, 1)).astype("float32")
    masks = (x[..., None] * w + b > 0).reshape(-1, 3) * w  # [examples * positions, K]
    gram = masks.T @ masks / len(x)
    top = np.linalg.eigvalsh(gram)[-1]

    def matvec(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            norms = squared_input_gradient_norm(lambda u: frame_energy(bank(u), v), tf.constant(x))
            penalty = gradient_norm_penalty(norms, norms, 0.5, len(x))
        return 0.5 * tape.gradient(penalty, v)

    np.testing.assert_allclose(matvec(tf.constant([1.0, 0.0, 0.0])).numpy(), gram[:, 0], rtol=1e-5)
    assert float(power_iteration(matvec, tf.zeros(3), 60)) == pytest.approx(top, rel=1e-4)
    one = float(power_iteration(matvec, tf.constant([1.0, 1.0, 0.0]), 1))
    assert one <= top * (1 + 1e-6)  # a Rayleigh quotient: never above μ_max


def test_response_distance_and_energy_shapes():
    a, b = tf.constant([1.0, 2.0, 3.0]), tf.constant([1.5, 2.0, 1.0])
    assert float(response_distance(a, b)) == pytest.approx((0.5 + 0.0 + 2.0) / 3)
    responses = tf.constant(np.random.default_rng(0).normal(size=(2, 3, 3, 4)), tf.float32)
    per_position = tf.ones((3, 3, 4))
    np.testing.assert_allclose(frame_energy(responses, per_position).numpy(),
                               np.maximum(responses.numpy(), 0).sum(axis=(1, 2, 3)), rtol=1e-6)


# -- Langevin on the reference distribution ---------------------------------------

def test_langevin_with_zero_theta_keeps_the_gaussian_reference_invariant():
    sigma, delta = 2.0, 0.5
    model = tiny_model(reference_sigma=sigma, step_size=delta)
    assert float(tf.reduce_max(tf.abs(model.theta))) == 0.0
    # With θ = 0 the chain is x <- a x + δ ε, a = 1 - δ²/(2σ²): its stationary law is
    # N(0, v), v = δ² / (1 - a²) (= σ² / (1 - δ²/(4σ²)), → σ² as δ → 0).
    a = 1 - delta ** 2 / (2 * sigma ** 2)
    v = delta ** 2 / (1 - a ** 2)
    assert v == pytest.approx(sigma ** 2 / (1 - delta ** 2 / (4 * sigma ** 2)))
    run = tf.function(lambda x, steps, seed: model._langevin(x, steps, seed))
    start = tf.random.stateless_normal((64, 16, 16, 1), seed=[1, 2]) * np.sqrt(v)
    after = run(start, 50, tf.constant([3, 4])).numpy()
    n = after.size
    assert abs(after.mean()) < 5 * np.sqrt(v / n)
    assert after.var() == pytest.approx(v, abs=5 * v * np.sqrt(2 / n))
    # From far away it converges there: variance 16 v shrinks to v (16 a^(2*150) ~ 1e-3).
    far = run(start * 4.0, 150, tf.constant([5, 6])).numpy()
    assert far.var() == pytest.approx(v, abs=5 * v * np.sqrt(2 / n))


# -- the model ---------------------------------------------------------------------

def test_generic_model_test_wframe():
    model, history = check_generative_model("wframe", TINY, image_shape=(16, 16, 1), batch_size=4, steps=2)
    for name in ("energy_observed", "energy_synthesized", "response_distance", "grad_norm"):
        assert np.isfinite(history[name][-1]), name
    assert np.any(model.chains.numpy() != 0), "the chains did not move"


def test_frame_is_beta_zero_and_weight_clipping_bounds_theta():
    frame = tiny_model(beta=0.0, clip=1e-3, learning_rate=10.0)
    frame.fit(random_batches((16, 16, 1), 4), steps_per_epoch=2, epochs=1, verbose=0)
    theta = frame.theta.numpy()
    assert np.max(np.abs(theta)) == pytest.approx(1e-3) and np.all(np.abs(theta) <= 1e-3 + 1e-9)


def test_train_step_moves_theta_by_lambda_times_the_objective_gradient():
    model = tiny_model(beta=0.0, learning_rate=1e-6)
    batch = next(iter(random_batches((16, 16, 1), 4)))
    before = model.theta.numpy().copy()
    chains_before = model.chains.numpy().copy()
    model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    # FRAME with θ = 0: the chains' Langevin ignores θ; H_obs − H_syn is measurable afterwards.
    h_obs = tf.reduce_mean(tf.reduce_sum(tf.nn.relu(model.bank(model.bank.to_units(batch["image"]))), [1, 2]), 0)
    h_syn = tf.reduce_mean(tf.reduce_sum(tf.nn.relu(model.bank(model.chains)), [1, 2]), 0)
    np.testing.assert_allclose(model.theta.numpy() - before, 1e-6 * (h_obs - h_syn).numpy(), rtol=1e-3, atol=1e-9)
    assert not np.array_equal(chains_before, model.chains.numpy())


def test_per_position_theta_and_vgg_bank_on_gray_images(tmp_path):
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg.weights.h5")
    vgg.save_weights(path)
    model = tiny_model(image_shape=(32, 32, 1), filter_bank="vgg16", filter_bank_path=path,
                       theta_shape="per_position")
    assert tuple(model.theta.shape) == (16, 16, 128)
    history = model.fit(random_batches((32, 32, 1), 4), steps_per_epoch=1, epochs=1, verbose=0).history
    assert np.isfinite(history["energy_synthesized"][-1])


def test_chains_persist_across_a_checkpoint(tmp_path):
    from tfgen.training.checkpoints import TrainingState

    model = tiny_model()
    model.fit(random_batches((16, 16, 1), 4), steps_per_epoch=2, epochs=1, verbose=0)
    state = TrainingState(model, str(tmp_path))
    state.step.assign(2)
    state.save(2)
    chains, theta = model.chains.numpy().copy(), model.theta.numpy().copy()
    # Rebuilt from its config, as `load_workdir` does: an empty bank, zero chains.
    fresh = type(model).from_config(model.get_config())
    fresh.compile()
    assert not np.array_equal(fresh.chains.numpy(), chains)
    assert float(tf.reduce_max(tf.abs(fresh.bank.kernels[0]))) == 0.0
    assert TrainingState(fresh, str(tmp_path)).restore_latest() == 2
    np.testing.assert_array_equal(fresh.chains.numpy(), chains)
    np.testing.assert_array_equal(fresh.theta.numpy(), theta)
    for a, b in zip(fresh.bank.kernels + fresh.bank.biases, model.bank.kernels + model.bank.biases):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_panels_show_chains_trace_and_samples():
    model = tiny_model(langevin_steps=8)
    panels = model.image_panels(model.sample_latent(2, seed=1), next(iter(random_batches((16, 16, 1), 4))))
    assert panels["chains"].shape == (4, 16, 16, 1)
    assert panels["langevin_trace"].shape == (4 * 8, 16, 16, 1)
    assert model.histograms(None, None)["theta"].shape == (model.theta.shape[0],)


def test_export_reloads_without_tfgen(tmp_path):
    from tfgen.export import export_model

    model = tiny_model()
    model.fit(random_batches((16, 16, 1), 4), steps_per_epoch=1, epochs=1, verbose=0)
    path = str(tmp_path / "saved")
    export_model(model, path)
    out = reload_without_tfgen(path, {"synthesize": {"images": [3, 16, 16, 1], "steps": {"int": 4}},
                                      "energy": {"images": [3, 16, 16, 1]},
                                      "generate": {"z": [2, 16, 16, 1]}})
    assert {"synthesize", "energy", "generate", "serving_default"} <= set(out["signatures"])
    assert out["synthesize"]["images"] == [3, 16, 16, 1] and out["energy"]["energy"] == [3]
    lo, hi = out["synthesize_range"]["images"]
    assert -1.0 <= lo <= hi <= 1.0
    # Same start, same steps: the SavedModel's energy equals the model's.
    images = tf.random.stateless_uniform((3, 16, 16, 1), seed=[1, 2], minval=-1, maxval=1)
    served = tf.saved_model.load(path).signatures["energy"](images=images)["energy"]
    np.testing.assert_allclose(served.numpy(), model(images).numpy(), rtol=1e-5)


def test_gradient_norm_units_scale_beta_by_the_input_size_and_the_chains():
    data = tf.data.Dataset.from_tensors(next(iter(random_batches((16, 16, 1), 4))))
    d, m = 16 * 16, TINY["num_chains"]
    thetas = []
    for reduction, beta in (("per_pixel", 0.5), ("per_image", 0.5 / d), ("summed", 0.5 / (d * m))):
        keras.utils.set_random_seed(0)
        model = tiny_model(beta=beta, gradient_norm_reduction=reduction, learning_rate=1e-5)
        model.theta.assign(tf.fill(model.theta.shape, 0.5))  # nonzero: the β terms have a gradient
        model.fit(data, epochs=1, verbose=0)
        thetas.append(model.theta.numpy())
    for other in thetas[1:]:
        np.testing.assert_allclose(thetas[0], other, rtol=1e-4)
    assert not np.allclose(thetas[0], 0.5)


def fixed_chain_model(learning_rate, beta, **overrides):
    """A tiny model whose chains stay where they are put (δ = 0) and whose θ is nonzero."""
    keras.utils.set_random_seed(0)
    model = tiny_model(step_size=0.0, learning_rate=learning_rate, beta=beta, **overrides)
    model.chains.assign(tf.random.stateless_normal(model.chains.shape, seed=[3, 4]) * 20.0)
    model.theta.assign(tf.random.stateless_uniform(model.theta.shape, seed=[5, 6]))
    return model


def test_the_beta_step_is_the_same_for_every_lambda():
    batch = tf.data.Dataset.from_tensors(next(iter(random_batches((16, 16, 1), 4))))
    parts = []
    for lam in (1e-3, 1e-2):
        model = fixed_chain_model(lam, beta=0.05)
        theta = model.theta.numpy().copy()
        observed = model.bank.to_units(next(iter(batch))["image"])
        chains = tf.convert_to_tensor(model.chains)
        # The likelihood step by hand: λ (H_obs − H_syn), H = mean_i Σ_p ReLU(F_k).
        h_obs = tf.reduce_mean(tf.reduce_sum(tf.nn.relu(model.bank(observed)), [1, 2]), 0)
        h_syn = tf.reduce_mean(tf.reduce_sum(tf.nn.relu(model.bank(chains)), [1, 2]), 0)
        history = model.fit(batch, epochs=1, verbose=0).history
        np.testing.assert_array_equal(model.chains.numpy(), chains.numpy())  # δ = 0: the chains stay
        parts.append(model.theta.numpy() - theta - lam * (h_obs - h_syn).numpy())
        assert history["beta_step"][-1] == pytest.approx(np.linalg.norm(parts[-1]), rel=1e-3)
    assert np.linalg.norm(parts[0]) > 1e-4
    np.testing.assert_allclose(parts[0], parts[1], rtol=1e-4, atol=1e-7)


def test_a_beta_only_step_lowers_the_gradient_norm_while_it_contracts():
    data = tf.data.Dataset.from_tensors(next(iter(random_batches((16, 16, 1), 4))))

    def mean_norm(model, theta):
        return float(tf.reduce_mean(model._gradient_norm(tf.constant(theta), tf.convert_to_tensor(model.chains))))

    probe = fixed_chain_model(0.0, beta=1.0)
    chains = tf.convert_to_tensor(probe.chains)
    mu = float(tf.function(lambda c: probe.jko_curvature(c, c, 0.5, 100))(chains))
    assert mu > 0
    beta, mu_images = probe.beta_for(probe.bank.to_image(chains), contraction=1.0, iterations=100)
    assert mu_images == pytest.approx(mu, rel=1e-3) and beta == pytest.approx(1.0 / mu, rel=1e-3)
    # β μ_max = 1: every direction of θ shrinks, and so does E|∇_x Φ|².
    model = fixed_chain_model(0.0, beta=1.0 / mu, contraction_iterations=30)
    before = model.theta.numpy().copy()
    history = model.fit(data, epochs=1, verbose=0).history
    assert history["jko_contraction"][-1] == pytest.approx(1.0, rel=0.05)
    assert mean_norm(model, model.theta.numpy()) < 0.9 * mean_norm(model, before)
    # β μ_max = 4, θ along the top direction: the step overshoots (factor 1 − 4 = −3) and the norm grows.
    model = fixed_chain_model(0.0, beta=4.0 / mu)
    @tf.function
    def top_direction(v):
        for _ in tf.range(100):
            v = model._penalty_gradient(v, chains, chains, 0.5, tf.constant(TINY["num_chains"]))
            v = v / tf.norm(v)
        return v

    v = top_direction(tf.convert_to_tensor(model.theta))
    model.theta.assign(v)
    model.fit(data, epochs=1, verbose=0)
    assert mean_norm(model, model.theta.numpy()) > 4.0 * mean_norm(model, v.numpy())


def test_a_config_from_before_beta_left_lambda_reads_as_it_ran(caplog):
    old = {"name": "wframe", "learning_rate": 2e-3, "beta": 60.0, "gradient_norm": "sum"}
    cfg = config_lib.config_from_dict({"model": old}).model
    assert cfg.gradient_norm_reduction == "per_image" and cfg.beta == pytest.approx(0.12)
    assert "gradient_norm=sum is from before" in caplog.text
    # A model rebuilt from an old get_config() (a checkpoint's model.json) too.
    cfg = config_lib.config_from_dict({"model": {"name": "wframe", "gradient_norm": "mean"}}).model
    assert cfg.gradient_norm_reduction == "per_pixel" and cfg.beta == pytest.approx(60.0 * 1e-3)
    with pytest.raises(TfgenError, match="gradient_norm"):
        config_lib.config_from_dict({"model": {**old, "gradient_norm_reduction": "per_pixel"}})


def test_synthesis_runs_as_one_graph_without_xla():
    # Evaluation and sampling call synthesize eagerly: with XLA off it must still
    # be a graph (one trace for any number of steps), giving what the eager loop gives.
    model = tiny_model(langevin_steps=3)
    assert not model.xla
    start = model.sample_latent(2, seed=4)
    seed = tf.constant([7, 8], tf.int32)
    a = model.synthesize(start, steps=3, seed=seed)
    b = model.synthesize(start, steps=5, seed=seed)
    assert model._synthesize_compiled.experimental_get_tracing_count() == 1
    units = model.bank.to_units(tf.convert_to_tensor(start, tf.float32))
    eager = model.bank.to_image(model._synthesize_impl(units, tf.constant(3), seed))
    np.testing.assert_allclose(a.numpy(), eager.numpy(), atol=1e-5)
    assert not np.allclose(a.numpy(), b.numpy())
