"""Timing that a reader can trust on a shared machine: interleaved calls, the minimum of repeats, the load.

A helper of ``losses.py`` and ``dists.py``, not a benchmark itself. Each round calls every contender once, in an order that rotates from
round to round, so that a change of machine load during the run hits all of them alike; the figure kept is
each one's fastest call, the one the other processes disturbed least (a median still moves with the load).
The load average is printed before and after a table, with the CPU time other processes took: figures measured
while they took over 0.5 CPUs are not for the README.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import torch

IDLE_LOAD = 0.5
_window: dict[str, float] = {}


def _busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (Linux's /proc/stat), None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    times = os.times()  # every thread of this process, and the child processes it has waited for
    return times.user + times.system + times.children_user + times.children_system


def _others_since(window: dict[str, float]) -> float:
    """CPUs' worth of work by other processes since ``window`` was opened: all busy time minus our own."""
    busy, wall = _busy_seconds(), time.perf_counter()
    return max(0.0, (busy - window["busy"]) - (_own_seconds() - window["own"])) / (wall - window["wall"])


def _open_window() -> dict[str, float]:
    return {"busy": _busy_seconds(), "own": _own_seconds(), "wall": time.perf_counter()}


def load_line(when: str) -> str:
    """``load average before: 0.12 0.30 0.41 …``, with what other processes used, and a warning line above 0.5.

    The load average counts this benchmark's own threads too (after a table, or before the next one, they
    raise it to about their number), so the warning rests on the CPU time of the *other* processes, read from
    /proc/stat less this process's own: over one second before a table, over the table itself after it.
    Where /proc/stat is missing, the 1-minute load average stands in for it.
    """
    one, five, fifteen = os.getloadavg()
    line = f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"
    others = one
    if _busy_seconds() is not None:
        if when == "before":
            sample = _open_window()
            time.sleep(1.0)
            others = _others_since(sample)
            line += f"; other processes {others:.2f} CPUs over the last second"
            _window.update(_open_window())
        elif _window:
            others = _others_since(_window)
            line += f"; other processes {others:.2f} CPUs during the table (this run's own threads are in the load)"
    if others > IDLE_LOAD:
        line += (f"\nWARNING: other processes use {others:.2f} CPUs > {IDLE_LOAD}: these figures are not for the "
                 "README (the ratios are still interleaved, the absolute figures are not idle)")
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
