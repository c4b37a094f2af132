"""Where the tests find the repository and their own helpers, wherever a test file sits under tests/."""

import os

TESTS = os.path.dirname(os.path.abspath(__file__))  # tests/: helper scripts and fixtures
REPO = os.path.dirname(TESTS)  # the checkout: README, configs, tools
