"""A temporary directory that is removed even when the benchmark is stopped by a signal.

A helper of the benchmarks that write seeded checkpoints (up to 1.3 GB) into a temporary ``TORCH_HOME``.
``tempfile.TemporaryDirectory`` cleans up on normal exit and on Ctrl-C, but SIGTERM (``timeout``, ``kill``, a
CI runner cancelling a job) ends the process without unwinding, so every stopped run used to leave its
checkpoints behind in /tmp. Turning SIGTERM into ``SystemExit`` lets the ``with`` block remove them.
"""
from __future__ import annotations

import signal
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator


def _exit_on_sigterm(signum, _frame) -> None:
    sys.exit(128 + signum)


@contextmanager
def scratch_dir() -> Iterator[str]:
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="percept_bench_") as tmp:
            yield tmp
    finally:
        signal.signal(signal.SIGTERM, previous)
