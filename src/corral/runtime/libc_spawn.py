"""libc's posix_spawn through ctypes, so the interpreter lock is released while it runs.

`os.posix_spawn` holds the GIL for the whole call: vfork, the child's file actions and its
exec, about a millisecond each. The kernel runs one such spawn at a time anyway, but with the
GIL held nothing else in the daemon moves either, so a batch costs its spawns plus all of its
preparation (pipes, log files, environments) one after the other. A ctypes call releases the
GIL, so other spawn threads prepare the next children while this one waits for its exec: a
batch then costs about what a bare posix_spawn loop does.

Same child as `os.posix_spawn` with the arguments spawn.py gives it: dup2 file actions, its
own process group, an empty signal mask, every signal at its default disposition, and (glibc
2.34+) every descriptor above the child's last closed. glibc and musl both report an exec
error as the call's result, after waiting for the failed child themselves (see reap_gate).

`available` is False where libc or one of its functions cannot be loaded; spawn.py then uses
`os.posix_spawn`.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterable, Mapping

# posix_spawnattr_setflags bits; the same values in glibc and musl.
_SETPGROUP = 0x02
_SETSIGDEF = 0x04
_SETSIGMASK = 0x08
# The opaque structs are 336 (attr) and 80 (file actions) bytes in glibc, less in musl;
# sigset_t is 128. Generous buffers stay right if a libc grows them.
_OPAQUE = 1024
_SIGSET = 256

_libc: ctypes.CDLL | None
try:
    # the interpreter's own namespace holds libc (glibc or musl); find_library would run ldconfig
    _libc = ctypes.CDLL(None, use_errno=True)
    for _fn in (
        "posix_spawn",
        "posix_spawn_file_actions_init",
        "posix_spawn_file_actions_adddup2",
        "posix_spawn_file_actions_destroy",
        "posix_spawnattr_init",
        "posix_spawnattr_setflags",
        "posix_spawnattr_setpgroup",
        "posix_spawnattr_setsigmask",
        "posix_spawnattr_setsigdefault",
        "sigemptyset",
        "sigaddset",
    ):
        getattr(_libc, _fn)
except (OSError, AttributeError):
    _libc = None

available = _libc is not None
_closefrom = getattr(_libc, "posix_spawn_file_actions_addclosefrom_np", None)


def _attributes(libc: ctypes.CDLL) -> ctypes.Array[ctypes.c_char]:
    """One attribute set for every spawn: nothing in it changes from child to child."""
    attr = ctypes.create_string_buffer(_OPAQUE)
    sigdef = ctypes.create_string_buffer(_SIGSET)
    mask = ctypes.create_string_buffer(_SIGSET)
    ok = libc.posix_spawnattr_init(attr) == 0
    ok &= libc.sigemptyset(sigdef) == 0 and libc.sigemptyset(mask) == 0
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            ok &= libc.sigaddset(sigdef, int(sig)) == 0
    ok &= libc.posix_spawnattr_setsigdefault(attr, sigdef) == 0
    ok &= libc.posix_spawnattr_setsigmask(attr, mask) == 0
    ok &= libc.posix_spawnattr_setpgroup(attr, 0) == 0
    flags = ctypes.c_short(_SETPGROUP | _SETSIGDEF | _SETSIGMASK)
    ok &= libc.posix_spawnattr_setflags(attr, flags) == 0
    if not ok:
        raise OSError("posix_spawnattr setup failed")
    return attr


_attr: ctypes.Array[ctypes.c_char] | None = None
if _libc is not None:
    try:
        _attr = _attributes(_libc)
    except OSError:
        _libc, available = None, False


def _strings(items: Iterable[str]) -> ctypes.Array[ctypes.c_char_p]:
    encoded = [os.fsencode(s) for s in items]
    return (ctypes.c_char_p * (len(encoded) + 1))(*encoded, None)


def posix_spawn(
    path: str, argv: list[str], env: Mapping[str, str], moves: list[tuple[int, int]]
) -> int:
    """Spawn path with argv and env; each (parent fd, child fd) of moves is dup2'd in order.
    Returns the pid; raises OSError as os.posix_spawn does."""
    libc = _libc
    if libc is None or _attr is None:
        raise RuntimeError("libc posix_spawn is not available")
    c_argv = _strings(argv)
    c_env = _strings(f"{k}={v}" for k, v in env.items())
    c_path = os.fsencode(path)
    actions = ctypes.create_string_buffer(_OPAQUE)
    if libc.posix_spawn_file_actions_init(actions) != 0:
        raise OSError(ctypes.get_errno(), "posix_spawn_file_actions_init failed")
    try:
        for parent, child in moves:
            err = libc.posix_spawn_file_actions_adddup2(actions, parent, child)
            if err:
                raise OSError(err, os.strerror(err))
        if _closefrom is not None:
            # belt and braces: even an inheritable fd above the child's last stays behind
            err = _closefrom(actions, max(child for _, child in moves) + 1)
            if err:
                raise OSError(err, os.strerror(err))
        pid = ctypes.c_int()
        err = libc.posix_spawn(ctypes.byref(pid), c_path, actions, _attr, c_argv, c_env)
    finally:
        libc.posix_spawn_file_actions_destroy(actions)
    if err:
        raise OSError(err, os.strerror(err), path)
    return pid.value
