"""The memory allocator of a job's own process (compute.keep_freed_memory).

A module of its own, imported by the workflow's rules (``common.smk``, which
sets the environment every job inherits) and by the jobs that call
``keep_freed_memory`` only: a change here reruns those jobs, not every job
that imports ``aemap.compute``.
"""

from __future__ import annotations

from collections.abc import MutableMapping

# glibc's mallopt parameters (malloc.h) and the values of keep_freed_memory:
# 32 MiB is the largest mmap threshold glibc allows on 64-bit machines.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEPT_BLOCK_BYTES = 32 * 2**20
KEPT_FREE_BYTES = 2**30
# The same two values as glibc reads them from the environment at a process's start.
KEPT_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(KEPT_BLOCK_BYTES), "MALLOC_TRIM_THRESHOLD_": str(KEPT_FREE_BYTES)}


def keep_freed_memory() -> str:
    """Keep freed memory in this process instead of handing it back to the
    system (glibc: blocks up to 32 MiB come from the heap, and up to 1 GiB of
    free heap stays mapped). A step of a batched optimisation frees and
    reallocates the same few large tensors every time; by default glibc
    unmaps them and the kernel zero-fills fresh pages on first touch
    (hundreds to thousands of page faults a step of 64 28 x 28 visualisations,
    as many as glibc's own adaptive thresholds leave).
    Values never change, only where memory comes from; the process holds on
    to its peak. For a job's own process (the workflow's), not a notebook's.

    Returns what was done, for the job's log. Left alone: other C libraries
    than glibc, and a process whose environment sets glibc's own variables
    (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_): the user's choice, or the
    workflow's (``keep_freed_memory_in_jobs``), in force since the process began."""
    import ctypes
    import os
    import platform

    given = [f"{name}={os.environ[name]}" for name in KEPT_ENVIRONMENT if name in os.environ]
    if given:
        return f"freed memory: as the environment's {', '.join(given)} set it"
    if platform.libc_ver()[0] != "glibc":
        return "freed memory: handed back to the system (not glibc: its allocator is left as it is)"
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, KEPT_BLOCK_BYTES) != 1 or mallopt(_M_TRIM_THRESHOLD, KEPT_FREE_BYTES) != 1:
        return "freed memory: handed back to the system (glibc refused mallopt)"
    return (
        f"freed memory: kept in the process (glibc: blocks up to {KEPT_BLOCK_BYTES // 2**20} MiB "
        f"from the heap, up to {KEPT_FREE_BYTES // 2**30} GiB kept)"
    )


def keep_freed_memory_in_jobs(environ: MutableMapping[str, str]) -> bool:
    """Put ``KEPT_ENVIRONMENT`` into ``environ`` (the workflow's ``os.environ``),
    which every job's process inherits: glibc reads it before the process's
    first allocation, so training, permutation importance and every other job
    keep freed memory from their start, not only the jobs that call
    ``keep_freed_memory``. Nothing in a job's code or parameters changes, so
    nothing reruns. Left alone where either variable is already set (the
    user's choice); returns whether it was set here."""
    if any(name in environ for name in KEPT_ENVIRONMENT):
        return False
    environ.update(KEPT_ENVIRONMENT)
    return True
