"""Creates the tf.distribute strategy in one place."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfgen.errors import ConfigError, WorkerError


def gpu_count() -> int:
    return len(tf.config.list_logical_devices("GPU"))


def make_strategy(name: str = "auto", worker_timeout: int = 600) -> tf.distribute.Strategy:
    """Returns the strategy for `train.strategy`.

    auto: MirroredStrategy when more than one GPU is visible, else the default
    strategy. one_device: the first GPU, or the CPU. mirrored: all local GPUs
    (or all logical CPUs when there is no GPU, which tests use). multi_worker:
    see `_multi_worker`; `worker_timeout` bounds its wait for the other workers.
    """
    if name == "multi_worker":  # before anything initialises TensorFlow's runtime (listing devices does)
        return _multi_worker(worker_timeout)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise ConfigError(f"train.strategy: unknown strategy '{name}'")


def _multi_worker(timeout_s: int = 600) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy from the TF_CONFIG environment variable.

    TF_CONFIG (as TensorFlow documents it) names every worker's host:port and
    this process's task, e.g.
    {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.
    Every worker runs the same `tfgen train` command with the same work
    directory path; worker 0 (or "chief") writes it.

    Start-up waits at most `timeout_s` for every worker to register. Left to
    itself TensorFlow's coordination service waits without a word: a worker
    whose chief never starts waited for an hour, the chief without a worker
    for ever (its registration has no deadline unless every task registers
    behind a barrier). The service is configured here as the strategy would
    configure it, plus that barrier and its deadline.

    Raises:
      ConfigError: TF_CONFIG missing or wrong (`check_tf_config`).
      WorkerError: the workers did not all join within `timeout_s`.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("train.strategy: multi_worker needs the TF_CONFIG environment variable "
                          '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                          '"task": {"type": "worker", "index": 0}})')
    spec = check_tf_config(raw)
    _configure_coordination(spec["cluster"], timeout_s)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.OpError as e:
        task = spec["task"]
        raise WorkerError(
            f"worker {task['type']}:{task['index']}: the cluster of TF_CONFIG did not start within "
            f"{timeout_s} s (train.worker_timeout) — {_first_line(e)}; start every worker it lists "
            f"({', '.join(a for job in spec['cluster'].values() for a in job)}) with the same command") from None


def _first_line(error: Exception) -> str:
    """The first sentence of a TensorFlow error (its messages run on for lines of advice)."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return line.split(". ")[0][:200]


def _configure_coordination(cluster: dict, timeout_s: int) -> None:
    """TensorFlow's coordination service as MultiWorkerMirroredStrategy sets it up, with a registration deadline."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(cluster[job]))
            for job in ("chief", "worker") if job in cluster]
    ctx = context.context()
    ctx.configure_coordination_service(service_type="standalone",
                                       service_leader=multi_worker_util.coordination_leader(cluster),
                                       coordinated_jobs=jobs, cluster_register_timeout_in_ms=1000 * timeout_s)
    # Every task registers behind one barrier: the leader too gets the deadline.
    ctx.coordination_service.cluster_register_with_barrier = True


_EXAMPLE = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'


def check_tf_config(raw: str) -> dict:
    """Checks a TF_CONFIG for MultiWorkerMirroredStrategy before TensorFlow reads it.

    TensorFlow accepts many wrong ones and then fails deep inside (a traceback)
    or waits for a worker that cannot exist. Checked: JSON, a "cluster" of
    "chief" (at most one) and "worker" jobs, each a non-empty list of distinct
    "host:port" strings; a "task" whose "type" is one of those jobs and whose
    "index" is an integer within it.

    Returns:
      The parsed TF_CONFIG.

    Raises:
      ConfigError: the first problem, naming it.
    """
    def bad(problem):
        return ConfigError(f"TF_CONFIG: {problem} (expected e.g. {_EXAMPLE})")

    try:
        spec = json.loads(raw)
    except ValueError as e:
        raise bad(f"not JSON ({e})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("cluster"), dict) or not spec["cluster"]:
        raise bad("needs a 'cluster' object naming the workers")
    cluster = spec["cluster"]
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise bad(f"cluster job {unknown[0]!r} is not one MultiWorkerMirroredStrategy runs (chief, worker)")
    seen = set()
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise bad(f"cluster.{job} must be a non-empty list of 'host:port' strings, got {addresses!r}")
        for address in addresses:
            host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise bad(f"cluster.{job}: {address!r} is not 'host:port'")
            if address in seen:
                raise bad(f"cluster: {address} is listed twice")
            seen.add(address)
    if len(cluster.get("chief", [])) > 1:
        raise bad(f"cluster.chief lists {len(cluster['chief'])} tasks; there is at most one chief")
    task = spec.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise bad("needs a 'task' object with 'type' and 'index'")
    if task["type"] not in cluster:
        raise bad(f"task.type {task['type']!r} is not a job of the cluster ({', '.join(sorted(cluster))})")
    index, size = task["index"], len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise bad(f"task.index {index!r} is not one of the {size} {task['type']} task(s) (0..{size - 1})")
    return spec


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process owns the work directory (always, except non-chief multi-worker tasks)."""
    resolver = getattr(strategy.extended, "_cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def all_reduces_replicas(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` is of the mirrored family (one or several machines): its replica context
    all-reduces, and synchronized batch norm all-reduces its statistics through it."""
    return isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy))


def resolve_xla(setting: str, sync_batch_norm: bool = False, strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether to XLA-compile the inner loss/gradient functions.

    auto: on for GPUs, off on CPU (graph mode measured faster there), and off
    when batch norm is synchronized under a mirrored strategy
    (`all_reduces_replicas`), whatever its number of replicas: the statistics'
    all-reduce is a cross-replica `merge_call`, which cannot run inside the
    nested XLA function (TensorFlow refuses it even with a single replica:
    "`merge_call` called while defining a new graph or a tf.function").
    Other strategies (default, one device) leave synchronized batch norm
    nothing to reduce, and XLA runs.

    Raises:
      ConfigError: xla "on" together with synchronized batch norm under a mirrored strategy.
    """
    conflict = sync_batch_norm and strategy is not None and all_reduces_replicas(strategy)
    if setting == "on":
        if conflict:
            raise ConfigError("train.xla: 'on' cannot be combined with train.sync_batch_norm under a mirrored "
                              f"strategy ({strategy.num_replicas_in_sync} replica(s); the batch-norm all-reduce "
                              "cannot run inside XLA); set train.sync_batch_norm=false or train.xla=off")
        return True
    if setting == "off":
        return False
    return gpu_count() > 0 and not conflict
