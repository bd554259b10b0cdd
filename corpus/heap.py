"""Give freed memory back to the kernel between phases, so each phase's peak is its own.

glibc keeps what a process frees on its heap for reuse (only the top of the heap is trimmed
by itself), and so does Arrow's allocator: after the driver resolved MinHash's verified pairs
at 10 M documents it stayed ≈ 240 MiB above its rest through the index and finalize. Measured
alone, `graph.stars` over 1 M pairs left 100 MiB resident after everything was freed, 0 after
`malloc_trim(0)`. Called by the driver after each corpus step (with a garbage collection) and
after each task, by local workers or by the driver where it runs the tasks itself (without one:
a full collection takes ~0.2 s in a process that has imported torch, and the tasks' garbage is
freed by reference counting); a no-op where the C library has no malloc_trim (musl, macOS).

A worker trims only when its heap holds at least WORKER_KEEPS of free memory: a trim hands the
free pages back and the next task faults them in again (~5k page faults a task, ~58k extra
in a 2-worker run of 469 web pages, where each task leaves 12-29 MiB free), while the memory
this guards against is the hundreds of MiB a big task frees.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

import pyarrow as pa


WORKER_KEEPS = 32 << 20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _libc_functions():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None, None
    info = getattr(libc, "mallinfo2", None)  # glibc >= 2.33
    if info is not None:
        info.restype = _MallInfo2
    return trim, info


_TRIM, _MALLINFO2 = _libc_functions()


def _free_heap_bytes() -> int | None:
    """Bytes in the C heap's free chunks (all arenas), or None where glibc cannot say."""
    return None if _MALLINFO2 is None else _MALLINFO2().fordblks


def release_heap(collect: bool = True, keep: int = 0) -> None:
    """Return the free pages of the C heap and of Arrow's pool to the kernel; first free
    unreachable objects if `collect` (not in forked workers: a collection writes to every
    object's header, so the pages they share with the driver become their own). With `keep`,
    the C heap is trimmed only when more than that is free."""
    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        free = _free_heap_bytes() if keep else None
        if free is None or free >= keep:
            _TRIM(0)
