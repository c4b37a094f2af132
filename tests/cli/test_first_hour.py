"""A new user's first hour: configs by name, quick errors, quiet start, honest
progress, interrupts that save, loss curves, step-named outputs, help texts.

CLI behaviours run in-process (`cli.main(argv)`); what needs a real process
(signals, what TensorFlow prints at start-up, what is imported before an
error) runs in a subprocess.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from model_testing import tiny_run_yaml
from tfgen import cli, experiments
from tfgen import config as config_lib
from tfgen.errors import ConfigError
from tfgen.progress import ProgressDisplay, format_duration
from repo_paths import REPO
from cli_testing import run_cli

PY = sys.executable


# -- configs by name ----------------------------------------------------------

def test_every_source_config_is_installed_and_addressable_by_name():
    source = os.path.join(REPO, "configs")
    on_disk = sorted(f"{m}/{os.path.splitext(f)[0]}" for m in os.listdir(source)
                     for f in os.listdir(os.path.join(source, m)) if f.endswith(".yaml"))
    installed = [e.key for e in experiments.installed()]
    assert installed == on_disk and len(installed) >= 50
    for key in installed:
        experiment = experiments.resolve(key)
        assert experiment.key == key and os.path.isfile(experiment.path)
        assert experiment.default_workdir == os.path.join("runs", *key.split("/"))
        config_lib.load_config(key)  # every installed config validates


def test_resolve_name_path_and_source_tree_path_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    by_name = experiments.resolve("dcgan/multidigit_one")
    assert by_name.path.endswith(os.path.join("tfgen", "configs", "dcgan", "multidigit_one.yaml"))
    assert experiments.resolve("dcgan/multidigit_one.yaml").path == by_name.path
    assert experiments.resolve("configs/dcgan/multidigit_one.yaml").path == by_name.path  # the README's old path
    own = tmp_path / "mine" / "exp.yaml"
    own.parent.mkdir()
    own.write_text(tiny_run_yaml())
    mine = experiments.resolve(str(own))
    assert mine.path == str(own) and mine.default_workdir == os.path.join("runs", "mine", "exp")
    with pytest.raises(ConfigError, match="is a method, not a config; choose one of dcgan/celeb_a"):
        experiments.resolve("dcgan")
    with pytest.raises(ConfigError, match="did you mean dcgan/multidigit_one"):
        experiments.resolve("dcgan/multidigit_onee")
    with pytest.raises(ConfigError, match="config file not found"):
        experiments.resolve("nothing/like/this.yaml")


def test_configs_command_lists_every_config_with_a_description(capsys):
    rc, out, _ = run_cli("configs")
    assert rc == 0
    lines = [line for line in out.splitlines() if "/" in line.split(" ")[0]]
    assert [line.split()[0] for line in lines] == [e.key for e in experiments.installed()]
    assert all(len(line.split(None, 1)) == 2 for line in lines)  # every one has a description
    rc, out, _ = run_cli("configs", "hali")
    assert rc == 0 and all(line.startswith("hali/") for line in out.splitlines())
    assert "hali/ali_multidigit" in out and "ALI" in out
    rc, _, err = run_cli("configs", "nosuch")
    assert rc == 2 and "no such method" in err


def test_describe_takes_the_first_sentence_not_an_abbreviation(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("# Conditional LR-GAN on LFW (§6.8, Fig. 22): faces. More text.\n# Next line.\nmodel: {}\n")
    assert experiments.describe(str(path)) == "Conditional LR-GAN on LFW (§6.8, Fig. 22): faces."


# -- quick errors, help, version ---------------------------------------------

def test_user_errors_come_before_tensorflow_is_imported(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_run_yaml().replace("steps: 4", "stepz: 4"))
    script = (
        "import sys, time\n"
        "from tfgen.cli import main\n"
        "cases = [['sample', 'no_such_dir'], ['export', 'no_such_dir'], ['evaluate', 'no_such_dir'],\n"
        f"         ['train', {str(bad)!r}], ['train', 'dcgan'], ['train', 'dcgan/nope'],\n"
        "         ['train', 'dcgan/multidigit_one', '--set', 'model.latent_dim=-1'],\n"
        "         ['train', 'dcgan/multidigit_one', '--set', 'model.nosuch=1']]\n"
        "for argv in cases:\n"
        "    t = time.perf_counter(); rc = main(argv)\n"
        "    print(rc, round(time.perf_counter() - t, 3), 'tensorflow' in sys.modules, flush=True)\n")
    proc = subprocess.run([PY, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert len(rows) == 8
    for rc, seconds, imported in rows:
        assert rc == "2" and imported == "False" and float(seconds) < 1.0
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 8 and all(e.startswith("tfgen: error: ") for e in errors)
    assert "no_such_dir: no such work directory" in errors[0]
    assert "train.stepz: unknown key" in errors[3]
    assert "model.latent_dim: -1 is below the minimum 1" in errors[6]


def test_every_option_and_argument_has_help_text():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = []
    for name, command in sub.choices.items():
        for action in command._actions:
            if action.dest != "help" and not action.help:
                missing.append(f"{name} {action.option_strings or action.dest}")
    assert not missing, missing


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    import tfgen

    assert capsys.readouterr().out.strip() == f"tfgen {tfgen.__version__}"


def test_datasets_fits_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    rc, out, _ = run_cli("datasets")
    assert rc == 0 and "multidigit" in out and "celeb_a" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_config_from_dict_needs_no_model_import_and_no_data_section():
    code = ("import sys\nfrom tfgen import config\n"
            "c = config.config_from_dict({'model': {'name': 'hali', 'levels': 1}})\n"
            "assert c.model.levels == 1 and c.data.name == 'multidigit'\n"
            "assert 'tensorflow' not in sys.modules\nprint('ok')")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr
    with pytest.raises(ConfigError, match="unknown model 'nosuch' \\(known: aaae, andor, conditional_lrgan, dcgan"):
        config_lib.config_from_dict({"model": {"name": "nosuch"}})


# -- progress ------------------------------------------------------------------

def test_plain_progress_lines_every_n_steps_in_global_steps():
    out = io.StringIO()
    display = ProgressDisplay(total=120, items_per_step=8, every=10, stream=out)
    assert display.plain  # a StringIO is not a terminal
    for step in range(101, 121):  # a run resumed at step 100
        display.update(step, {"g_loss": 1.5, "d_loss": 0.25})
        time.sleep(0.001)
    display.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split()[1] for line in lines] == ["110/120", "120/120"]
    assert "d_loss 0.25" in lines[0] and "g_loss 1.5" in lines[0] and "img/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].endswith("ETA 0:00")


def test_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    display = ProgressDisplay(total=50, every=10, stream=out)
    display.REDRAW_SECONDS = 0.0
    assert not display.plain
    for step in range(1, 51):
        display.update(step, {"loss": 0.5})
    display.close()
    text = out.getvalue()
    assert text.count("\r") == 50 and text.endswith("\n") and "\r50/50 [========================]" in text


def test_format_duration():
    assert format_duration(65) == "1:05" and format_duration(3725) == "1:02:05" and format_duration(None) == "?"


def test_config_changes_are_named_key_by_key():
    from tfgen.training.runner import config_changes

    old = config_lib.config_from_dict(yaml.safe_load(tiny_run_yaml()))
    new = config_lib.config_from_dict(yaml.safe_load(tiny_run_yaml(train={"steps": 8, "seed": 3})))
    assert config_changes(old, new) == ["train.seed: 0 -> 3", "train.steps: 4 -> 8"]
    assert config_changes(old, old) == []


def test_metrics_figure_draws_each_metric(tmp_path):
    from tfgen.viz.plot import metrics_figure, read_metrics_csv

    path = tmp_path / "metrics.csv"
    path.write_text("step,d_loss,g_loss\n10,1.0,2.0\n20,0.5,\n30,0.25,3.0\n")
    curves = read_metrics_csv(str(path))
    assert list(curves) == ["d_loss", "g_loss"] and list(curves["g_loss"][0]) == [10.0, 30.0]
    figure = metrics_figure(curves)
    assert figure.shape[2] == 3 and figure.shape[1] > 700 and figure.min() < 0.5  # two panels side by side


# -- a tiny run, in process ----------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 6-step tiny DCGAN trained through `cli.main` from a directory without configs/."""
    root = tmp_path_factory.mktemp("first_hour")
    cfg = root / "tiny.yaml"
    cfg.write_text(tiny_run_yaml(train={"steps": 6, "image_every": 3, "checkpoint_every": 3}))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        rc = cli.main(["train", str(cfg), "--workdir", "run"])
    finally:
        os.chdir(cwd)
    assert rc == 0
    return root, cfg, root / "run"


