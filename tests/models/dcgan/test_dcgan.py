"""DCGAN: the generic model test, the architecture of the paper, XLA."""

import numpy as np
import pytest

from model_testing import check_generative_model
from tfgen.layers import DCGANDiscriminator, DCGANGenerator


@pytest.mark.parametrize("image_shape", [(32, 32, 1)])  # colour: tests/models/test_every_model.py
def test_generic(image_shape):
    model, history = check_generative_model("dcgan", {"g_filters": 8, "d_filters": 8}, image_shape)
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}


def test_generic_with_xla():
    check_generative_model("dcgan", {"g_filters": 8, "d_filters": 8}, (16, 16, 1), xla=True)


def conv_shapes(net):
    return [(layer.name, tuple(layer.kernel.shape)) for layer in net.trunk.layers + net.head.layers
            if hasattr(layer, "kernel")]


def test_architecture_matches_lrgan_appendix_32():
    """32x32: G (512)4c-(256)4c2s-(128)4c2s-(3)4c2s; D (64)4c2s-(128)4c2s-(256)4c2s-(1)4c."""
    g = DCGANGenerator(32, 3, 100, 64)
    g.build((None, 100))
    assert conv_shapes(g) == [("project", (100, 4 * 4 * 512)), ("up0", (4, 4, 256, 512)),
                              ("up1", (4, 4, 128, 256)), ("to_image", (4, 4, 3, 128))]
    d = DCGANDiscriminator(32, 3, 64)
    d.build((None, 32, 32, 3))
    assert conv_shapes(d) == [("down0", (4, 4, 3, 64)), ("down1", (4, 4, 64, 128)),
                              ("down2", (4, 4, 128, 256)), ("to_logit", (4, 4, 256, 1))]
    out = g(np.zeros((2, 100), "float32"))
    assert out.shape == (2, 32, 32, 3)
    assert d(out).shape == (2,)


def test_depth_adapts_to_64():
    g = DCGANGenerator(64, 1, 100, 64)
    g.build((None, 100))
    assert [s[1][-2] for s in conv_shapes(g)[1:]] == [256, 128, 64, 1]
    d = DCGANDiscriminator(64, 1, 64)
    d.build((None, 64, 64, 1))
    assert [s[1][-1] for s in conv_shapes(d)] == [64, 128, 256, 512, 1]
    with pytest.raises(ValueError, match="power-of-two"):
        DCGANGenerator(48, 1)


def test_blocks_config_round_trip():
    g = DCGANGenerator(16, 3, 10, 4, name="g")
    assert DCGANGenerator.from_config(g.get_config()).get_config() == g.get_config()
    d = DCGANDiscriminator(16, 3, 4, name="d")
    assert DCGANDiscriminator.from_config(d.get_config()).get_config() == d.get_config()


def _tiny_pair(name, **overrides):
    """A compiled tiny DCGAN-family model (no XLA) and a batch of 8 random 16x16x1 images."""
    import keras

    from tfgen import config as config_lib
    from tfgen.models import build_model
    from model_testing import make_config, random_batches

    keras.utils.set_random_seed(0)
    model = build_model(make_config(name, {**config_lib.tiny_overrides(name), **overrides}), (16, 16, 1))
    model.compile()
    return model, next(iter(random_batches((16, 16, 1), 8)))


def _count_generator_passes(model):
    """Wraps the generator's forward pass with a counter; returns the counter."""
    counter = {"passes": 0}
    # LR-GAN's generator (and the conditional one's decomposition) run through layers_of.
    attr = "layers_of" if hasattr(model.generator, "layers_of") else "call"
    original = getattr(model.generator, attr)

    def counted(*args, **kwargs):
        counter["passes"] += 1
        return original(*args, **kwargs)

    setattr(model.generator, attr, counted)
    return counter


@pytest.mark.parametrize("name", ["dcgan", "lrgan", "conditional_lrgan"])
def test_one_iteration_runs_the_generator_forward_once(name):
    """The authors' practice: the generator step reuses the discriminator step's fake batch."""
    model, batch = _tiny_pair(name)
    assert model.model_config.generator_batch == "reuse"
    counter = _count_generator_passes(model)
    logs = model.train_step(batch)  # eagerly: each pass is counted as it runs
    assert counter["passes"] == 1
    assert all(np.isfinite(float(v)) for v in logs.values())
    if name != "conditional_lrgan":  # its "fake" is the reconstruction: no noise to draw afresh
        fresh, batch = _tiny_pair(name, generator_batch="fresh")
        counter = _count_generator_passes(fresh)
        fresh.train_step(batch)
        assert counter["passes"] == 2


