"""The option table's live column and the per-process, per-key plan built on it.

Each row is a pair of real config files read by `load`: old -> new -> the keys that changed
and whether a running process takes them live. The 4.3 classification (`diff`) must come out
of the same plan unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
from collections.abc import Callable

import pytest

from corral.config import ReloadPlan, diff, load
from corral.config.model import (
    Config,
    EventListenerConfig,
    FcgiSocketConfig,
    GroupConfig,
    LogChannelConfig,
    OutputKeys,
    ProcessConfig,
)
from corral.config.options import live_keys, options_for
from corral.config.plan import (
    CHANNEL_KEYS,
    GROUP_KEYS,
    LISTENER_KEYS,
    OUTPUT_KEYS,
    PROCESS_KEYS,
    SECTION_KEY,
    SOCKET_KEYS,
    KeyChange,
    ProcessDiff,
    UpdatePlan,
    plan_update,
    value_text,
)

ENV = {"HOME": "/home/tester", "PATH": "/usr/bin:/bin"}
Write = Callable[..., str]

# Issue 11's list of what a running process of a program-type section takes without a restart.
ISSUE_11_LIVE = {
    "autostart",
    "autorestart",
    "exitcodes",
    "startsecs",
    "startretries",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "priority",
    *(f"{ch}_{k}" for ch in ("stdout", "stderr") for k in ("logfile_maxbytes", "logfile_backups")),
    "stdout_events_enabled",
    "stderr_events_enabled",
    "stdout_capture_maxbytes",
    "stderr_capture_maxbytes",
}
# Live beyond that list, each for a reason the table's comments give.
ALSO_LIVE = {"numprocs", "numprocs_start"}  # the processes that stay keep running
# issue 9's tuning keys: read at their next use (the check and dependencies need a new run)
SUPERVISION_LIVE = {
    "ready_timeout",
    "ready_interval",
    "health_interval",
    "health_timeout",
    "health_retries",
    "health_action",
    "backoff",
    "backoff_max",
    "restart_delay",
}
LISTENER_POOL_LIVE = {"events", "buffer_size", "result_handler"}  # the pool is the daemon's
# issue 10's: essential is read when the process ends; the console and time stamp keys and
# syslog re-route the running pipes; env files are read at each spawn (a restart)
OUTPUT_LIVE = {"essential", "console", "console_stderr", "log_timestamps"}
ROUTED_LIVE = {"stdout_syslog", "stderr_syslog"}
# issue 9's checks and dependencies: used at the next start (health: the probe loop
# starts again); ready_check to or from notify or fd:N is a restart (set up at spawn)
CHECKS_LIVE = {"ready_check", "depends_on", "health_check"}


def _text(section: str, options: dict[str, str]) -> str:
    return f"[{section}]\n" + "".join(f"{k}={v}\n" for k, v in options.items())


def _pair(write: Write, old: str, new: str) -> tuple[Config, Config]:
    head = "[supervisord]\n"
    return (
        load(write(head + old, name="old.conf"), environ=ENV),
        load(write(head + new, name="new.conf"), environ=ENV),
    )


def _plan(write: Write, old: str, new: str) -> UpdatePlan:
    before, after = _pair(write, old, new)
    plan = plan_update(before, after)
    assert plan.reload_plan == diff(before, after)  # 4.3's answer, from the same plan
    return plan


# --- the column ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["program", "fcgi-program", "eventlistener"])
def test_every_live_key_of_issue_11_is_a_live_row(kind: str) -> None:
    table = options_for(kind)
    assert table.keys() >= ISSUE_11_LIVE
    extra = LISTENER_POOL_LIVE if kind == "eventlistener" else set()
    assert (
        live_keys(kind)
        == ISSUE_11_LIVE
        | ALSO_LIVE
        | SUPERVISION_LIVE
        | OUTPUT_LIVE
        | ROUTED_LIVE
        | CHECKS_LIVE
        | extra
    )


@pytest.mark.parametrize(
    "key",
    [
        "command",
        "process_name",
        "environment",
        "directory",
        "user",
        "umask",
        "redirect_stderr",
        "stdout_logfile",
        "stderr_logfile",
        "serverurl",
        "watchdog_sec",
        "environment_file",
    ],
)
def test_keys_that_need_a_new_process_are_not_live(key: str) -> None:
    assert not options_for("program")[key].live


def test_fcgi_socket_needs_restart_and_group_keys_are_live() -> None:
    fcgi = options_for("fcgi-program")
    assert not any(
        fcgi[k].live for k in ("socket", "socket_backlog", "socket_owner", "socket_mode")
    )
    assert live_keys("group") == {"programs", "priority"}
    # daemon-wide sections change only on a reload: nothing there claims to be live
    for kind in ("supervisord", "unix_http_server", "inet_http_server", "include"):
        assert live_keys(kind) == frozenset()


def test_every_model_field_maps_to_a_declared_key() -> None:
    # a new model field must be given its INI key here, or the plan would not see it change
    for cls, mapping, identity in (
        (
            ProcessConfig,
            PROCESS_KEYS,
            # numprocs: not a key of a process that stays (processes come and go instead)
            {"name", "stdout", "stderr", "extra", "supervision", "output", "numprocs"},
        ),
        (OutputKeys, OUTPUT_KEYS, set()),
        (LogChannelConfig, CHANNEL_KEYS, set()),
        (GroupConfig, GROUP_KEYS, {"name", "processes", "fcgi_socket", "listener"}),
        (FcgiSocketConfig, SOCKET_KEYS, set()),
        (EventListenerConfig, LISTENER_KEYS, set()),
    ):
        assert {f.name for f in dataclasses.fields(cls)} - identity == mapping.keys(), cls
    keys = {
        *PROCESS_KEYS.values(),
        *(f"{ch}_{s}" for ch in ("stdout", "stderr") for s in CHANNEL_KEYS.values()),
    }
    assert keys - {SECTION_KEY} <= options_for("program").keys()
    assert set(SOCKET_KEYS.values()) <= options_for("fcgi-program").keys()
    assert set(LISTENER_KEYS.values()) <= options_for("eventlistener").keys()


# --- one row per program key -------------------------------------------------------------

_ME = pwd.getpwuid(os.getuid())

# (option changed in the new file, its new value, the keys the plan names, live?)
PROGRAM_ROWS = [
    ("command", "/bin/cat -u", {"command"}, False),
    ("numprocs_start", "4", {"numprocs_start"}, True),  # process_num only; the name stays
    ("priority", "5", {"priority"}, True),
    ("autostart", "false", {"autostart"}, True),
    ("startsecs", "0", {"startsecs"}, True),
    ("startretries", "9", {"startretries"}, True),
    ("autorestart", "true", {"autorestart"}, True),
    ("exitcodes", "0,2", {"exitcodes"}, True),
    ("stopsignal", "INT", {"stopsignal"}, True),
    ("stopwaitsecs", "3", {"stopwaitsecs"}, True),
    ("stopasgroup", "true", {"stopasgroup", "killasgroup"}, True),  # killasgroup follows it
    ("killasgroup", "true", {"killasgroup"}, True),
    ("user", str(_ME.pw_uid), {"user"}, False),  # same uid, other text: still a new process
    ("redirect_stderr", "true", {"redirect_stderr", "stderr_logfile"}, False),
    ("stdout_logfile", "%(here)s/out.log", {"stdout_logfile"}, False),
    ("stdout_logfile_maxbytes", "1MB", {"stdout_logfile_maxbytes"}, True),
    ("stdout_logfile_backups", "1", {"stdout_logfile_backups"}, True),
    ("stdout_capture_maxbytes", "1KB", {"stdout_capture_maxbytes"}, True),
    ("stdout_events_enabled", "true", {"stdout_events_enabled"}, True),
    ("stdout_syslog", "true", {"stdout_syslog"}, True),  # the running pipe is re-routed
    ("stderr_logfile", "NONE", {"stderr_logfile"}, False),
    ("stderr_logfile_maxbytes", "0", {"stderr_logfile_maxbytes"}, True),
    ("stderr_logfile_backups", "0", {"stderr_logfile_backups"}, True),
    ("stderr_capture_maxbytes", "2KB", {"stderr_capture_maxbytes"}, True),
    ("stderr_events_enabled", "true", {"stderr_events_enabled"}, True),
    ("stderr_syslog", "true", {"stderr_syslog"}, True),
    ("environment", "A=1", {"environment"}, False),
    ("directory", "/tmp", {"directory"}, False),
    ("umask", "077", {"umask"}, False),
    ("serverurl", "http://127.0.0.1:9001", {"serverurl"}, False),
    ("requires", "db", {"requires"}, True),  # an unknown key: kept, ignored, so live
    ("health_interval", "3", {"health_interval"}, True),  # issue 9: read at its next use
    ("ready_check", "notify", {"ready_check"}, False),  # a socket set up at spawn: a restart
    ("ready_check", "fd:3", {"ready_check"}, False),  # a pipe given at spawn
    ("ready_check", "tcp:127.0.0.1:80", {"ready_check"}, True),  # used at the next start
    ("health_check", "tcp:127.0.0.1:80", {"health_check"}, True),  # the probe loop restarts
    ("console", "false", {"console"}, True),  # issue 10: the running pipes are re-routed
    ("console_stderr", "stderr", {"console_stderr"}, True),
    ("log_timestamps", "true", {"log_timestamps"}, True),
    ("environment_file", "/srv/app.env", {"environment_file"}, False),
    ("essential", "true", {"essential"}, True),  # read when the process ends
]


@pytest.mark.parametrize(
    ("key", "value", "keys", "live"), PROGRAM_ROWS, ids=[f"{r[0]}={r[1]}" for r in PROGRAM_ROWS]
)
def test_one_program_key(write: Write, key: str, value: str, keys: set[str], live: bool) -> None:
    base = {"command": "/bin/cat", "user": _ME.pw_name}
    plan = _plan(write, _text("program:web", base), _text("program:web", {**base, key: value}))
    assert plan.reload_plan == ReloadPlan(changed=("web",))
    (group,) = plan.changed
    (proc,) = group.processes
    assert (proc.name, proc.action) == ("web", "changed")
    assert set(proc.keys) == keys
    assert proc.live is live and all(c.live is live for c in proc.changes)
    assert group.restarts == (() if live else ("web",))
    assert group.live is live


def test_only_autorestart_changed_is_live(write: Write) -> None:
    old = _text("program:worker", {"command": "/bin/cat"})
    new = _text("program:worker", {"command": "/bin/cat", "autorestart": "true"})
    plan = _plan(write, old, new)
    assert plan.reload_plan == ReloadPlan(changed=("worker",))  # what reread prints, as 4.3
    group = plan.group("worker")
    assert group is not None and group.changes == () and group.live
    proc = group.process("worker")
    assert proc == ProcessDiff(
        "worker", "changed", (KeyChange("autorestart", True, *_autorestarts()),)
    )
    change = proc.changes[0]
    assert (
        f"{value_text('autorestart', change.old)} -> {value_text('autorestart', change.new)}"
        == ("unexpected -> true")
    )


def _autorestarts() -> tuple[object, object]:
    from corral.config.model import AutoRestart

    return AutoRestart.UNEXPECTED, AutoRestart.ALWAYS


def test_keys_come_in_table_order_with_old_and_new_values(write: Write) -> None:
    old = _text("program:web", {"command": "a", "stopwaitsecs": "1", "stopsignal": "TERM"})
    new = _text("program:web", {"command": "b", "stopwaitsecs": "2", "stopsignal": "HUP"})
    (proc,) = _plan(write, old, new).changed[0].processes
    assert proc.changes == (
        KeyChange("command", False, "a", "b"),
        KeyChange("stopsignal", True, 15, 1),
        KeyChange("stopwaitsecs", True, 1, 2),
    )
    assert not proc.live  # one key that is not live is enough
    assert value_text("stopsignal", 1) == "HUP"


# --- processes added and removed -----------------------------------------------------------


def test_numprocs_up_adds_only_the_new_processes(write: Write) -> None:
    opts = {"command": "/bin/cat", "process_name": "%(program_name)s_%(process_num)s"}
    plan = _plan(
        write,
        _text("program:web", {**opts, "numprocs": "2"}),
        _text("program:web", {**opts, "numprocs": "3"}),
    )
    (group,) = plan.changed
    # the count is not a key of the processes that stay: they are unchanged
    assert [(p.name, p.action, p.keys) for p in group.processes] == [("web_2", "added", ())]
    assert group.unchanged == ("web_0", "web_1")
    assert group.live and group.restarts == ()


def test_numprocs_down_removes_only_the_highest(write: Write) -> None:
    opts = {"command": "/bin/cat", "process_name": "%(program_name)s_%(process_num)s"}
    plan = _plan(
        write,
        _text("program:web", {**opts, "numprocs": "3"}),
        _text("program:web", {**opts, "numprocs": "1"}),
    )
    (group,) = plan.changed
    assert [(p.name, p.action) for p in group.processes] == [
        ("web_1", "removed"),
        ("web_2", "removed"),
    ]
    assert group.unchanged == ("web_0",) and group.live


def test_numprocs_in_the_command_restarts_the_survivors(write: Write) -> None:
    opts = {
        "command": "/bin/echo %(numprocs)s",
        "process_name": "%(program_name)s_%(process_num)s",
    }
    plan = _plan(
        write,
        _text("program:web", {**opts, "numprocs": "2"}),
        _text("program:web", {**opts, "numprocs": "3"}),
    )
    group = plan.changed[0]
    assert group.process("web_0") == ProcessDiff(
        "web_0",
        "changed",
        (KeyChange("command", False, "/bin/echo 2", "/bin/echo 3"),),
    )
    assert group.restarts == ("web_0", "web_1")


def test_group_membership_change_touches_only_that_program(write: Write) -> None:
    progs = _text("program:a", {"command": "a"}) + _text("program:b", {"command": "b"})
    plan = _plan(
        write,
        _text("group:g", {"programs": "a,b"}) + progs,
        _text("group:g", {"programs": "a", "priority": "5"}) + progs,
    )
    assert plan.reload_plan == ReloadPlan(changed=("g",), added=("b",))  # b is on its own now
    group = plan.group("g")
    assert group is not None
    assert group.changes == (KeyChange("priority", True, 999, 5),)
    assert group.processes == (ProcessDiff("b", "removed"),)
    assert group.unchanged == ("a",) and group.live


def test_a_program_listed_twice_is_an_unclassified_restart(write: Write) -> None:
    progs = _text("program:a", {"command": "a"})
    plan = _plan(
        write,
        _text("group:g", {"programs": "a,a"}) + progs,
        _text("group:g", {"programs": "a"}) + progs,
    )
    group = plan.changed[0]
    assert [c.key for c in group.changes] == ["programs"] and group.restarts == ("a",)


# --- group-level keys ----------------------------------------------------------------------


def test_fcgi_socket_change_restarts_every_process(write: Write) -> None:
    opts = {
        "command": "/bin/cat",
        "process_name": "%(program_name)s_%(process_num)s",
        "numprocs": "2",
    }
    plan = _plan(
        write,
        _text("fcgi-program:f", {**opts, "socket": "unix://%(here)s/a.sock"}),
        _text("fcgi-program:f", {**opts, "socket": "unix://%(here)s/b.sock", "autostart": "no"}),
    )
    group = plan.changed[0]
    assert [(c.key, c.live) for c in group.changes] == [("socket", False)]
    assert [(p.name, p.keys, p.live) for p in group.processes] == [
        ("f_0", ("autostart",), True),
        ("f_1", ("autostart",), True),
    ]
    assert group.restarts == ("f_0", "f_1") and not group.live


def test_listener_pool_keys_are_live(write: Write) -> None:
    opts = {"command": "/bin/cat", "events": "PROCESS_STATE"}
    new = {
        **opts,
        "events": "PROCESS_STATE,TICK_5",
        "buffer_size": "50",
        "result_handler": "corral.runtime.listeners:default_handler",
    }
    plan = _plan(write, _text("eventlistener:l", opts), _text("eventlistener:l", new))
    group = plan.changed[0]
    assert [(c.key, c.live) for c in group.changes] == [
        ("events", True),
        ("buffer_size", True),
        ("result_handler", True),
    ]
    assert group.processes == () and group.unchanged == ("l",) and group.live
    assert value_text("events", group.changes[0].new) == "PROCESS_STATE,TICK_5"


def test_a_program_that_becomes_a_listener_is_a_new_section(write: Write) -> None:
    plan = _plan(
        write,
        _text("program:x", {"command": "/bin/cat"}),
        _text("eventlistener:x", {"command": "/bin/cat", "events": "TICK_5"}),
    )
    group = plan.changed[0]
    assert (SECTION_KEY, False) in [(c.key, c.live) for c in group.changes]
    (proc,) = group.processes
    assert proc.keys[0] == SECTION_KEY and not proc.live  # and its priority default differs
    assert group.restarts == ("x",)


# --- the whole plan ------------------------------------------------------------------------


def test_plan_of_identical_reads_is_empty(write: Write) -> None:
    text = _text("program:a", {"command": "a"}) + _text("program:b", {"command": "b"})
    plan = _plan(write, text, text)
    assert not plan and plan == UpdatePlan(unchanged=("a", "b"))
    assert plan.reload_plan == ReloadPlan()


def test_plan_added_changed_removed_unchanged(write: Write) -> None:
    plan = _plan(
        write,
        _text("program:same", {"command": "s"})
        + _text("program:gone", {"command": "g"})
        + _text("program:z", {"command": "z"}),
        _text("program:same", {"command": "s"})
        + _text("program:new", {"command": "n"})
        + _text("program:z", {"command": "z", "startsecs": "0"}),
    )
    assert plan.reload_plan == ReloadPlan(added=("new",), changed=("z",), removed=("gone",))
    assert plan.unchanged == ("same",) and plan.group("same") is None


def test_value_text_renders_config_text() -> None:
    assert value_text("autostart", False) == "false"
    assert value_text("exitcodes", (0, 2)) == "0,2"
    assert value_text("umask", 0o22) == "022"
    assert value_text("environment", (("A", "1"), ("B", "2"))) == "A=1,B=2"
    assert value_text("directory", None) == "(unset)"
    assert value_text("socket_owner", (0, 0)) == "0:0"
    assert value_text("stopsignal", 40) == "signal 40"
