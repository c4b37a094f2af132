"""`tfgen ARGS` inside the test process, as a user's shell would see it: exit code, stdout, stderr.

A subprocess pays seconds for a second TensorFlow start-up; here the CLI's
`main(argv)` runs in this process with its working directory, environment
and standard streams swapped for the call. An exception that escapes
`main` is written to stderr as the interpreter would (a traceback, exit 1),
so a test's "no traceback" check means the same as with a real process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import traceback
from typing import Dict, Optional, Sequence, Tuple


@contextlib.contextmanager
def _environment(cwd: Optional[str], env: Dict[str, str]):
    before_dir = os.getcwd()
    before_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before_dir)
        for k, v in before_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_in_process(args: Sequence, cwd=None, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """`python -m tfgen ARGS` run as `tfgen.cli.main(ARGS)` in this process.

    Args:
      args: the command line after `tfgen`.
      cwd: the working directory of the call (None: this one).
      env: environment variables set for the call.

    Returns:
      A `subprocess.CompletedProcess` with returncode, stdout and stderr.
    """
    from tfgen.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with _environment(str(cwd) if cwd else None, dict(env or {})), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - what an uncaught exception shows a user
            traceback.print_exc(file=err)
            code = 1
    return subprocess.CompletedProcess(["tfgen", *argv], code, out.getvalue(), err.getvalue())


def run_cli(*args) -> Tuple[int, str, str]:
    """`tfgen ARGS` in this process, here: (exit code, stdout, stderr)."""
    proc = run_in_process(args)
    return proc.returncode, proc.stdout, proc.stderr


def tfgen(*args, env: Optional[Dict[str, str]] = None, check: bool = True) -> subprocess.CompletedProcess:
    """`tfgen ARGS` in this process; with `check`, a non-zero exit fails the test showing stderr."""
    proc = run_in_process(args, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"tfgen {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def tfgen_process(*args, env: Optional[Dict[str, str]] = None, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m tfgen ARGS` in a fresh process: the real start-up, for the few smoke tests that need it."""
    proc = subprocess.run([sys.executable, "-m", "tfgen", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"tfgen {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def last_json(stdout: str) -> dict:
    """The JSON object a command prints last (after its log lines)."""
    return json.loads(stdout[stdout.index("{"):])
