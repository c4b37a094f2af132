"""Tensor operations shared by the methods: the differentiable spatial transformer, Adam as
one fused op per variable, the per-replica slice of global noise and state, and the one
batched map for inference.

Names are resolved lazily, so that `tfgen.ops.batching` (numpy only) can be
used without importing TensorFlow.
"""

from tfgen._lazy import lazy_attributes

_EXPORTS = {
    "affine_grid": "tfgen.ops.spatial_transformer",
    "bilinear_sample": "tfgen.ops.spatial_transformer",
    "spatial_transform": "tfgen.ops.spatial_transformer",
    "SAMPLER_GRADIENTS": "tfgen.ops.spatial_transformer",
    "auto_gradient_means": "tfgen.ops.spatial_transformer",
    "FusedAdam": "tfgen.ops.fused_adam",
    "INFERENCE_BATCH_SIZE": "tfgen.ops.batching",
    "map_batches": "tfgen.ops.batching",
    "per_example_draw": "tfgen.ops.replicas",
    "replica_slice": "tfgen.ops.replicas",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
