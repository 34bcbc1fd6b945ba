"""corralctl's pure parts: text rendering, exit codes, argv parsing, help, imports."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from corral.ctl import exitcodes, render  # noqa: E402
from corral.ctl.commands.base import Options  # noqa: E402
from corral.ctl.controller import Controller, error_line  # noqa: E402
from corral.ctl.main import UsageError, parse_argv  # noqa: E402
from corral.wire.faults import FaultCode  # noqa: E402


def info(group: str, name: str, state: str = "RUNNING", desc: str = "pid 1, uptime 0:00:01"):
    return {"group": group, "name": name, "statename": state, "description": desc}


def test_status_width_is_at_least_33() -> None:
    lines = render.status_lines([info("app", "app"), info("grp", "g2", "STOPPED", "Not started")])
    assert lines == [
        "app                              RUNNING   pid 1, uptime 0:00:01",
        "grp:g2                           STOPPED   Not started",
    ]


def test_status_width_grows_with_the_longest_name_and_keeps_trailing_spaces() -> None:
    long = "x" * 40
    lines = render.status_lines([info(long, long, "STARTING", ""), info("a", "a")])
    assert lines[0] == long + "   " + "STARTING  "
    assert lines[1].startswith("a" + " " * 42 + "RUNNING")


def test_result_lines() -> None:
    ok = {"group": "g", "name": "p", "status": FaultCode.SUCCESS, "description": "OK"}
    assert render.start_result(ok) == "g:p: started"
    assert render.stop_result(ok) == "g:p: stopped"
    spawn = {**ok, "status": FaultCode.SPAWN_ERROR}
    assert render.start_result(spawn) == "g:p: ERROR (spawn error)"
    failed = {**ok, "status": FaultCode.FAILED, "description": "FAILED: p is weird"}
    assert render.stop_result(failed) == "FAILED: p is weird"
    with pytest.raises(render.UnknownResult, match="Unknown result code 30 for g:p"):
        render.start_result(failed)


def test_fault_result_of_a_group_spec_names_none_like_upstream() -> None:
    result = render.fault_result("grp:*", FaultCode.BAD_NAME, "BAD_NAME: grp:*")
    assert render.clear_result(result) == "grp:None: ERROR (no such process)"
    assert render.clear_result(render.fault_result("x", 10, "")) == "x: ERROR (no such process)"


def test_avail_and_changes() -> None:
    conf = {"group": "grp", "name": "g2", "inuse": True, "autostart": False,
            "group_prio": 999, "process_prio": 5}  # fmt: skip
    assert render.avail_lines([conf]) == [
        "grp:g2                           in use    manual    999:5"
    ]
    assert render.change_lines([], [], []) == ["No config updates to processes"]
    assert render.change_lines(["b"], ["a"], ["c"]) == [
        "a: changed",
        "b: available",
        "c: disappeared",
    ]


def test_exit_codes_from_faults() -> None:
    assert exitcodes.from_fault(FaultCode.SUCCESS) is None
    assert exitcodes.from_fault(FaultCode.ALREADY_STARTED, FaultCode.ALREADY_STARTED) is None
    assert exitcodes.from_fault(FaultCode.NOT_RUNNING) == 7
    assert exitcodes.from_fault(FaultCode.BAD_NAME) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "option --bogus not recognized"),
        (["-s", "foo"], "invalid value for -s 'foo': value 'foo' is not a URL"),
        (["-c", "a", "-c", "b"], "conflicting command line option '-c'"),
    ],
)
def test_argv_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_argv(argv)


def test_argv_stops_at_the_command() -> None:
    inv = parse_argv(["-s", "unix:///x", "tail", "-f", "app"])
    assert inv.flags == {"s": "unix:///x"}
    assert inv.args == ["tail", "-f", "app"]


def _controller() -> tuple[Controller, io.StringIO]:
    out = io.StringIO()
    return Controller(Options(serverurl="unix:///nonexistent"), stdout=out), out


def test_help_index_lists_commands_in_columns() -> None:
    ctl, out = _controller()
    ctl.onecmd("help")
    lines = out.getvalue().split("\n")
    assert lines[:3] == ["", "default commands (type help <topic>):", "=" * 37]
    assert lines[3].split() == ["add", "exit", "open", "reload", "restart", "start", "tail"]
    assert ctl.exitstatus == 0


def test_unknown_command_and_empty_line() -> None:
    ctl, out = _controller()
    ctl.onecmd("")
    assert out.getvalue() == ""
    ctl.onecmd("frobnicate now")
    assert out.getvalue() == "*** Unknown syntax: frobnicate now\n"
    assert ctl.exitstatus == 1


def test_error_line_names_the_innermost_frame() -> None:
    def inner() -> None:
        raise ValueError("boom")

    try:
        inner()
    except ValueError as exc:
        line = error_line(exc, exc.__traceback__)
    assert line.startswith("error: <class 'ValueError'>, boom: file: ")
    assert line.endswith(f"line: {inner.__code__.co_firstlineno + 1}")


def test_ctl_imports_nothing_heavy() -> None:
    code = (
        "import sys, corral.ctl.main, corral.ctl.controller;"
        "bad = [m for m in sys.modules if m.startswith(('h11', 'aiohttp', 'asyncio', 'psutil',"
        " 'corral.runtime', 'corral.api', 'corral.server', 'corral.daemon', 'corral.logs'))];"
        "print(bad)"
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "[]", out.stderr
