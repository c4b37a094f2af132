"""Differentiable image operations."""

from tfgen.ops.spatial_transform import affine_grid, bilinear_sample, spatial_transform

__all__ = ["affine_grid", "bilinear_sample", "spatial_transform"]
