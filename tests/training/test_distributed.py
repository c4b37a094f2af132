"""Training under tf.distribute: MirroredStrategy parity with one device for
every registered model, two local MultiWorkerMirroredStrategy workers, and
the Keras workarounds (with checks that tell when upstream fixed them)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

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
    # The same run in one process, one replica, the same global batch (shuffled: data.worker_input exact).
    from cli_testing import tfgen

    one = tmp_path / "one.yaml"
    one.write_text(MW_CONFIG.replace("strategy: multi_worker", "strategy: default"))
    tfgen("train", one, "--workdir", tmp_path / "one")
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
    # Two workers train on exactly one process's batches (was: each shuffled its own shard, max diff 0.59).
    two, single = final_model_weights(chief), final_model_weights(tmp_path / "one")
    assert two.keys() == single.keys() and len(two) > 10
    # The networks' weights and batch-norm statistics agree to float32 rounding. The optimizer's slots
    # hold the last step's gradient, and this tiny DCGAN's is ill-conditioned: rounding-level differences
    # (the all-reduce's summation order) moved D's first-layer momentum by up to 0.006 of 0.69 at step 6
    # while every weight agreed to 8e-7 (steps 1-4: slots to 7e-7 too). Mixed-up batches moved weights by 0.59.
    nets = [k for k in two if "optimizer" not in k]
    scale = max(float(np.abs(single[k]).max()) for k in nets)
    diff = max(float(np.abs(two[k] - single[k]).max()) for k in nets)
    assert diff < 1e-4 * max(1.0, scale), diff
    slots = [k for k in two if "optimizer" in k]
    steps = [k for k in slots if "_iterations" in k]
    assert len(slots) > 10 and steps and all(two[k] == single[k] for k in steps)
    assert {int(single[k]) for k in steps} >= {6}
    slot_diff = max(float(np.abs(two[k] - single[k]).max()) / max(1.0, float(np.abs(single[k]).max())) for k in slots)
    assert slot_diff < 2e-2, slot_diff


def final_model_weights(workdir):
    reader = tf.train.load_checkpoint(os.path.join(str(workdir), "final", "model"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k.startswith("model/")}


def test_sharded_worker_input_gives_each_worker_its_own_examples():
    """data.worker_input: sharded, the other choice: worker w reads examples w, w+N, ... and shuffles them."""
    from tfgen import config as config_lib
    from tfgen.data import make_dataset

    data = config_lib.config_from_dict({"model": {"name": "dcgan"}, "data": {
        "name": "multidigit", "num_train": 64, "num_test": 8, "worker_input": "sharded"}}).data
    seen = []
    for w in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=w, num_replicas_in_sync=2)
        ds = make_dataset(data, "train", 8, training=True, seed=1, input_context=ctx)
        seen.append({int(i) for b in ds.take(8) for i in b["index"].numpy()})
    assert seen[0] == set(range(0, 64, 2)) and seen[1] == set(range(1, 64, 2))


@pytest.mark.parametrize("workers,local", [(2, 1), (2, 2), (4, 1)])
def test_exact_worker_input_deals_one_process_batches(workers, local):
    """Each worker's per-replica batches, dealt to its replicas, rebuild one process's global batches."""
    from tfgen import config as config_lib
    from tfgen.data import make_dataset

    data = config_lib.config_from_dict({"model": {"name": "dcgan"}, "data": {
        "name": "multidigit", "num_train": 64, "num_test": 8}}).data
    replicas, global_batch, steps = workers * local, 8 * workers * local, 5
    single = [b["index"].numpy() for b in make_dataset(data, "train", global_batch, seed=3).take(steps)]
    per_worker = []
    for w in range(workers):
        ctx = tf.distribute.InputContext(num_input_pipelines=workers, input_pipeline_id=w,
                                         num_replicas_in_sync=replicas)
        ds = make_dataset(data, "train", global_batch, seed=3, input_context=ctx)
        per_worker.append([b["index"].numpy() for b in ds.take(steps * local)])
    for t in range(steps):
        rebuilt = np.concatenate([per_worker[w][t * local + j] for w in range(workers) for j in range(local)])
        np.testing.assert_array_equal(rebuilt, single[t])


def test_a_worker_whose_peers_never_start_stops_with_one_line(tmp_path):
    """Without a deadline the chief waited for ever and a worker an hour, silently."""
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(MW_CONFIG.replace("strategy: multi_worker", "strategy: multi_worker, worker_timeout: 2"))
    port, other = free_ports(2)
    for index in (0, 1):  # the leader waiting for a worker, and a worker waiting for the leader
        cluster = {"worker": [f"127.0.0.1:{port}", f"127.0.0.1:{other}"]}
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        proc = subprocess.run([sys.executable, "-m", "tfgen", "train", str(cfg), "--workdir", str(tmp_path / "w")],
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("tfgen: error: ")]
        assert len(errors) == 1 and "did not start within 2 s" in errors[0], proc.stderr[-2000:]
        assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_a_lost_worker_stops_the_others_with_one_line(tmp_path):
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(MW_CONFIG.replace("steps: 6", "steps: 100000"))
    workdir = tmp_path / "w"
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = [subprocess.Popen([sys.executable, "-m", "tfgen", "train", str(cfg), "--workdir", str(workdir)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**ENV, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                   "task": {"type": "worker", "index": i}})})
             for i in range(2)]
    try:
        for _ in range(300):
            if (workdir / "checkpoints" / "ckpt-6.index").exists():
                break
            time.sleep(0.5)
        procs[1].kill()
        _, err = procs[0].communicate(timeout=120)
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 2, err[-2000:]
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("tfgen: error: ")]
    assert len(errors) == 1 and "a worker of the cluster was lost" in errors[0], err[-2000:]
    assert "to resume from" in errors[0] and "ckpt-" in errors[0]


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


TWO = {"worker": ["h1:1234", "h2:1234"]}


@pytest.mark.parametrize("spec,problem", [
    ("{not json", "not JSON"),
    (json.dumps([1, 2]), "needs a 'cluster' object"),
    (json.dumps({"cluster": {}, "task": {"type": "worker", "index": 0}}), "needs a 'cluster' object"),
    (json.dumps({"cluster": {**TWO, "ps": ["h3:1"]}, "task": {"type": "worker", "index": 0}}), "job 'ps'"),
    (json.dumps({"cluster": {"worker": "h1:1234"}, "task": {"type": "worker", "index": 0}}), "non-empty list"),
    (json.dumps({"cluster": {"worker": ["h1"]}, "task": {"type": "worker", "index": 0}}), "'h1' is not 'host:port'"),
    (json.dumps({"cluster": {"worker": ["h1:99999"]}, "task": {"type": "worker", "index": 0}}), "not 'host:port'"),
    (json.dumps({"cluster": {"worker": ["h1:1", "h1:1"]}, "task": {"type": "worker", "index": 0}}), "listed twice"),
    (json.dumps({"cluster": {**TWO, "chief": ["c:1", "c:2"]}, "task": {"type": "chief", "index": 0}}),
     "at most one chief"),
    (json.dumps({"cluster": TWO}), "needs a 'task'"),
    (json.dumps({"cluster": TWO, "task": {"type": "evaluator", "index": 0}}), "task.type 'evaluator'"),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 2}}), "task.index 2 is not one of the 2"),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": -1}}), "task.index -1"),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": "0"}}), "task.index '0'"),
])
def test_a_wrong_tf_config_is_named_before_tensorflow_reads_it(spec, problem):
    from tfgen.errors import ConfigError
    from tfgen.training.strategy import check_tf_config

    with pytest.raises(ConfigError, match="TF_CONFIG: ") as info:
        check_tf_config(spec)
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_a_right_tf_config_passes():
    from tfgen.training.strategy import check_tf_config

    spec = {"cluster": {"chief": ["c:1"], **TWO}, "task": {"type": "worker", "index": 1}}
    assert check_tf_config(json.dumps(spec)) == spec


def test_a_wrong_tf_config_is_one_line_from_the_command_line(tmp_path):
    from cli_testing import tfgen

    cfg = tmp_path / "mw.yaml"
    cfg.write_text(MW_CONFIG)
    bad = json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 5}})
    proc = tfgen("train", cfg, "--workdir", tmp_path / "w", env={"TF_CONFIG": bad}, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("tfgen: error: TF_CONFIG: task.index 5")
    assert "Traceback" not in proc.stderr and not (tmp_path / "w").exists()


def test_xla_is_kept_from_synchronized_batch_norm_under_any_mirrored_strategy(monkeypatch):
    """`train.xla` with synchronized batch norm: under a mirrored strategy (one replica is enough) auto
    turns XLA off and on is a one-line error; other strategies, or per-replica batch norm, keep XLA."""
    from tfgen.errors import ConfigError
    from tfgen.training import strategy as strategy_lib

    monkeypatch.setattr(strategy_lib, "gpu_count", lambda: 1)  # auto means "on" on a GPU machine
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert strategy_lib.resolve_xla("auto", True, mirrored) is False
    with pytest.raises(ConfigError, match="train.xla: 'on' cannot be combined with train.sync_batch_norm") as e:
        strategy_lib.resolve_xla("on", True, mirrored)
    assert "\n" not in str(e.value) and "1 replica" in str(e.value)
    assert strategy_lib.resolve_xla("auto", False, mirrored) is True
    assert strategy_lib.resolve_xla("on", False, mirrored) is True
    for other in (one_device, tf.distribute.get_strategy(), None):
        assert strategy_lib.resolve_xla("auto", True, other) is True
    assert strategy_lib.resolve_xla("off", False, one_device) is False


def test_why_xla_and_synchronized_batch_norm_do_not_mix_under_a_mirrored_strategy():
    """The mechanism behind the rule above, on a single-replica MirroredStrategy: the XLA-compiled inner
    step cannot hold synchronized batch norm's all-reduce (TensorFlow refuses the merge_call), while
    per-replica batch norm trains under XLA there. Should TensorFlow lift the restriction, the first
    assertion fails and `resolve_xla` can let XLA run."""
    from model_testing import random_batches
    from tfgen import config as config_lib
    from tfgen.models import build_model

    def fit(sync):
        config = config_lib.config_from_dict({"model": {"name": "dcgan", "g_filters": 8, "d_filters": 8},
                                              "train": {"batch_size": 8, "sync_batch_norm": sync}})
        strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
        with strategy.scope():
            model = build_model(config, (16, 16, 1), num_classes=10, xla=True)
            model.compile()
        before = [w.copy() for w in model.get_weights()]
        history = model.fit(random_batches((16, 16, 1), 8), steps_per_epoch=2, epochs=1, verbose=0).history
        return before, model.get_weights(), history

    with pytest.raises(RuntimeError, match="merge_call"):
        fit(sync=True)
    before, after, history = fit(sync=False)
    assert all(np.all(np.isfinite(v)) for v in history.values())
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
