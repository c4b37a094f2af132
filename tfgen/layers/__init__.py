"""Reusable network blocks."""

from tfgen.layers.dcgan_blocks import (
    DCGANDiscriminator,
    DCGANGenerator,
    discriminator_trunk,
    generator_trunk,
    num_stages,
    to_image_layer,
)

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "discriminator_trunk", "generator_trunk", "num_stages",
           "to_image_layer"]
