"""CPU time spent by the bench (the client side) and by its descendant processes (the servers).

Read around a batch, the two deltas say where a call's cost goes: only one column is busy at a
time, so the descendants' share is that column's servers (proxy or gateway, and the minimal
server behind it). Linux only (`/proc`); elsewhere the servers' share is reported as unknown.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuTime:
    client_s: float
    servers_s: float | None

    @classmethod
    def now(cls) -> CpuTime:
        return cls(time.process_time(), _descendants_cpu_s())

    def __sub__(self, other: CpuTime) -> CpuTime:
        return CpuTime(self.client_s - other.client_s, _combine(self.servers_s, other.servers_s, -1))

    def __add__(self, other: CpuTime) -> CpuTime:
        return CpuTime(self.client_s + other.client_s, _combine(self.servers_s, other.servers_s, 1))


def _combine(left: float | None, right: float | None, sign: int) -> float | None:
    return None if left is None or right is None else left + sign * right


def _descendants_cpu_s() -> float | None:
    """User and system time of every live descendant (processes that exit in between are lost)."""
    if not _PROC.is_dir():
        return None
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process exited while we looked
            continue
        # Fields after the command name, which is in parentheses and may contain spaces (proc(5)).
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
    total = 0
    pending = list(children.get(os.getpid(), []))
    while pending:
        pid = pending.pop()
        total += ticks.get(pid, 0)
        pending += children.get(pid, [])
    return total / _TICKS_PER_S
