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
        " 'corral.api', 'corral.logs', 'h11', 'aiohttp', 'asyncio', 'corral.config.build'))];"
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


def test_reading_the_ctl_section_loads_no_dataclasses_nor_the_daemons_model(
    write: Write,
) -> None:
    # corralctl's start-up: the section is read through ini.py and ctlconf.py alone.
    path = write("[supervisorctl]\nserverurl=unix://%(here)s/s.sock\n")
    code = (
        "import sys; from corral.config.ctlconf import load_ctl; import corral.config;"
        f"load_ctl({path!r});"
        "bad = [m for m in sys.modules if m.startswith(('dataclasses', 'typing', 'inspect',"
        " 'corral.config.model', 'corral.config.options', 'corral.config.convert'))];"
        "print(bad)"
    )
    src = str(Path(__file__).parents[3] / "src")
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src},
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_ctl_options_are_declared_once() -> None:
    from corral.config.ctlconf import CTL_OPTIONS
    from corral.config.options import options_for

    rows = options_for("supervisorctl")
    assert [(o.name, o.default, o.doc, o.scope) for o in rows.values()] == list(CTL_OPTIONS)


def test_ctl_config_is_a_value() -> None:
    from corral.config import CtlConfig
    from corral.config.model import CtlConfig as ModelCtlConfig

    a = CtlConfig("unix:///s", None, None, "p", None)
    assert ModelCtlConfig is CtlConfig
    assert (
        a == CtlConfig("unix:///s", None, None, "p", None) != CtlConfig("x", None, None, "p", None)
    )
    assert hash(a) == hash(CtlConfig("unix:///s", None, None, "p", None))
    with pytest.raises(AttributeError):
        a.prompt = "other"  # type: ignore[misc]


def test_reload_plan_is_a_value() -> None:
    plan = ReloadPlan(added=("a",))
    assert plan == ReloadPlan(("a",)) and plan != ReloadPlan(removed=("a",))
    assert bool(plan) and not ReloadPlan()
    assert repr(plan) == "ReloadPlan(added=('a',), changed=(), removed=())"
