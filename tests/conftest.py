"""Shared pytest set-up: quiet TensorFlow, the `slow` marker, small fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (deselect with -m 'not slow')")


@pytest.fixture
def tiny_multidigit():
    """Raw config sections of a small, fast built-in dataset."""
    return {"name": "multidigit", "num_objects": 1, "image_size": 32, "num_train": 256, "num_test": 128,
            "shuffle_buffer": 256}


@pytest.fixture(scope="session")
def trained_once(tmp_path_factory, worker_id):
    """`trained_once(name, train)`: the folder `train(folder)` filled, trained once per test session.

    Shared by every module and every pytest-xdist worker: the first caller
    trains under a file lock, the others wait and reuse its folder (the
    workers share the parent of their temporary roots). Tests treat the
    folder as read-only and write their outputs elsewhere.

    Args (of the returned function):
      name: the run's key (one folder per key).
      train: fills the given empty folder (`pathlib.Path`), e.g. by running
        `tfgen train ... --workdir folder/run`.

    Returns:
      The folder (`pathlib.Path`).
    """
    import fcntl

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / "trained_once"
    root.mkdir(exist_ok=True)

    def get(name: str, train):
        folder = root / name
        with open(root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (folder / ".complete").exists():
                    if folder.exists():  # a caller that failed half-way: start over
                        import shutil

                        shutil.rmtree(folder)
                    folder.mkdir()
                    train(folder)
                    (folder / ".complete").write_text("")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return folder

    return get


@pytest.fixture(scope="session")
def worker_id(request):
    """pytest-xdist's worker name ("gw0", ...), or "master" without xdist (its own fixture when installed)."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")
