"""Keep freed memory in the process on glibc, so CPU training stops paying page faults each step.

Why: glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh mmap
and returns it to the kernel on free. A training step frees and re-allocates the same large
tensors (logits, their gradient, activations) every step, so each one is faulted in and zeroed
by the kernel again: on a 7 M-parameter model that is a quarter of a compiled bf16 step and a
tenth of an fp32 one (docs/training.md).
With mmap off and the trim threshold at its maximum, freed blocks stay in malloc's heap and the
next step reuses them; the cost is that the process keeps its peak memory until it exits, as
PyTorch's CUDA caching allocator does on a GPU.

`XIULIAN_MALLOC=system` leaves glibc's defaults alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters, <malloc.h>
_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Tell glibc's malloc to keep and reuse freed memory; True where that took effect. Once per
    process (mallopt is process-wide); elsewhere (macOS, musl, Windows) a no-op returning False."""
    global _applied
    if _applied is None:
        _applied = os.environ.get("XIULIAN_MALLOC", "").lower() != "system" and _mallopt()
    return _applied


def _mallopt() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # Without mmap, glibc still falls back to it when the heap cannot grow, so nothing fails.
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))
