"""diff() between two reads, and the [supervisorctl]-only reader used by corralctl."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from corral.config import ConfigError, ReloadPlan, diff, load, load_ctl

ENV = {"HOME": "/home/tester", "PATH": "/usr/bin:/bin"}
Write = Callable[..., str]

BEFORE = """
[supervisord]
[program:same]
command=s
[program:changed]
command=old
[program:gone]
command=g
[group:grp]
programs=member
[program:member]
command=m
"""


def test_diff_added_changed_removed(write: Write) -> None:
    old = load(write(BEFORE, name="old.conf"), environ=ENV)
    new_text = (
        BEFORE.replace("command=old", "command=new")
        .replace("[program:gone]\ncommand=g\n", "[program:new]\ncommand=n\n")
        .replace("command=m", "command=m2")
    )
    new = load(write(new_text, name="new.conf"), environ=ENV)
    assert diff(old, new) == ReloadPlan(
        added=("new",), changed=("changed", "grp"), removed=("gone",)
    )


def test_diff_of_identical_reads_is_empty(write: Write) -> None:
    path = write(BEFORE)
    plan = diff(load(path, environ=ENV), load(path, environ=ENV))
    assert plan == ReloadPlan() and not plan  # AUTO logs compare equal


def test_load_ctl_defaults() -> None:
    ctl = load_ctl(None)
    assert (ctl.serverurl, ctl.prompt, ctl.username, ctl.password, ctl.history_file) == (
        "http://localhost:9001",
        "supervisor",
        None,
        None,
        None,
    )


def test_load_ctl_section(write: Write, tmp_path: Path) -> None:
    path = write("""
        [supervisorctl]
        serverurl = unix://%(here)s/run//s.sock ; comment
        username = %(ENV_HOME)s
        password = p#w
        prompt = corral
        history_file = ~/.hist
        """)
    ctl = load_ctl(path, environ=ENV)
    assert ctl.serverurl == f"unix://{tmp_path}/run/s.sock"
    assert (ctl.username, ctl.password, ctl.prompt) == ("/home/tester", "p#w", "corral")
    assert ctl.history_file is not None and ctl.history_file.endswith("/.hist")
    assert "~" not in ctl.history_file


def test_load_ctl_requires_section_and_ignores_includes(write: Write) -> None:
    write("[supervisorctl]\n", name="inc.conf")
    path = write("[supervisord]\n[include]\nfiles=inc.conf\n")
    with pytest.raises(ConfigError) as info:
        load_ctl(path)
    assert info.value.message == ".ini file does not include supervisorctl section"
    assert info.value.file == path


def test_load_ctl_imports_nothing_heavy() -> None:
    code = (
        "import sys, corral.config.ctlconf as c; c.load_ctl(None);"
        "bad = [m for m in sys.modules if m.startswith(('corral.runtime', 'corral.server',"
        " 'corral.api', 'corral.logs', 'aiohttp', 'asyncio', 'corral.config.build'))];"
        "print(bad)"
    )
    src = str(Path(__file__).parents[3] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src},
        check=True,
    )
    assert out.stdout.strip() == "[]"