def test_run_writes_loss_curves_beside_metrics(tiny_run):
    _, _, workdir = tiny_run
    assert (workdir / "metrics.csv").exists() and (workdir / "curves.png").exists()
    from PIL import Image

    assert Image.open(workdir / "curves.png").size[0] > 300


def test_sample_export_evaluate_name_their_step_and_default_inside_the_workdir(tiny_run, capsys, tmp_path,
                                                                             monkeypatch):
    _, _, workdir = tiny_run
    rc, out, err = run_cli("sample", str(workdir), "--num", "4", "--npy", tmp_path / "new" / "folder" / "s.npy")
    assert rc == 0 and "using the weights of step 6" in err
    assert (workdir / "samples" / "sample_step_0000006.png").exists() and "step 6" in out
    assert np.load(tmp_path / "new" / "folder" / "s.npy").shape[0] == 4  # its folder made, as --out's is
    # An output under a regular file: one line before anything loads.
    (tmp_path / "notes.txt").write_text("x")
    for args in (("export", workdir, "--out", tmp_path / "notes.txt" / "exp"),
                 ("sample", workdir, "--npy", tmp_path / "notes.txt" / "a" / "s.npy")):
        rc, _, err = run_cli(*args)
        assert rc == 2 and err.count("\n") == 1 and "notes.txt is a file, not a folder" in err, err
    rc, out, err = run_cli("export", str(workdir))
    assert rc == 0 and "step 6" in out and (workdir / "saved_model" / "saved_model.pb").exists()
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    rc, out, err = run_cli("evaluate", str(workdir), "--num-samples", "32")
    assert rc == 0
    report = json.loads((workdir / "eval_step_0000006.json").read_text())
    assert report["step"] == 6 and report["weights"].endswith(os.path.join("final", "model"))
    assert "evaluating the weights of step 6" in err and "domain classifier 30/30" in err  # its progress


