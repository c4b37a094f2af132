"""Basis functions and AND-OR trees of a sparsely connected generator.

AND-OR network paper, Appendix A. For one latent z, record the masks of
every ReLU (mr^i) and top-k (ms^i). With them frozen, the generator from
layer i's sparse activation fm^i ⊙ ms^i to the pre-tanh output is affine;
its linear part ψ^i (the same network without biases) maps the one-hot
ms_k^i of kept activation k to its basis function

    B_k^i = ψ^i(ms_k^i)                                   (Appendix A)

and, with s_k^i the value of that activation,

    pre-tanh output = Σ_k s_k^i B_k^i + b^i                (Eq. 25)

where b^i = (frozen map)(0) is the bias image of the layers above i (zero
when the generator has no biases, the form Eq. 25 prints). Basis functions
are computed batched: the one-hots of many activations go through the
frozen network as one batch (the masks broadcast over it).

An AND-OR tree (Fig. 1) starts from the most activated nodes of one layer;
the children of node n are the kept activations of the next layer that n
feeds most: the frozen linear map from layer i to layer i+1, applied to
s_n · one-hot(n), gives each child's share of its value.

Layers are numbered as in Table 1 (2 = the FC output, 3 = 8x8, ...).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgen.models.andor.ncc import score_against_null
from tfgen.models.andor.networks import AndOrGenerator
from tfgen.ops.batching import map_batches


def _one_z(z) -> tf.Tensor:
    z = tf.convert_to_tensor(z, tf.float32)
    return tf.reshape(z, [1, -1])


def record(generator: AndOrGenerator, z) -> Dict[str, Any]:
    """One z's forward pass: pre-tanh [H, W, C], masks, and every layer's activation [h, w, c]."""
    pre, rec = generator.run(_one_z(z), record=True)
    return {"pre_tanh": pre[0], "masks": rec["masks"],
            "activations": {layer: a[0] for layer, a in rec["activations"].items()}}


def one_hots(shape: Sequence[int], positions, values=None) -> tf.Tensor:
    """[K, h, w, c] tensor with entry positions[k] = values[k] (default 1), else 0."""
    positions = tf.convert_to_tensor(positions, tf.int32)
    k = tf.shape(positions)[0]
    values = tf.ones([k]) if values is None else tf.convert_to_tensor(values, tf.float32)
    idx = tf.concat([tf.range(k)[:, None], positions], axis=1)
    return tf.scatter_nd(idx, values, tf.concat([[k], tf.constant(list(shape), tf.int32)], 0))


def basis_at(generator: AndOrGenerator, rec: Dict[str, Any], layer: int, positions,
             chunk: int = 512) -> np.ndarray:
    """B_k = ψ^layer(one-hot at each position): float32 [K, H, W, C] (pre-tanh units).

    Args:
      rec: `record(generator, z)` of the z whose masks are frozen.
      positions: int [K, 3] (row, column, channel) in the layer's activation.
      chunk: one-hots per batch through the frozen network (bounds memory).
    """
    positions = np.asarray(positions, np.int32).reshape(-1, 3)
    if not len(positions):
        return np.zeros([0, generator.image_size, generator.image_size, generator.out_channels], np.float32)
    shape = generator.layer_shape(layer)
    return map_batches(lambda p: generator.run(one_hots(shape, p), start_layer=layer, masks=rec["masks"], bias=False),
                       positions, batch_size=chunk)


def bias_image(generator: AndOrGenerator, rec: Dict[str, Any], layer: int) -> tf.Tensor:
    """b^layer: the frozen map above `layer` applied to zero, [H, W, C]."""
    zero = tf.zeros([1, *generator.layer_shape(layer)])
    return generator.run(zero, start_layer=layer, masks=rec["masks"], bias=True)[0]


def basis_functions(generator: AndOrGenerator, z, layer: int, top: Optional[int] = None,
                    chunk: int = 512) -> Dict[str, np.ndarray]:
    """Every kept (non-zero) activation of `layer` for one z, with its basis function.

    Args:
      z: [latent_dim] or [1, latent_dim].
      layer: Table 1 layer number (2 .. last).
      top: keep only the `top` largest coefficients (default: all).

    Returns:
      dict of numpy arrays: "basis" [K, H, W, C], "coefficients" [K] (s_k,
      descending), "positions" [K, 3] (row, column, channel), "bias" [H, W, C]
      (b^i), "pre_tanh" [H, W, C] (the generator's own pre-tanh output).
    """
    rec = record(generator, z)
    act = rec["activations"][layer].numpy()
    positions = np.argwhere(act != 0)
    coefficients = act[tuple(positions.T)]
    order = np.argsort(-coefficients, kind="stable")[:top]
    positions, coefficients = positions[order], coefficients[order]
    return {"basis": basis_at(generator, rec, layer, positions, chunk), "coefficients": coefficients,
            "positions": positions, "bias": bias_image(generator, rec, layer).numpy(),
            "pre_tanh": rec["pre_tanh"].numpy()}


def top_basis_functions(generator: AndOrGenerator, z: tf.Tensor, layer: int, num: int) -> Dict[str, tf.Tensor]:
    """The `num` largest activations of `layer` for each z, in TensorFlow ops only (exportable).

    Args:
      z: [batch, latent_dim].

    Returns:
      "basis" [batch, num, H, W, C], "coefficients" [batch, num] (descending;
      0 where fewer than `num` activations are non-zero), "positions"
      [batch, num, 3] int32 (row, column, channel).
    """
    shape = generator.layer_shape(layer)
    size = int(np.prod(shape))
    num = min(int(num), size)

    def one(zi):
        pre, rec = generator.run(zi[None], record=True)
        act = tf.reshape(rec["activations"][layer][0], [-1])
        values, flat = tf.math.top_k(act, k=num)
        hot = tf.reshape(tf.one_hot(flat, size), [num, *shape])
        basis = generator.run(hot, start_layer=layer, masks=rec["masks"], bias=False)
        positions = tf.transpose(tf.unravel_index(flat, shape))  # [num, 3]
        return basis, values, tf.cast(positions, tf.int32)

    out_shape = [generator.image_size, generator.image_size, generator.out_channels]
    basis, values, positions = tf.map_fn(
        one, tf.convert_to_tensor(z, tf.float32),
        fn_output_signature=(tf.TensorSpec([num, *out_shape], tf.float32), tf.TensorSpec([num], tf.float32),
                             tf.TensorSpec([num, 3], tf.int32)))
    return {"basis": basis, "coefficients": values, "positions": positions}


# -- AND-OR trees ----------------------------------------------------------------

def and_or_tree(generator: AndOrGenerator, z, layers: Sequence[int], nodes: int = 3,
                children: int = 3) -> Dict[str, Any]:
    """The AND-OR tree of one z (Fig. 1).

    Args:
      layers: consecutive layer numbers, top first (e.g. [3, 4, 5]).
      nodes: top nodes (largest s) at the first layer.
      children: children kept per node (largest positive contribution).

    Returns:
      {"image": generated image [H, W, C] in [-1, 1], "pre_tanh", "roots":
      [node]}, each node a dict with "layer", "position" (row, column,
      channel), "coefficient" (s), "contribution" (its share of the
      parent's value; the root's is s), "basis" (s·B, pre-tanh units
      [H, W, C]) and "children" (a list of nodes).
    """
    layers = list(layers)
    rec = record(generator, z)
    act = rec["activations"][layers[0]].numpy()
    flat = act.ravel()
    top = np.argsort(-flat, kind="stable")[:nodes]
    top = top[flat[top] > 0]
    level = [{"layer": layers[0], "position": tuple(int(v) for v in np.unravel_index(i, act.shape)),
              "coefficient": float(flat[i]), "contribution": float(flat[i]), "children": []} for i in top]
    roots = level
    for upper, lower in zip(layers, layers[1:]):
        if not level:
            break
        positions = [n["position"] for n in level]
        values = [n["coefficient"] for n in level]
        shares = generator.run(one_hots(generator.layer_shape(upper), positions, values), start_layer=upper,
                               masks=rec["masks"], bias=False, stop_layer=lower).numpy()
        lower_act = rec["activations"][lower].numpy()
        next_level = []
        for node, share in zip(level, shares):
            share = np.where(lower_act != 0, share, 0.0).ravel()
            best = np.argsort(-share, kind="stable")[:children]
            for i in best[share[best] > 0]:
                pos = tuple(int(v) for v in np.unravel_index(i, lower_act.shape))
                child = {"layer": lower, "position": pos, "coefficient": float(lower_act[pos]),
                         "contribution": float(share[i]), "children": []}
                node["children"].append(child)
                next_level.append(child)
        level = next_level
    _attach_bases(generator, rec, roots)
    return {"image": np.tanh(rec["pre_tanh"].numpy()), "pre_tanh": rec["pre_tanh"].numpy(), "roots": roots}


def _walk(nodes):
    for n in nodes:
        yield n
        yield from _walk(n["children"])


def _attach_bases(generator, rec, roots) -> None:
    by_layer: Dict[int, List[dict]] = {}
    for n in _walk(roots):
        by_layer.setdefault(n["layer"], []).append(n)
    for layer, group in by_layer.items():
        basis = basis_at(generator, rec, layer, [n["position"] for n in group])
        for n, b in zip(group, basis):
            n["basis"] = n["coefficient"] * b


def tree_markdown(tree: Dict[str, Any], generator: AndOrGenerator) -> str:
    """The tree as a nested Markdown list (TensorBoard text renders it)."""
    lines = ["AND-OR tree of one sample: each node is a kept activation (layer, channel, position), "
             "s its value; children are the next layer's activations it feeds most (their share in "
             "brackets).", ""]

    def add(node, depth):
        h, w, c = node["position"]
        size = generator.layer_shape(node["layer"])[0]
        share = "" if depth == 0 else f" [share {node['contribution']:.3g}]"
        lines.append(f"{'  ' * depth}- layer {node['layer']} ({size}x{size}): channel {c} at ({h}, {w}), "
                     f"s = {node['coefficient']:.3g}{share}")
        for child in node["children"]:
            add(child, depth + 1)

    for root in tree["roots"]:
        add(root, 0)
    if not tree["roots"]:
        lines.append("- (no active node)")
    return "\n".join(lines)


# -- learned primitives and parts -------------------------------------------------

def most_used_basis(generator: AndOrGenerator, zs, layer, num: int):
    """The `num` channels of `layer` active most often over many z, with their basis functions.

    Each channel is shown through its strongest occurrence (the z and
    position of its largest coefficient).

    Args:
      zs: [N, latent_dim].
      layer: a layer number, or a sequence of them: every layer's result then
        comes from one batched forward pass over `zs` (the pass records all
        layers' activations), and each z's masks are recorded once.

    Returns:
      For one layer: "basis" [num, H, W, C] (s·B), "channels" [num], "usage"
      [num] (mean number of kept activations per z), "coefficients" [num].
      For a sequence: {layer: that dict}.
    """
    layers = [layer] if np.isscalar(layer) else list(layer)
    zs = np.asarray(zs, np.float32)
    # 64 z per pass; one pass gives every requested layer's activations.
    acts = map_batches(lambda z: tuple(generator.run(tf.constant(z), record=True)[1]["activations"][n]
                                       for n in layers), zs, batch_size=64)
    records = {}  # z index -> record(generator, z): the masks its basis functions are computed under
    out = {}
    for number, layer_acts in zip(layers, acts):  # [N, h, w, c] each
        usage = (layer_acts != 0).sum(axis=(1, 2)).mean(axis=0)  # per channel
        channels = np.argsort(-usage, kind="stable")[:num]
        channels = channels[usage[channels] > 0]
        bases, coefficients = [], []
        for c in channels:
            n, h, w = np.unravel_index(np.argmax(layer_acts[..., c]), layer_acts.shape[:3])
            if n not in records:
                records[n] = record(generator, zs[n])
            s = float(layer_acts[n, h, w, c])
            bases.append(s * basis_at(generator, records[n], number, [(h, w, c)])[0])
            coefficients.append(s)
        shape = (0, generator.image_size, generator.image_size, generator.out_channels)
        out[number] = {"basis": np.stack(bases) if bases else np.zeros(shape, np.float32), "channels": channels,
                       "usage": usage[channels], "coefficients": np.asarray(coefficients, np.float32)}
    return out[layers[0]] if np.isscalar(layer) else out


def border_share(activations) -> Dict[str, float]:
    """Where a layer's kept entries sit: the share on the map's one-pixel border.

    Args:
      activations: a layer's sparse activations [N, h, w, c].

    Returns:
      "share": fraction of the non-zero entries whose row or column is on
      the border; "positions": the border's fraction of the positions (what
      the share would be if position did not matter).
    """
    a = np.asarray(activations)
    _, h, w, _ = a.shape
    border = np.zeros((h, w), bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    kept = a != 0
    total = int(kept.sum())
    on_border = int(kept[:, border, :].sum())
    return {"share": on_border / total if total else float("nan"), "positions": float(border.mean())}


def layer_bases(generator: AndOrGenerator, zs, layer: int, per_z: int) -> List[np.ndarray]:
    """s·B of the `per_z` largest activations of `layer` for each z (for template matching)."""
    out = []
    for z in np.asarray(zs):
        b = basis_functions(generator, z, layer, top=per_z)
        out.extend(b["coefficients"][:, None, None, None] * b["basis"])
    return out


def interpretability_score(generator: AndOrGenerator, zs, images, layer: int = 3, per_z: int = 8,
                           rel_threshold: float = 0.01) -> Dict[str, Any]:
    """Table 4: mean best NCC of `layer`'s basis functions against images.

    Each basis function s·B is cropped to its support and matched (fast
    normalized cross-correlation) against every window of every image; a
    basis function scores its best match; the score is the mean.

    Args:
      zs: [N, latent_dim] latents whose top `per_z` activations are scored.
      images: [M, H, W, C] training images in [-1, 1].
    """
    bases = layer_bases(generator, zs, layer, per_z)
    result = score_against_null(np.asarray(images, np.float32), bases, rel_threshold=rel_threshold)
    return {"mean": float(result["mean"]), "count": int(result["count"]),
            "std": float(np.std(result["scores"])) if result["scores"] else float("nan"),
            "null": result["null"], "margin": float(result["margin"])}
