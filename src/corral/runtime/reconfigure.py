"""One process takes a changed config: in place while it runs (the live keys), or as the
config of its next start (any key, the process being stopped)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.config.model import ProcessConfig
from corral.config.supervision import DEFAULT_SUPERVISION
from corral.runtime import health
from corral.runtime.watch import Watch

if TYPE_CHECKING:
    from corral.runtime.process import Process

# keys that decide where a running pipe's bytes go: update re-routes the pipes
ROUTED = frozenset(
    {
        "console",
        "console_stderr",
        "log_timestamps",
        "stdout_syslog",
        "stderr_syslog",
        "stdout_events_enabled",
        "stderr_events_enabled",
        "stdout_capture_maxbytes",
        "stderr_capture_maxbytes",
    }
)
# keys that name the log files
LOG_PATHS = frozenset({"stdout_logfile", "stderr_logfile", "redirect_stderr"})


def _common(proc: Process, new: ProcessConfig) -> None:
    proc.config = new
    for sink, ch in ((proc.stdout_sink, new.stdout), (proc.stderr_sink, new.stderr)):
        if sink is not None:
            sink.set_limits(ch.maxbytes, ch.backups)
    if proc.watch is None and new.supervision != DEFAULT_SUPERVISION:
        proc.watch = Watch()  # it uses readiness, health or dependencies from now on


def reconfigure(proc: Process, new: ProcessConfig, keys: tuple[str, ...]) -> None:
    """Live keys only: the running child is not touched, what reads them reads the new
    values from now on."""
    _common(proc, new)
    changed = set(keys)
    if "health_check" in changed:
        health.restart(proc)
    if changed & ROUTED and proc.pumps():
        proc.sup.output.reroute(proc)
    if "depends_on" in changed:
        proc.sup.deps.stale()


def replace_config(proc: Process, new: ProcessConfig, keys: tuple[str, ...]) -> None:
    """Any keys, for a stopped process: its next start uses them (new log files too)."""
    _common(proc, new)
    if set(keys) & LOG_PATHS:
        out = proc.sup.output
        for sink in (proc.stdout_sink, proc.stderr_sink):
            if sink is not None:
                sink.close()
        proc.stdout_sink = proc.stderr_sink = None
        proc.stdout_logfile = out.log_path(new, "stdout")
        proc.stderr_logfile = out.log_path(new, "stderr")
    if "depends_on" in keys:
        proc.sup.deps.stale()
