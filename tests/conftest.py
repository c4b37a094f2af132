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
