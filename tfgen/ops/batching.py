"""One batched map for inference over arrays too large for one pass.

Every loop of the form "run the network on 250 images at a time and
concatenate" goes through `map_batches`, with one default batch size.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Sequence, Union

import numpy as np

__all__ = ["INFERENCE_BATCH_SIZE", "map_batches"]

# Examples per forward pass at inference: large enough to keep a CPU's
# matmuls efficient, small enough for 64x64 images and several levels of
# activations in a few hundred MB.
INFERENCE_BATCH_SIZE = 250

Output = Union[np.ndarray, Dict[str, np.ndarray], Sequence[np.ndarray]]


def _numpy(value) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def map_batches(fn: Callable[..., Any], *arrays, batch_size: int = INFERENCE_BATCH_SIZE) -> Output:
    """`fn` applied to consecutive slices of `arrays`, its outputs concatenated along axis 0.

    Args:
      fn: takes one slice of each array (numpy, [b, ...]) and returns a
        tensor or array [b, ...], a dict of them, or a tuple/list of them.
      *arrays: arrays with the same first dimension N (at least one).
      batch_size: examples per call, >= 1.

    Returns:
      Like `fn`'s output, as numpy arrays [N, ...]; with N = 0, `fn` is not
      called and an empty float32 array [0] is returned.

    Raises:
      ValueError: no arrays, arrays of different lengths, or batch_size < 1.
    """
    if not arrays:
        raise ValueError("map_batches needs at least one array")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"arrays of different lengths: {[len(a) for a in arrays]}")
    if n == 0:
        return np.zeros([0], np.float32)
    outputs = [fn(*(a[i:i + batch_size] for a in arrays)) for i in range(0, n, batch_size)]
    first = outputs[0]
    if isinstance(first, dict):
        return {k: np.concatenate([_numpy(o[k]) for o in outputs]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(np.concatenate([_numpy(o[j]) for o in outputs]) for j in range(len(first)))
    return np.concatenate([_numpy(o) for o in outputs])
