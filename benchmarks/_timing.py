"""Timing that a reader can trust on a shared machine: interleaved calls, the minimum of repeats, the load.

A helper of ``losses.py`` and ``dists.py``, not a benchmark itself. Each round calls every contender once, in an order that rotates from
round to round, so that a change of machine load during the run hits all of them alike; the figure kept is
each one's fastest call, the one the other processes disturbed least (a median still moves with the load).
The load average is printed before and after a table: figures measured above 0.5 are not for the README.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import torch

IDLE_LOAD = 0.5


def load_line(when: str) -> str:
    """``load average before: 0.12 0.30 0.41``, plus a warning line when the 1-minute load is above 0.5."""
    one, five, fifteen = os.getloadavg()
    line = f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"
    if one > IDLE_LOAD:
        line += (f"\nWARNING: load {one:.2f} > {IDLE_LOAD}: other processes share the CPU; these figures are "
                 "not for the README (the ratios are still interleaved, the absolute figures are not idle)")
    return line


def compare(contenders: dict[str, Callable[[], object]], device: torch.device, repeats: int = 5,
            min_time: float = 0.0) -> dict[str, float]:
    """Seconds per call of each contender: the minimum over at least ``repeats`` interleaved rounds (and over
    ``min_time`` seconds in all), after one warm-up call of each (allocator, oneDNN / cuDNN plan caches)."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def once(fn):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    for fn in contenders.values():
        once(fn)
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or time.perf_counter() - start < min_time:
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(once(contenders[name]))
        rounds += 1
    return {name: min(values) for name, values in times.items()}


def set_threads(threads: int) -> None:
    """``threads`` > 0: that many intra-op CPU threads (1 isolates the code's own cost on a loaded machine)."""
    if threads:
        torch.set_num_threads(threads)
