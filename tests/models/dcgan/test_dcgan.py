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
