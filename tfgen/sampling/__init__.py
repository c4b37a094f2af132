"""Samplers shared by the energy-based and latent-inference models."""

from tfgen.sampling.langevin import langevin

__all__ = ["langevin"]
