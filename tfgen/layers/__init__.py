"""Reusable network blocks."""

from tfgen.layers.sparsity import TopKSparsity, top_k_mask

from tfgen.layers.dcgan_blocks import (
    DCGANDiscriminator,
    DCGANGenerator,
    discriminator_trunk,
    generator_trunk,
    num_stages,
    to_image_layer,
)

__all__ = ["TopKSparsity", "top_k_mask", "DCGANDiscriminator", "DCGANGenerator", "discriminator_trunk", "generator_trunk", "num_stages",
           "to_image_layer"]
