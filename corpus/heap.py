"""Give freed memory back to the kernel between phases, so each phase's peak is its own.

glibc keeps what a process frees on its heap for reuse (only the top of the heap is trimmed
by itself), and so does Arrow's allocator: after the driver resolved MinHash's verified pairs
at 10 M documents it stayed ≈ 240 MiB above its rest through the index and finalize. Measured
alone, `graph.stars` over 1 M pairs left 100 MiB resident after everything was freed, 0 after
`malloc_trim(0)`. Called by the driver after each corpus step and by local workers after each
task; a no-op where the C library has no malloc_trim (musl, macOS).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

import pyarrow as pa


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_heap(collect: bool = True) -> None:
    """Return the free pages of the C heap and of Arrow's pool to the kernel; first free
    unreachable objects if `collect` (not in forked workers: a collection writes to every
    object's header, so the pages they share with the driver become their own)."""
    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)
