"""HALI's and ALI's losses, pure and per example (reduced by the train step with `reduce_loss`)."""

from __future__ import annotations

import tensorflow as tf

from tfgen.losses import nonsaturating_discriminator_loss, reconstruction_distance

__all__ = ["ali_discriminator_loss", "ali_generator_loss", "cycle_loss", "masked_cross_entropy"]


def ali_discriminator_loss(encoder_logits: tf.Tensor, decoder_logits: tf.Tensor) -> tf.Tensor:
    """ALI/HALI discriminator loss (Dumoulin et al. 2017; HALI Algorithm 1).

    L_D = -log sigmoid(D(x, ẑ)) - log(1 - sigmoid(D(x̃, z)))
        = softplus(-D(x, ẑ)) + softplus(D(x̃, z))

    Encoder triples (x, ẑ1, ẑ2) play the "real" side, decoder triples
    (x̃, z̃1, z2) the "fake" side.

    Args:
      encoder_logits: [batch] D on encoder triples.
      decoder_logits: [batch] D on decoder triples.

    Returns:
      [batch] per-example loss, >= 0.
    """
    return nonsaturating_discriminator_loss(encoder_logits, decoder_logits)


def ali_generator_loss(encoder_logits: tf.Tensor, decoder_logits: tf.Tensor) -> tf.Tensor:
    """ALI/HALI encoder-and-decoder loss: the discriminator's with sides swapped.

    L_GE = softplus(D(x, ẑ)) + softplus(-D(x̃, z))

    (the non-saturating form of ALI's reference code: the encoder is pushed
    to look like the decoder and the decoder like the encoder).

    Args:
      encoder_logits: [batch] D on encoder triples.
      decoder_logits: [batch] D on decoder triples.

    Returns:
      [batch] per-example loss, >= 0.
    """
    return nonsaturating_discriminator_loss(decoder_logits, encoder_logits)


def cycle_loss(images: tf.Tensor, reconstructions: tf.Tensor) -> tf.Tensor:
    """Explicit cycle-consistency cost in x (ALICE's ℓ2 form; not in ALI or HALI).

    L_cycle(x) = mean over pixels and channels of (x - G(ẑ))², ẑ ~ q(z | x).

    Li, Liu, Chen, Pu, Chen, Henao & Carin, "ALICE: Towards Understanding
    Adversarial Learning for Joint Distribution Matching", NeurIPS 2017:
    ALI's objective leaves p(x | z) and q(z | x) unidentified (many couplings
    match the same joints), and an added conditional-entropy bound, of which
    this is the ℓ2 reconstruction form, picks the one that reconstructs.

    Args:
      images: [batch, S, S, C] real images in [-1, 1].
      reconstructions: [batch, S, S, C] G(ẑ) for ẑ drawn from q(z | images).

    Returns:
      float32 [batch], >= 0 (4 at most).
    """
    return reconstruction_distance(tf.cast(images, tf.float32), tf.cast(reconstructions, tf.float32), "l2")


def masked_cross_entropy(logits: tf.Tensor, labels: tf.Tensor, labelled: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy on the labelled examples, exactly 0 on the others (§7.2, Eq. 10).

    -log q(y | z2) with q a softmax over `logits`. An unlabelled example's
    label is never read (it may hold any value, e.g. -1), and its loss and
    every gradient through it are exactly 0.

    Args:
      logits: float [batch, num_classes].
      labels: int [batch]; only entries where `labelled` is true are used.
      labelled: bool [batch].

    Returns:
      float [batch], >= 0; 0 where `labelled` is false.
    """
    labels = tf.cast(labels, tf.int32)
    safe = tf.where(labelled, labels, tf.zeros_like(labels))
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
    return tf.where(labelled, per_example, tf.zeros_like(per_example))


def code_snr(mean: tf.Tensor, log_sigma: tf.Tensor) -> tf.Tensor:
    """How much an encoder level's codes say about x: Var_x[μ(x)] / E_x[σ(x)²].

    The variance over the batch of each code unit's posterior mean, averaged
    over units, divided by the mean posterior variance. 0 when the encoder
    ignores x (its samples are noise around one point); an encoder matching
    the N(0, I) prior with informative codes has Var[μ] + E[σ²] ≈ 1, so the
    ratio is large. For a Gaussian channel, ½ log(1 + ratio) approximates the
    nats per unit the level carries. A diagnostic, not a loss: no gradient
    is taken through it.

    Args:
      mean, log_sigma: [batch, ...] the level's posterior parameters (z1 maps
        or z2 vectors), batch >= 2.

    Returns:
      float32 scalar >= 0.
    """
    mean = tf.cast(mean, tf.float32)
    spread = tf.reduce_mean(tf.math.reduce_variance(mean, axis=0))
    return spread / tf.reduce_mean(tf.exp(2.0 * tf.cast(log_sigma, tf.float32)))


def pairing_belief_gap(paired_logits: tf.Tensor, swapped_logits: tf.Tensor) -> tf.Tensor:
    """D's mean belief in (x_i, z_i) minus its mean belief in (x_i, z_j): mean σ(l_paired) − mean σ(l_swapped).

    0 when D judges x and z separately. Compressed when every logit shifts
    or saturates (see `pairing_rank_accuracy`). A diagnostic: no gradient.

    Args:
      paired_logits, swapped_logits: [batch] logits, example i's in row i.

    Returns:
      float32 scalar in [-1, 1].
    """
    paired, swapped = tf.cast(paired_logits, tf.float32), tf.cast(swapped_logits, tf.float32)
    return tf.reduce_mean(tf.sigmoid(paired)) - tf.reduce_mean(tf.sigmoid(swapped))


def pairing_rank_accuracy(paired_logits: tf.Tensor, swapped_logits: tf.Tensor) -> tf.Tensor:
    """How often D prefers an example's own codes: mean of 1[l(x_i, z_i) > l(x_i, z_j)] (ties ½).

    l(x_i, z_i) is D's logit on an image with its own codes, l(x_i, z_j)
    on the same image with another example's. A D that judges x and z
    separately gives equal logits (0.5 exactly); one that reads the
    pairing ranks the own codes first (→ 1). Unlike the difference of mean
    sigmoids, a shift of every logit (D's inference mode turns off its
    dropout and noise, which moved every logit by ~−0.75 in a trained ALI)
    or their saturation leaves it unchanged. A diagnostic: no gradient.

    Args:
      paired_logits, swapped_logits: [batch] logits, example i's in row i.

    Returns:
      float32 scalar in [0, 1].
    """
    paired, swapped = tf.cast(paired_logits, tf.float32), tf.cast(swapped_logits, tf.float32)
    wins = tf.cast(paired > swapped, tf.float32) + 0.5 * tf.cast(paired == swapped, tf.float32)
    return tf.reduce_mean(wins)
