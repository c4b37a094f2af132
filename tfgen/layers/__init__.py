"""Generic network blocks shared by several methods (a method's own networks live in its folder)."""

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