def test_newest_weights_win_over_an_older_final(tiny_run, tmp_path):
    """A finished run extended and interrupted: sample/export read the newer checkpoint, not final/."""
    import shutil

    from tfgen.training.workdir import load_workdir, loaded_from

    _, _, workdir = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    info = json.loads((copy / "final" / "info.json").read_text())
    assert info == {"step": 6}
    (copy / "final" / "info.json").write_text(json.dumps({"step": 3}))  # final older than ckpt-6
    _, model = load_workdir(str(copy))
    assert loaded_from(model) == {"path": str(copy / "checkpoints" / "ckpt-6"), "step": 6, "skipped": []}


def test_a_rerun_names_changed_keys_and_a_restart_without_checkpoint_says_so(tiny_run, tmp_path, capsys):
    root, cfg, _ = tiny_run
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(tiny_run_yaml(train={"steps": 2}))
    rc, out, err = run_cli("train", str(cfg), "--workdir", str(workdir), "--set", "train.steps=2",
                           "--set", "train.seed=5")
    assert rc == 0
    # No checkpoint: nothing to resume, so the saved config is not compared but replaced.
    assert "holds no checkpoint of the config saved there; starting afresh" in out
    assert "seed: 5\n" in (workdir / "config.yaml").read_text()
    rc, out, _ = run_cli("train", str(cfg), "--workdir", str(workdir), "--set", "train.steps=3",
                         "--set", "train.seed=5")
    assert rc == 0 and "config differs from" in out and "train.steps: 2 -> 3" in out
    rc, _, err = run_cli("train", str(cfg), "--workdir", str(workdir), "--set", "model.latent_dim=9")
    assert rc == 2 and "different 'model' section (model.latent_dim: 100 -> 9)" in err


# -- a real process: quiet start, signals, resume in global steps ----------------

