"""tools/benchmark.py soak mode: the memory-trend helper, the trace counter and a tiny soak end to end."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from repo_paths import REPO, load_tool

ROOT = REPO
BENCHMARK = os.path.join(ROOT, "tools", "benchmark.py")

# --quick soak: 10 warm-up + 40 measured steps in chunks of 5.
QUICK_WARMUP, QUICK_STEPS, QUICK_CHUNK = 10, 40, 5


@pytest.fixture(scope="module")
def bench():
    return load_tool("benchmark")


def tiny_config(bench):
    return bench.config_lib.config_from_dict({"model": {"name": "dcgan", "g_filters": 8, "d_filters": 8},
                                              "train": {"batch_size": 16}})


# -- memory_trend on synthetic series ------------------------------------------

def test_trend_of_exact_linear_series(bench):
    steps = np.arange(50, 651, 25)  # 25 samples over a 600-step window
    rss = 700 * 1024 + 20.0 * steps  # 20 KiB/step from 700 MiB
    trend = bench.memory_trend(steps, rss)
    assert trend["slope_kib_per_step"] == pytest.approx(20.0, rel=1e-12)
    assert trend["slope_stderr_kib_per_step"] < 1e-9
    assert trend["window_steps"] == 600
    assert trend["fitted_growth_mib"] == pytest.approx(20.0 * 600 / 1024, rel=1e-12)
    assert trend["observed_growth_mib"] == pytest.approx(20.0 * 600 / 1024, rel=1e-12)
    assert trend["first_half_growth_mib"] == pytest.approx(20.0 * 300 / 1024, rel=1e-12)
    assert trend["second_half_growth_mib"] == pytest.approx(20.0 * 300 / 1024, rel=1e-12)
    # 11.7 MiB over the window: above the floor (1% of the start RSS, ~7 MiB, beats 4 MiB), and noiseless.
    floor_kib = 0.01 * rss[0]
    assert trend["material_growth_mib"] == pytest.approx(floor_kib / 1024)
    assert trend["detectable_slope_kib_per_step"] == pytest.approx(floor_kib / 600)
    assert trend["growth_significant"] is True and trend["growth_material"] is True
    assert trend["growth_persistent"] is True
    assert trend["memory_flat"] is False


def test_growth_that_stops_is_not_a_leak(bench):
    """Allocator lumps early in the window (as measured on a real soak) are not flagged; lumps
    that go on to the end of the window are."""
    steps = np.arange(50, 651, 25)
    settling = np.full(steps.size, 913.0 * 1024)
    settling[steps >= 175] += 3 * 1024
    settling[steps >= 325] += 5 * 1024
    trend = bench.memory_trend(steps, settling)
    assert trend["growth_significant"] is True and trend["growth_material"] is True
    assert trend["second_half_growth_mib"] == pytest.approx(0.0, abs=1e-9)
    assert trend["growth_persistent"] is False
    assert trend["memory_flat"] is True
    # 2 MiB every 100 steps, to the end: the staircase of a leak.
    leaking = 913.0 * 1024 + 2 * 1024 * ((steps - 50) // 100)
    trend = bench.memory_trend(steps, leaking)
    assert trend["first_half_growth_mib"] > 4 and trend["second_half_growth_mib"] > 4
    assert trend["growth_persistent"] is True
    assert trend["memory_flat"] is False


def test_materiality_compares_growth_over_window_with_floor(bench):
    steps = np.arange(0, 401, 20)
    rss = 500 * 1024 + 3.0 * steps  # 1200 KiB over the window, noiseless: always significant
    assert bench.memory_trend(steps, rss, floor_kib=1199, floor_fraction=0)["memory_flat"] is False
    assert bench.memory_trend(steps, rss, floor_kib=1201, floor_fraction=0)["memory_flat"] is True
    # The relative floor wins when it is the larger: 1% of 500 MiB = 5120 KiB.
    relative = bench.memory_trend(steps, rss, floor_kib=0, floor_fraction=0.01)
    assert relative["material_growth_mib"] == pytest.approx(5.0)
    assert relative["growth_significant"] is True and relative["growth_material"] is False
    assert relative["memory_flat"] is True


def test_large_growth_buried_in_noise_is_not_flagged(bench):
    """Allocator-sized swings (+-20 MiB) with a 10 KiB/step drift: material but not significant."""
    steps = np.arange(50, 651, 25)
    swings = np.tile([20480.0, -20480.0], 13)[: steps.size]
    drift = 700 * 1024 + 10.0 * steps
    # Absolute 4 MiB floor only, so that materiality holds and significance alone decides.
    noisy = bench.memory_trend(steps, drift + swings, floor_fraction=0)
    assert noisy["growth_material"] is True  # ~5.9 MiB over the window
    assert noisy["growth_significant"] is False
    assert noisy["slope_kib_per_step"] < 3 * noisy["slope_stderr_kib_per_step"]
    assert noisy["memory_flat"] is True
    # The same drift without the swings is flagged.
    assert bench.memory_trend(steps, drift, floor_fraction=0)["memory_flat"] is False


def test_flat_noisy_series_is_flat(bench):
    rng = np.random.default_rng(7)
    steps = np.arange(50, 651, 25)
    # Allocator-like jitter: +-1 MiB noise and a 2 MiB lump that comes and goes.
    rss = 700 * 1024 + rng.normal(0, 1024, steps.size)
    rss[10:14] += 2048
    trend = bench.memory_trend(steps, rss)
    slope, _ = np.polyfit(steps, rss, 1)  # independent least squares
    assert trend["slope_kib_per_step"] == pytest.approx(slope, rel=1e-9)
    assert abs(trend["fitted_growth_mib"]) < 4
    assert trend["memory_flat"] is True


def test_noisy_leak_is_recovered_and_flagged(bench):
    rng = np.random.default_rng(11)
    steps = np.arange(50, 651, 25)
    rss = 700 * 1024 + 40.0 * steps + rng.normal(0, 1024, steps.size)
    trend = bench.memory_trend(steps, rss)
    fit = np.polyfit(steps, rss, 1)
    residual_sd = np.std(rss - np.polyval(fit, steps), ddof=2)
    expected_stderr = residual_sd / math.sqrt(np.sum((steps - steps.mean()) ** 2))
    assert trend["slope_kib_per_step"] == pytest.approx(fit[0], rel=1e-9)
    assert trend["slope_stderr_kib_per_step"] == pytest.approx(expected_stderr, rel=1e-9)
    assert abs(trend["slope_kib_per_step"] - 40.0) < 4 * trend["slope_stderr_kib_per_step"]
    assert trend["detectable_slope_kib_per_step"] == pytest.approx(
        max(0.01 * rss[0] / 600, 3 * trend["slope_stderr_kib_per_step"]))
    assert trend["memory_flat"] is False


def test_trend_rejects_unusable_series(bench):
    with pytest.raises(ValueError, match=">= 5"):
        bench.memory_trend([0, 10, 20, 30], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="increase"):
        bench.memory_trend([0, 10, 20, 20, 30], [1.0, 2.0, 3.0, 4.0, 5.0])


# -- tracing ---------------------------------------------------------------------

def test_trace_counter_sees_a_retrace(bench):
    """A second input shape retraces train_step: the counter must say 2, not 1."""
    import tensorflow as tf

    model = bench.build_model(tiny_config(bench), (16, 16, 1), num_classes=10)
    model.compile()
    traces = bench.count_train_step_traces(model)
    model.fit(bench.batches((16, 16, 1), 16), steps_per_epoch=3, epochs=2, verbose=0, shuffle=False)
    assert traces["traces"] == 1
    assert bench.tf_function_traces(model)["one_step_on_data"] == 1
    first = model.train_function
    odd = tf.data.Dataset.from_tensors({"image": tf.zeros([5, 16, 16, 1]), "label": tf.zeros([5], tf.int32),
                                        "index": tf.zeros([5], tf.int64)}).repeat()
    model.fit(odd, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
    assert traces["traces"] == 2
    assert bench.tf_function_traces(model)["one_step_on_data"] == 2
    assert model.train_function is first  # retraced inside the same Keras train function


# -- soak end to end ---------------------------------------------------------------

def test_quick_soak_cli_writes_a_complete_report(tmp_path):
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, BENCHMARK, "--soak", "--quick", "--tiny", "--models", "dcgan",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["mode"] == "soak"
    assert report["settings"]["soak_steps"] == QUICK_STEPS
    assert len(report["soak"]) == 1
    row = report["soak"][0]
    assert (row["model"], row["image_shape"], row["batch_size"]) == ("dcgan", [16, 16, 1], 16)
    assert row["overrides"] == {"g_filters": 8, "d_filters": 8}

    total = QUICK_WARMUP + QUICK_STEPS
    assert row["steps_run"] == total
    assert row["optimizer_iterations"] == {"g_optimizer": total, "d_optimizer": total}
    series = row["series"]
    assert [s["step"] for s in series] == list(range(QUICK_CHUNK, total + 1, QUICK_CHUNK))
    assert [s["warmup"] for s in series] == [True] * (QUICK_WARMUP // QUICK_CHUNK) + \
        [False] * (QUICK_STEPS // QUICK_CHUNK)
    assert row["window_steps"] == QUICK_STEPS

    positive = ["rss_start_mib", "rss_end_mib", "hwm_start_mib", "hwm_end_mib", "ms_per_step_start",
                "ms_per_step_end", "ms_per_step_median", "ms_per_step_end_over_start", "material_growth_mib",
                "detectable_slope_kib_per_step", "slope_stderr_kib_per_step"]
    for key in positive:
        assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
    for key in ["slope_kib_per_step", "fitted_growth_mib", "observed_growth_mib", "rss_growth_mib",
                "hwm_growth_mib"]:
        assert math.isfinite(row[key]), (key, row[key])
    for s in series:
        assert s["rss_kib"] > 0 and s["hwm_kib"] >= s["rss_kib"] and s["ms_per_step"] > 0
    # The peak never falls; start/end are the samples at the end of warm-up and of the last chunk.
    assert all(b["hwm_kib"] >= a["hwm_kib"] for a, b in zip(series, series[1:]))
    start, end = series[QUICK_WARMUP // QUICK_CHUNK - 1], series[-1]
    assert row["rss_start_mib"] == start["rss_kib"] / 1024 and row["rss_end_mib"] == end["rss_kib"] / 1024
    assert row["rss_growth_mib"] == pytest.approx((end["rss_kib"] - start["rss_kib"]) / 1024)
    assert all(math.isfinite(v) for v in row["final_metrics"].values())

    tracing = row["tracing"]
    assert tracing["train_step_traces"] == 1
    assert tracing["train_step_traces_during_soak"] == 0
    assert tracing["train_function_unchanged"] is True
    assert tracing["traced_once"] is True
    # A 50-step tiny DCGAN keeps its memory: it rises ~0.6 MiB, far under the ~7 MiB floor.
    assert row["growth_material"] is False
    assert row["memory_flat"] is True
    assert "dcgan" in proc.stdout and "flat" in proc.stdout and "traces 1" in proc.stdout


# Large enough (80 MiB over the window) that allocator reuse and RSS noise of a
# few MiB cannot hide a fifth of it; at 512 KiB/step (20 MiB) they once did.
LEAK_KIB_PER_STEP = 2048


def test_soak_flags_a_deliberate_leak(bench):
    """Positive control: memory retained every step must show as that slope and as not flat."""
    row = bench.soak_case(tiny_config(bench), (16, 16, 1), 16, soak_steps=QUICK_STEPS, chunk=QUICK_CHUNK,
                          warmup_steps=QUICK_WARMUP, leak_kib_per_step=LEAK_KIB_PER_STEP)
    assert row["slope_kib_per_step"] == pytest.approx(LEAK_KIB_PER_STEP, rel=0.2)
    assert row["rss_growth_mib"] > 0.8 * LEAK_KIB_PER_STEP * QUICK_STEPS / 1024
    assert row["memory_flat"] is False
    assert row["tracing"]["traced_once"] is True


# -- timing mode: precisions and the authors' code side by side -------------------

class _FakeReference:
    """Stands in for tools/reference_lrgan.ReferenceLRGAN: fixed speeds, counted calls."""

    def __init__(self):
        self.warmed, self.calls = False, 0

    def warm_up(self):
        self.warmed = True

    def train_images_per_sec(self, steps):
        self.calls += 1
        return 10.0

    def generate_images_per_sec(self, reps):
        return 100.0


def test_side_by_side_times_every_precision_and_the_reference_in_the_same_rounds(bench):
    reference = _FakeReference()
    out = bench.time_side_by_side(tiny_config(bench), (16, 16, 1), 16, steps=1, rounds=2,
                                  precisions=("float32", "mixed_bfloat16"), xla_modes=(False,), reference=reference)
    assert {"graph", "mixed_bfloat16/graph", "reference"} <= set(out) and "xla" not in out
    assert reference.warmed and reference.calls == 3  # an untimed warm-up round, then one per round
    for key in ("graph", "mixed_bfloat16/graph"):
        assert out[key]["train_images_per_sec"] > 0
        # ours / theirs: the reference's fixed 10 img/s divides ours round by round.
        ours = out[key]["train_images_per_sec"]
        lo, hi = out[key]["train_images_per_sec_range"]
        assert lo / 10.0 <= out["vs_reference_train"][key] <= hi / 10.0
        assert lo <= ours <= hi
    assert out["mixed_bfloat16_speedup_train"] > 0 and "xla_speedup_train" not in out


def test_mirrored_variants_train_under_the_strategy_in_the_same_rounds(bench, monkeypatch):
    """--mirrored: each variant again, built in a MirroredStrategy's scope (its variables mirrored, fit
    distributing the batches), timed round by round beside the plain one; the ratio is mirrored / plain."""
    strategy = bench.make_strategy("mirrored")
    built = []
    real_variant = bench._Variant

    def spy(*args, **kwargs):
        variant = real_variant(*args, **kwargs)
        built.append((kwargs.get("strategy"), variant))
        return variant

    monkeypatch.setattr(bench, "_Variant", spy)
    out = bench.time_side_by_side(tiny_config(bench), (16, 16, 1), 16, steps=1, rounds=2,
                                  precisions=("float32",), xla_modes=(False,), mirrored=strategy)
    key = "graph" + bench.MIRRORED
    assert {"graph", key} <= set(out) and out["mirrored_replicas"] == strategy.num_replicas_in_sync >= 1
    (plain_strategy, plain), (mirror_strategy, mirror) = built
    assert plain_strategy is None and mirror_strategy is strategy
    assert mirror.model.distribute_strategy is strategy
    assert all(isinstance(v.value, bench.tf.distribute.DistributedValues) for v in mirror.model.trainable_variables)
    assert not any(isinstance(v.value, bench.tf.distribute.DistributedValues) for v in plain.model.trainable_variables)
    lo, hi = out[key]["train_images_per_sec_range"]
    plo, phi = out["graph"]["train_images_per_sec_range"]
    assert lo / phi <= out["mirrored_vs_default_train"]["graph"] <= hi / plo


def test_native_filter_gradient_variant_is_traced_with_tensorflows_kernels(bench, monkeypatch):
    """--native-filter-gradient: a 16-bit variant whose layers were traced with filter_gradient "auto"
    meaning "native" (no matmul filter gradient anywhere), timed in the same rounds."""
    from tfgen.ops import conv_grads

    seen = []
    real = conv_grads.patch_filter_gradient
    monkeypatch.setattr(conv_grads, "patch_filter_gradient", lambda *a: seen.append(1) or real(*a))
    variants = []
    real_variant = bench._Variant
    monkeypatch.setattr(bench, "_Variant", lambda *a, **k: variants.append((len(seen), k)) or real_variant(*a, **k))
    out = bench.time_side_by_side(tiny_config(bench), (16, 16, 1), 16, steps=1, rounds=1,
                                  precisions=("float32", "mixed_bfloat16"), xla_modes=(False,),
                                  native_filter_gradient=True)
    native = "mixed_bfloat16/graph" + bench.NATIVE_FILTER_GRADIENT
    assert native in out and out["mixed_bfloat16_matmul_filter_gradient_speedup_train"] > 0
    # the tiny 16x16 discriminator ends on 2x2 maps: "auto" traced matmul gradients for the plain bf16
    # variant (built second), none for the native one (built last)
    counts = [n for n, _ in variants] + [len(seen)]
    assert counts[2] > counts[1] and counts[3] == counts[2], counts
    assert variants[2][1] == {"filter_gradient": "native"}


def test_vs_reference_without_a_checkout_is_one_line_before_any_timing(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--vs-reference", str(tmp_path / "nowhere"), "--models", "lrgan", "--out",
                    str(tmp_path / "b.json")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--vs-reference" in err and "nowhere" in err
    assert not (tmp_path / "b.json").exists()


def test_peaks_are_measured_every_round_and_fractions_are_per_round(bench):
    reference = _FakeReference()
    asked = []
    out = bench.time_side_by_side(tiny_config(bench), (16, 16, 1), 16, steps=1, rounds=3,
                                  precisions=("float32",), xla_modes=(False,), reference=reference,
                                  warm_up_rounds=2, peak=lambda p: asked.append(p) or 100.0 * len(asked))
    assert asked == ["float32"] * 3 and out["peaks_by_round"] == {"float32": [100.0, 200.0, 300.0]}
    assert reference.calls == 2 + 3 and len(out["graph"]["train_images_per_sec_rounds"]) == 3
    # 2 GFLOP per step of 4 images at 100, 50 and 60 img/s against peaks 100, 200, 300: 50%, 12.5%, 10%
    assert bench.round_fraction_of_peak(2.0, 4, [100.0, 50.0, 60.0], [100.0, 200.0, 300.0]) == pytest.approx(0.125)


class _Timed:
    def __init__(self, name, calls, speed):
        self.name, self.calls, self.speed = name, calls, speed

    def train_images_per_sec(self, steps):
        self.calls.append(self.name)
        return self.speed


def test_alternating_rounds_warm_up_then_take_turns_in_reversed_order_every_other_round(bench):
    calls = []
    variants = {"a": _Timed("a", calls, 10.0), "b": _Timed("b", calls, 30.0)}
    out = bench.alternating_rounds(variants, steps=1, rounds=3, warm_up_rounds=2)
    assert calls == ["a", "a", "b", "b", "a", "b", "b", "a", "a", "b"]
    assert out == {"a": [10.0] * 3, "b": [30.0] * 3} and bench.median_ratio(out["b"], out["a"]) == 3.0


def test_matmul_peak_is_measured_in_each_precision(bench):
    assert bench.matmul_peak_gflops(n=128, repeats=1, dtype=bench.tf.bfloat16) > 0
    assert set(bench.PRODUCT_DTYPES) == {"float32", "mixed_bfloat16", "mixed_float16"}


def test_train_step_flops_count_every_langevin_step(bench):
    """The static count unrolls the Langevin loops: each further step adds the same FLOPs (a while loop
    would be counted once, whatever its steps)."""
    from model_testing import make_config
    from tfgen import config as config_lib

    tiny = {**config_lib.tiny_overrides("andor"), "latent_bank_size": 8}
    counts = [bench.train_step_gflops(make_config("andor", {**tiny, "langevin_steps": s}, 4), (32, 32, 1), 4)
              for s in (2, 4, 8)]
    per_step = (counts[1] - counts[0]) / 2
    assert per_step > 0
    assert counts[2] - counts[1] == pytest.approx(4 * per_step, rel=0.02)


def test_a_step_that_reads_several_batches_is_fed_and_counted_as_training_feeds_it(bench):
    """AAAE with fresh approximator codes reads 1 + k batches per step (`batches_per_step`): the benchmark
    feeds that many images, counts the step's FLOPs on them and divides by them, as `tfgen train` does."""
    from model_testing import make_config
    from tfgen import config as config_lib

    def config(codes):
        return make_config("aaae", {**config_lib.tiny_overrides("aaae"), "approximator_codes": codes,
                                    "approximator_steps": 2}, 4)
    fresh, reuse = (bench.train_step_gflops(config(c), (16, 16, 1), 4) for c in ("fresh", "reuse"))
    assert fresh > reuse > 0  # the two approximator steps read their own batches' codes
    out = bench.time_side_by_side(config("fresh"), (16, 16, 1), 4, steps=1, rounds=1, xla_modes=(False,))
    assert out["images_per_step"] == 12
    assert out["graph"]["train_images_per_sec"] > 0
    assert out["graph"]["train_ms_per_step"] == pytest.approx(1000 * 12 / out["graph"]["train_images_per_sec"])


