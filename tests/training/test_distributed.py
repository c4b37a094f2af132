"""Training under tf.distribute: MirroredStrategy parity with one device for
every registered model, two local MultiWorkerMirroredStrategy workers, and
the Keras workarounds (with checks that tell when upstream fixed them)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from repo_paths import TESTS

HERE = TESTS  # the helper scripts live in tests/
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def registered_models():
    import tfgen.models  # noqa: F401
    from tfgen.models import names

    return [n for n in names() if not n.startswith("faulty")]


@pytest.mark.slow
@pytest.mark.parametrize("name", registered_models())
def test_mirrored_matches_one_device(name):
    proc = subprocess.run([sys.executable, os.path.join(HERE, "distributed_parity.py"), name], capture_output=True,
                          text=True, timeout=900, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = last_json(proc.stdout)
    assert set(results) == {name}
    for name, r in results.items():
        assert r["finite"] and r["changed"], (name, r)
        # Same global batch, same noise, synchronized batch norm, gradients summed
        # over replicas of losses scaled by the global batch: equal up to float error.
        assert r["max_abs_diff"] < 1e-4 * max(1.0, r["max_weight"]), (name, r)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def launch_workers(args_for, n=2):
    ports = free_ports(n)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(n):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen(args_for(i), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=env))
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outs.append((p.returncode, out, err))
    return outs


MW_CONFIG = textwrap.dedent("""\
    model: {name: dcgan, g_filters: 8, d_filters: 8}
    data: {name: multidigit, num_train: 256, num_test: 64, shuffle_buffer: 256}
    train: {batch_size: 16, steps: 6, checkpoint_every: 3, log_every: 1, image_every: 3,
            num_grid_images: 4, verbose: 0, strategy: multi_worker}
    """)


def test_two_workers_train_identically_and_only_the_chief_writes(tmp_path):
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(MW_CONFIG)
    workdirs = [tmp_path / "chief", tmp_path / "worker1"]
    outs = launch_workers(lambda i: [sys.executable, "-m", "tfgen", "train", str(cfg), "--workdir", str(workdirs[i])])
    summaries = []
    for code, out, err in outs:
        assert code == 0, err[-3000:]
        assert "2 replica(s)" in out
        summaries.append(json.loads(out[out.index("{"):]))
    assert [s["end_step"] for s in summaries] == [6, 6]
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]  # identical weights
    chief, other = workdirs
    assert (chief / "final" / "model.index").exists() and (chief / "checkpoints" / "ckpt-6.index").exists()
    assert list((chief / "logs" / "train").iterdir()) and (chief / "samples").exists()
    assert not other.exists(), "a non-chief worker wrote to its work directory"
    assert summaries[1]["samples_png"] is None


def test_upstream_still_misreduces_under_multi_worker():
    """When this fails, Keras fixed its multi-worker reductions: drop workarounds 1 and 2
    in tfgen/models/keras_workarounds.py."""
    outs = launch_workers(lambda i: [sys.executable, os.path.join(HERE, "multiworker_probe.py")])
    for code, out, err in outs:
        assert code == 0, err[-3000:]
        result = last_json(out)
        assert result["scalar_log_reduction"].startswith("fails"), result
        assert result["dict_batch_reduction"].startswith("fails"), result


class _IndexRecorder(keras.Model):
    """Records the example indices its train steps see."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.dense.build((None, 1))
        self.seen = self.add_weight(shape=(8,), initializer="zeros", trainable=False, name="seen")
        self.built = True

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        index = tf.cast(data["index"], tf.int32)
        self.seen.assign_add(tf.math.bincount(index, minlength=8, maxlength=8, dtype=self.seen.dtype))
        return {"n": tf.reduce_sum(self.seen)}


def _seen_under_strategy(model_cls):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = model_cls()
        model.compile()
    ds = tf.data.Dataset.from_tensor_slices({"index": np.arange(8, dtype=np.int64)}).batch(1)
    model.fit(ds, steps_per_epoch=4, epochs=1, verbose=0, shuffle=False)
    return model.seen.numpy()


def test_tfgen_models_see_every_batch_under_a_strategy():
    """Skipping the symbolic build loses no data: training starts at the first batch."""
    from tfgen.models.keras_workarounds import DistributedFitWorkarounds

    class Patched(DistributedFitWorkarounds, _IndexRecorder):
        pass

    seen = _seen_under_strategy(Patched)
    assert seen[:4].tolist() == [1, 1, 1, 1] and seen[4:].sum() == 0, seen
