"""The machine as the status bar shows it: the compute device and memory in use.

Probing the device can take seconds (initialising CUDA), so it runs as a job in a worker; memory
is sampled by a small background thread that never initialises CUDA itself.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import torch
from PySide6.QtCore import QThread, Signal

from studio.core import device as devices
from studio.core import report
from studio.core.jobs import Control, Job, returning


def probe_device(requested: str | None) -> dict:
    """A job: which device the engine will use, and which ones this machine has."""
    available = devices.available()
    chosen = devices.pick_device(requested)
    label = devices.describe(chosen)
    if chosen.type == "cpu":
        threads = torch.get_num_threads()
        label = f"CPU ({threads} thread{'s' if threads != 1 else ''})"
    return {"label": label, "type": chosen.type, "available": available}


def device_job(requested: str | None) -> Callable[[Control], Job]:
    return returning(lambda _control: probe_device(requested))


def process_memory_bytes() -> int | None:
    """Resident memory of this process, or None where it cannot be read cheaply."""
    try:
        import psutil  # optional: exact on every platform

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/statm", encoding="ascii") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None
    if sys.platform == "win32":
        return _windows_rss()
    try:  # macOS and BSDs: the peak, which is the best the standard library offers
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except (ImportError, OSError):
        return None


def _windows_rss() -> int | None:
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                    ("QuotaPeakPagedPoolUsage", ctypes.c_size_t), ("QuotaPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t), ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                    ("PagefileUsage", ctypes.c_size_t), ("PeakPagefileUsage", ctypes.c_size_t)]

    counters = Counters()
    counters.cb = ctypes.sizeof(Counters)
    try:
        ok = ctypes.windll.psapi.GetProcessMemoryInfo(ctypes.windll.kernel32.GetCurrentProcess(),
                                                      ctypes.byref(counters), counters.cb)
    except (AttributeError, OSError):
        return None
    return int(counters.WorkingSetSize) if ok else None


def gpu_memory() -> tuple[int, int] | None:
    """(allocated by Studio, total) on the current CUDA device, only once CUDA is in use."""
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    try:
        return int(torch.cuda.memory_allocated()), int(torch.cuda.get_device_properties(0).total_memory)
    except RuntimeError:
        return None


class MemoryMonitor(QThread):
    """Samples memory every ``interval`` seconds off the GUI thread."""

    sampled = Signal(str)

    def __init__(self, interval: float = 2.0):
        super().__init__()
        self.setObjectName("memory monitor")
        self._interval = interval
        self._stop = threading.Event()

    def run(self) -> None:
        while True:
            parts = []
            rss = process_memory_bytes()
            if rss is not None:
                parts.append(f"RAM {report.size(rss)}")
            gpu = gpu_memory()
            if gpu is not None:
                parts.append(f"GPU {report.size(gpu[0])} / {report.size(gpu[1])}")
            self.sampled.emit(" · ".join(parts) if parts else "")
            if self._stop.wait(self._interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self.wait(3000)