def _profiler_float_ops(graph, tf):
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops


def test_flop_count_is_of_the_ops_that_run(bench):
    """Only ops the results or the variable updates need are counted: a pruned product is not, nor the
    filter gradient that Conv2D's gradient emits when only the input's is taken (TensorFlow's profiler
    counts both)."""
    tf = bench.tf
    a, b = tf.TensorSpec([8, 16]), tf.TensorSpec([16, 4])
    v = tf.Variable(tf.zeros([8, 4]))

    def products(x, y):
        tf.matmul(tf.transpose(y), tf.transpose(x))  # dead: nothing uses it
        v.assign(tf.matmul(x, y))  # needed by the variable update only
        return tf.reduce_sum(tf.matmul(x, y))

    graph = tf.function(products).get_concrete_function(a, b).graph
    one = 2 * 8 * 16 * 4
    assert bench.live_float_ops(graph) == pytest.approx(2 * one, abs=8 * 4 + 8 * 4)  # + the reduction
    assert _profiler_float_ops(graph, tf) >= 3 * one

    kernel = tf.random.normal([3, 3, 5, 7])

    def input_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, kernel, 1, "SAME")
        return tape.gradient(y, x, output_gradients=tf.ones_like(y)), tf.reduce_max(y)

    graph = tf.function(input_gradient).get_concrete_function(tf.TensorSpec([2, 6, 6, 5])).graph
    conv = 2 * 2 * 6 * 6 * 3 * 3 * 5 * 7
    reduction = 2 * 6 * 6 * 7
    assert bench.live_float_ops(graph) in (2 * conv, 2 * conv + reduction)  # forward, input gradient; no filter's
    assert _profiler_float_ops(graph, tf) >= 3 * conv
