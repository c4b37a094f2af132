"""Static FLOP counts of every tools/benchmark.py case: TensorFlow's profiler (every op of the graph)
against benchmark.live_float_ops (the ops the step's results and updates need).

    python docs/PERFORMANCE_flop_counts.py docs/PERFORMANCE_flop_counts.json

See docs/PERFORMANCE.md, "FLOP counts of the ops that run".
"""
import json, sys
sys.path.insert(0, "tools")
import benchmark as b
import tensorflow as tf
from tfgen import config as config_lib
from tfgen.models.registry import build_model


def both(config, shape, traced):
    with b.inline_inner_functions():
        model = build_model(config, shape, num_classes=10, xla=False); model.compile()
    fn, sig = traced(model)
    with b.unrolled_loops():
        graph = tf.function(fn).get_concrete_function(*sig).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation(); opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops / 1e9, b.live_float_ops(graph) / 1e9


rows = []
for name, cases in b.CASES.items():
    for m, label, ov, shape, batch in cases:
        config = config_lib.config_from_dict({"model": {"name": m, **ov}, "train": {"batch_size": batch}})
        def step(model):
            n = batch * model.batches_per_step()
            return model.train_step, [{"image": tf.TensorSpec([n, *shape], tf.float32),
                                       "label": tf.TensorSpec([n], tf.int32), "index": tf.TensorSpec([n], tf.int64)}]
        prof, live = both(config, shape, step)
        row = {"model": name, "case": label, "batch_size": batch, "what": "train step",
               "profiler_gflop": prof, "live_gflop": live, "live_over_profiler": live / prof}
        rows.append(row); print(json.dumps(row), flush=True)
        if name in b.LANGEVIN_MODELS:
            prof, live = both(config, shape, lambda model: (b._langevin_loop(model, batch)[0], []))
            row = {"model": name, "case": label, "batch_size": batch, "what": "Langevin loop",
                   "profiler_gflop": prof, "live_gflop": live, "live_over_profiler": live / prof}
            rows.append(row); print(json.dumps(row), flush=True)
json.dump({"tensorflow": tf.__version__, "rows": rows}, open(sys.argv[1], "w"), indent=2)