def _start(cfg, workdir, *extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # quiet on its own
    return subprocess.Popen([PY, "-m", "tfgen", "train", str(cfg), "--workdir", str(workdir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _interrupt_after_progress(proc, signum, timeout=240):
    """Reads stdout until the first progress line, then sends `signum`; returns (rc, stdout, stderr)."""
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("step "):
            proc.send_signal(signum)
            break
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, "".join(lines) + out, err


@pytest.mark.slow
def test_sigint_and_sigterm_checkpoint_the_current_step_and_resume_counts_global_steps(tmp_path):
    cfg = tmp_path / "long.yaml"
    cfg.write_text(tiny_run_yaml(train={"steps": 100000, "log_every": 5, "checkpoint_every": 100000,
                                        "image_every": 100000, "verbose": 1}))
    workdir = tmp_path / "run"

    rc, out, err = _interrupt_after_progress(_start(cfg, workdir), signal.SIGINT)
    assert rc == 130, err
    first = out.splitlines()[0]
    assert first.startswith("tfgen: dcgan on multidigit")  # tfgen's line comes first ...
    for noise in ("I0000", "E0000", "oneDNN", "cuInit", "absl::InitializeLog"):
        assert noise not in err and noise not in out  # ... and TensorFlow printed nothing
    last = err.strip().splitlines()[-1]
    assert last.startswith("tfgen: interrupted by SIGINT at step ") and "checkpoint saved: " in last
    step = int(last.split("at step ")[1].split(";")[0])
    assert step >= 5 and (workdir / "checkpoints" / f"ckpt-{step}.index").exists()
    assert json.loads((workdir / "status.json").read_text())["interrupted"] == "SIGINT"

    rc, out, err = _interrupt_after_progress(_start(cfg, workdir), signal.SIGTERM)
    assert rc == 143, err
    assert f"resuming from step {step}" in out
    progress = [line for line in out.splitlines() if line.startswith("step ")]
    assert progress and int(progress[0].split()[1].split("/")[0]) > step  # global steps, not 1/...
    assert progress[0].split()[1].endswith("/100000")
    term = err.strip().splitlines()[-1]
    assert term.startswith("tfgen: interrupted by SIGTERM at step ")
    assert int(term.split("at step ")[1].split(";")[0]) > step


@pytest.mark.slow
def test_verbose_brings_tensorflow_lines_back(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(tiny_run_yaml(train={"steps": 1}))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([PY, "-m", "tfgen", "train", str(cfg), "--workdir", str(tmp_path / "a")],
                           capture_output=True, text=True, timeout=300, env=env)
    loud = subprocess.run([PY, "-m", "tfgen", "train", str(cfg), "--workdir", str(tmp_path / "b"), "--verbose"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and loud.returncode == 0, loud.stderr
    tf_lines = [line for line in loud.stderr.splitlines() if "tensorflow" in line.lower() or "I0000" in line
                or "cuda" in line.lower() or "absl" in line]
    assert tf_lines, loud.stderr  # whatever TensorFlow says at start-up on this machine is shown ...
    assert not any(line in quiet.stderr for line in tf_lines)  # ... and hidden without --verbose


# -- the interrupt handler's states, and the batch check of the Python API -----

def _swallowed_sigterm():
    """SIGTERM landing inside a library's bare `except:` (TensorFlow's imports have them)."""
    try:
        signal.raise_signal(signal.SIGTERM)
    except BaseException:
        pass


def test_a_sigterm_whose_exception_is_swallowed_during_start_up_still_ends_the_process_with_143(monkeypatch):
    """CI once saw exit 0: the start-up handler's exception was swallowed and the run went on to finish."""
    def start_up(argv):
        _swallowed_sigterm()
        return 0

    monkeypatch.setattr(cli, "_main", start_up)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert cli.main([]) == 143
    assert err.getvalue().startswith("tfgen: stopped by SIGTERM")


def test_a_sigterm_swallowed_after_fit_still_reports_the_signal(monkeypatch, tmp_path):
    from tfgen.training import runner

    fingerprint = runner.weights_fingerprint

    def after_fit(model):  # runs after `fit`, when the handler raises at once
        _swallowed_sigterm()
        return fingerprint(model)

    monkeypatch.setattr(runner, "weights_fingerprint", after_fit)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(tiny_run_yaml(train={"steps": 2, "checkpoint_every": 2, "image_every": 1000}))
    rc, _, err = run_cli("train", cfg, "--workdir", tmp_path / "run")
    assert rc == 143, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("tfgen: interrupted by SIGTERM at step 2; checkpoint saved: ")


def test_interrupt_handler_raises_before_fit_records_during_fit_and_aborts_on_a_second_signal(monkeypatch):
    from tfgen.training import interrupts as interrupts_lib

    exits = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(interrupts_lib.os, "_exit", fake_exit)
    stream = io.StringIO()
    # What the process inherited (a run started in the background by a shell has SIGINT ignored).
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with interrupts_lib.GracefulInterrupts(stream=stream) as handler:
        assert signal.getsignal(signal.SIGINT) == handler._handle
        assert signal.getsignal(signal.SIGTERM) == handler._handle
        with pytest.raises(interrupts_lib.TrainingInterrupted, match="before training started") as stop:
            handler._handle(signal.SIGTERM, None)  # nothing to save yet: at once
        assert stop.value.exit_code == 143
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers put back

    with interrupts_lib.GracefulInterrupts(stream=stream) as handler:
        handler.arm()
        handler._handle(signal.SIGINT, None)  # during fit: recorded, training stops after the step
        assert handler.received == signal.SIGINT and not exits
        assert "stopping after this step to save a checkpoint" in stream.getvalue()
        with pytest.raises(SystemExit):
            handler._handle(signal.SIGINT, None)  # the second one: at once, without saving
        assert exits == [130] and "aborted without saving" in stream.getvalue()


@pytest.fixture(scope="module")
def tiny_dcgan():
    from tfgen.models import build_model

    config = config_lib.config_from_dict({"model": {"name": "dcgan", **config_lib.tiny_overrides("dcgan")}})
    return build_model(config, image_shape=(32, 32, 1))


def test_as_batch_accepts_tensors_pairs_and_dicts(tiny_dcgan):
    import tensorflow as tf

    images = tf.zeros([4, 32, 32, 1])
    labels = tf.range(4)
    assert set(tiny_dcgan.as_batch(images)) == {"image"}
    assert set(tiny_dcgan.as_batch((images,))) == {"image"}
    batch = tiny_dcgan.as_batch((images, labels))
    assert set(batch) == {"image", "label"} and batch["label"] is labels
    assert set(tiny_dcgan.as_batch({"image": images, "index": labels})) == {"image", "index"}
    assert tiny_dcgan.as_batch(tf.zeros([4, 32, 32, 1], tf.float16))["image"].dtype == tf.float32


@pytest.mark.parametrize("data, message", [
    ("gray28", "got images of shape [4, 28, 28, 1]"),
    ("uint8", "got dtype uint8 (scale to [-1, 1] first"),
    ("no_image", "got a dict with keys ['pixels'] (no 'image')"),
    ("triple", "got a tuple of 3"),
])
def test_as_batch_says_exactly_what_is_expected(tiny_dcgan, data, message):
    import tensorflow as tf

    images = tf.zeros([4, 32, 32, 1])
    data = {"gray28": tf.zeros([4, 28, 28, 1]), "uint8": tf.zeros([4, 32, 32, 1], tf.uint8),
            "no_image": {"pixels": images}, "triple": (images, images, images)}[data]
    with pytest.raises(ValueError) as error:
        tiny_dcgan.as_batch(data)
    assert message in str(error.value)
    assert "images float32 [batch, 32, 32, 1] in [-1, 1]" in str(error.value)


def test_andor_asks_for_the_example_index():
    import tensorflow as tf

    from tfgen.models import build_model

    config = config_lib.config_from_dict({"model": {"name": "andor", **config_lib.tiny_overrides("andor")},
                                          "data": {"num_train": 16}})
    model = build_model(config, image_shape=(32, 32, 1), num_classes=10)
    with pytest.raises(ValueError, match=r"needs \['index'\] besides 'image'"):
        model.as_batch(tf.zeros([2, 32, 32, 1]))
