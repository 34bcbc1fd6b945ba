"""glibc's allocator, set for a daemon that moves output through large short-lived buffers.

Each read of a busy pipe is a bytes object of up to 128 KiB, the console's rendering of it
is another, and both live until the end of the loop iteration. By default glibc serves
blocks over 128 KiB with mmap and hands the top of its heap back to the kernel once a few
hundred KiB of it are free: with many busy programs that happens in nearly every iteration,
and the next one faults every page in again. Fixed thresholds keep such blocks on the heap
and keep up to TRIM bytes of it free, so the daemon's RSS after a burst of output may stay
that much above its idle figure. musl's mallopt ignores these; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes

__all__ = ["MMAP_THRESHOLD", "TRIM", "tune"]

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1024 * 1024  # blocks up to this come from the heap
TRIM = 4 * 1024 * 1024  # free heap kept rather than returned to the kernel


def tune() -> bool:
    """Set the thresholds; False where the C library has no mallopt (or refuses)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM)
    )
