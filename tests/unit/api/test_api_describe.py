"""ProcessInfo and ConfigInfo structs: key order, descriptions, 'none'/'auto' spellings."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from corral.api.describe import all_config_info, description, exit_status, process_info, uptime
from corral.config.model import AUTO
from corral.wire.records import MAXINT
from corral.wire.states import ProcessState
from tests.unit.api.standin import Process, channel, gconfig, pconfig

GOLDEN = json.loads((Path(__file__).parents[2] / "compat" / "rpc" / "golden.json").read_text())[
    "cases"
]


def test_running_shows_pid_and_uptime_as_timedelta() -> None:
    start = 1_000_000
    now = start + 86400 + 2 * 3600 + 3 * 60 + 4
    text = description(ProcessState.RUNNING, start, 0, now, 77, "", "app")
    assert text == "pid 77, uptime 1 day, 2:03:04"
    # Clock set back: uptime never negative.
    assert (
        description(ProcessState.RUNNING, start, 0, start - 5, 7, "", "a")
        == "pid 7, uptime 0:00:00"
    )


@given(st.integers(min_value=0, max_value=10**10))
def test_uptime_reads_as_a_timedelta(seconds: int) -> None:
    assert uptime(seconds) == str(timedelta(seconds=seconds))


def test_stopped_shows_local_stop_time_or_not_started() -> None:
    stop = 1_700_000_000
    want = time.strftime("%b %d %I:%M %p", time.localtime(stop))
    assert description(ProcessState.EXITED, stop - 10, stop, stop, 0, "", "a") == want
    assert description(ProcessState.STOPPED, 0, 0, stop, 0, "", "a") == "Not started"


def test_backoff_and_fatal_show_the_spawn_error_or_a_hint() -> None:
    assert description(ProcessState.FATAL, 1, 2, 3, 0, "Exited too quickly", "a") == (
        "Exited too quickly"
    )
    assert description(ProcessState.BACKOFF, 1, 2, 3, 0, "", "web") == (
        'unknown error (try "tail web")'
    )
    assert description(ProcessState.STARTING, 1, 2, 3, 9, "", "a") == ""
    assert description(ProcessState.STOPPING, 1, 2, 3, 9, "", "a") == ""


def test_process_info_has_4_3_keys_in_order_and_capped_times() -> None:
    proc = Process(
        pconfig("g1"),
        "grp",
        state=ProcessState.STOPPED,
        laststart=2.0**40,
        stdout_logfile="/l/out",
        stderr_logfile=None,
    )
    info = process_info(proc, now=50.0)
    assert list(info) == list(GOLDEN["getProcessInfo grp:g1"]["result"])
    assert info["start"] == MAXINT and info["now"] == 50
    assert info["logfile"] == info["stdout_logfile"] == "/l/out"
    assert info["stderr_logfile"] == "" and info["statename"] == "STOPPED"


def test_config_info_spells_none_and_auto_and_sorts_by_name() -> None:
    golden = GOLDEN["getAllConfigInfo"]["result"]
    nolog = pconfig(
        "nolog",
        stdout=channel(None),
        stderr=channel(AUTO),
        directory=None,
        serverurl=AUTO,
        stopsignal=1,
    )
    rows = [
        (gconfig("z", nolog), nolog, False),
        (gconfig("a", pconfig("app")), pconfig("app"), True),
    ]
    infos = all_config_info(rows)
    assert [i["name"] for i in infos] == ["app", "nolog"]
    assert list(infos[0]) == list(golden[0])
    nl = infos[1]
    assert (nl["stdout_logfile"], nl["stderr_logfile"]) == ("none", "auto")
    assert (nl["directory"], nl["uid"], nl["serverurl"]) == ("none", "none", "none")
    assert nl["stopsignal"] == 1 and nl["inuse"] is False and nl["exitcodes"] == [0]


def test_config_info_shows_auto_logs_resolved_once_the_process_is_live() -> None:
    app = pconfig("app", stdout=channel(AUTO), stderr=channel(AUTO), serverurl="unix:///s")
    live = Process(app, "app", stdout_logfile="/logs/app-stdout---x-1.log", stderr_logfile=None)
    rows = [(gconfig("app", app), app, True)]
    (info,) = all_config_info(rows, lambda group, name: live)
    assert info["stdout_logfile"] == "/logs/app-stdout---x-1.log"
    assert info["stderr_logfile"] == "none"
    assert info["serverurl"] == "unix:///s"


def test_exit_status_is_kept_only_for_a_run_that_ended() -> None:
    # golden 'getProcessInfo killed': -1 after the SIGKILL; 'getAllProcessInfo after reread':
    # 0 once the same process runs again; 'getProcessInfo fatal': 0 after /bin/false (1)
    # exited too quickly.
    assert exit_status(ProcessState.STOPPED, -1) == -1
    assert exit_status(ProcessState.EXITED, 3) == 3
    for state in (ProcessState.STARTING, ProcessState.RUNNING, ProcessState.STOPPING):
        assert exit_status(state, -1) == 0
    assert exit_status(ProcessState.BACKOFF, 1) == 0
    assert exit_status(ProcessState.FATAL, 1) == 0
    assert exit_status(ProcessState.STOPPED, None) == 0
    assert GOLDEN["getProcessInfo fatal"]["result"]["exitstatus"] == 0
    assert GOLDEN["getProcessInfo killed"]["result"]["exitstatus"] == -1
