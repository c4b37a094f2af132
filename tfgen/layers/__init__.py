"""Reusable network blocks."""

from tfgen.layers.dcgan_blocks import DCGANDiscriminator, DCGANGenerator, num_stages

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "num_stages"]