@pytest.mark.parametrize("name", ["dcgan", "conditional_lrgan"])
def test_the_one_pass_iteration_equals_two_passes_on_the_same_noise(name):
    """Reusing the fake batch is the two-pass iteration with the generator's noise repeated
    (the path taken under XLA): the same weights after one iteration."""
    import tensorflow as tf

    one, batch = _tiny_pair(name)
    two, _ = _tiny_pair(name)
    for a, b in zip(one.weights, two.weights):
        b.assign(a)
    real = batch["image"]
    z = tf.random.stateless_normal([8, one.latent_dim], seed=[1, 2]) if name == "dcgan" else tf.zeros([8, 0])
    one._one_forward_step(real, z)
    d_grads, _ = two._d_grads_impl(real, z)
    two.d_optimizer.apply(d_grads, two.discriminator.trainable_variables)
    g_grads, _ = two._g_grads_impl(real, z)
    two.g_optimizer.apply(g_grads, two.generator_variables())
    moved = 0
    for (a, b), start in zip(zip(one.trainable_variables, two.trainable_variables),
                             [w.numpy() for w in _tiny_pair(name)[0].trainable_variables]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=a.path)
        moved += not np.allclose(a.numpy(), start)
    assert moved > len(one.trainable_variables) // 2  # the iteration did train both networks


# ---------------------------------------------------------------------------
# weight_init: the DCGAN paper's, or the LR-GAN authors' (PyTorch's defaults before 1.2)
# ---------------------------------------------------------------------------

def test_fan_in_uniform_uses_the_input_axis_of_each_kernel_layout():
    from tfgen.layers.dcgan_blocks import FanInUniform

    cases = [((300, 40), False, None, 300),           # dense [in, out]
             ((4, 4, 8, 64), False, None, 4 * 4 * 8),  # conv [k, k, in, out]
             ((4, 4, 64, 8), True, None, 4 * 4 * 8),   # transposed conv [k, k, out, in]
             ((100, 2048), False, 1600, 1600)]         # dense standing for a 4x4 transposed conv of z
    for shape, transposed, fan_in, n in cases:
        w = np.asarray(FanInUniform(transposed, fan_in, seed=1)(shape, dtype="float32"))
        bound = 1 / np.sqrt(n)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound, shape
        assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound, shape  # the uniform's std


def test_reference_init_draws_pytorchs_old_defaults():
    for init in ("dcgan", "reference"):
        g = DCGANGenerator(16, 1, 20, 8, weight_init=init)
        g.build((None, 20))
        d = DCGANDiscriminator(16, 1, 8, weight_init=init)
        d.build((None, 16, 16, 1))
        gammas = np.concatenate([layer.gamma.numpy() for net in (g, d) for layer in net.trunk.layers
                                 if hasattr(layer, "gamma")])
        up0 = g.trunk.get_layer("up0").kernel.numpy()  # [4, 4, 32, 64]: 64 input channels
        down1 = d.trunk.get_layer("down1").kernel.numpy()  # [4, 4, 8, 16]: 8 input channels
        if init == "dcgan":
            assert abs(gammas.mean() - 1.0) < 0.01 and gammas.std() < 0.03
            assert abs(up0.std() - 0.02) < 0.002 and abs(down1.std() - 0.02) < 0.002
        else:
            assert gammas.min() >= 0.0 and gammas.max() < 1.0 and abs(gammas.mean() - 0.5) < 0.1
            assert np.abs(up0).max() <= 1 / np.sqrt(16 * 64) and np.abs(down1).max() <= 1 / np.sqrt(16 * 8)
            assert np.abs(g.trunk.get_layer("project").kernel.numpy()).max() <= 1 / np.sqrt(16 * 20)
        assert DCGANGenerator.from_config(g.get_config()).weight_init == init
        assert DCGANDiscriminator.from_config(d.get_config()).weight_init == init


def test_weight_init_is_the_papers_by_default_and_refuses_other_schemes():
    from model_testing import make_config
    from tfgen.layers.dcgan_blocks import kernel_init

    assert make_config("dcgan").model.weight_init == "dcgan"
    assert make_config("lrgan").model.weight_init == "dcgan"
    with pytest.raises(ValueError, match="weight_init"):
        kernel_init("he")
