"""The one reduction every train step uses."""

import tensorflow as tf


def reduce_loss(per_example: tf.Tensor, global_batch_size) -> tf.Tensor:
    """Averages per-example losses over the *global* batch.

    Under a `tf.distribute` strategy each replica sees `global / replicas`
    examples and gradients are summed across replicas, so dividing the local
    sum by the global batch size gives exactly the single-device gradient
    (a plain `reduce_mean` would be `replicas` times too large).

    Args:
      per_example: float tensor [local_batch] (extra axes are averaged first).
      global_batch_size: int or scalar tensor, examples in the whole step.

    Returns:
      Scalar: this replica's share of the mean loss.
    """
    per_example = tf.convert_to_tensor(per_example)
    if per_example.shape.rank > 1:
        per_example = tf.reduce_mean(per_example, axis=list(range(1, per_example.shape.rank)))
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
