"""supervisorctl vs corralctl on avail, reread, update, add, remove, help, version, maintail.

Normalised: uptimes only. Each test puts the include dir back the way it found it.
"""

from __future__ import annotations

import textwrap
import xmlrpc.client
from collections.abc import Iterator

import pytest
from ctlpeer import Daemon, assert_same, both

pytestmark = pytest.mark.compat

NEW = textwrap.dedent(
    """\
    [program:newprog]
    command=sleep {n}
    startsecs=0
    autostart=false
    """
)


def ctl(sd: Daemon, *words: str) -> list[str]:
    return ["-c", str(sd.conf), *words]


@pytest.fixture
def include(sd: Daemon) -> Iterator[object]:
    path = sd.dir / "inc" / "new.conf"
    yield path
    path.unlink(missing_ok=True)
    drop_group(sd, "newprog")
    sd.rpc().reloadConfig()


def drop_group(sd: Daemon, name: str) -> None:
    srv = sd.rpc()
    try:
        srv.stopProcessGroup(name)
        srv.removeProcessGroup(name)
    except xmlrpc.client.Fault:
        pass


def activate(sd: Daemon, name: str) -> None:
    srv = sd.rpc()
    srv.reloadConfig()
    try:
        srv.addProcessGroup(name)
    except xmlrpc.client.Fault:
        pass


@pytest.mark.parametrize(
    "words",
    [
        ["avail"],
        ["reread"],
        ["version"],
        ["help"],
        ["help", "bogus"],
        ["help", "EOF"],
        ["bogus", "cmd"],
        ["STATUS"],
        ["update", "bogus"],
        ["add"],
        ["add", "nosuch"],
        ["add", "app"],  # already active: exit 0
        ["remove"],
        ["remove", "app"],  # still running
        ["remove", "nosuch"],
        ["open", "ftp://x"],
        ["maintail", "-x"],
        ["maintail", "a"],
        ["maintail", "-30"],
        ["quit"],
        ["exit"],
        ["EOF"],
        [" status ", " app"],
    ],
    ids=lambda w: " ".join(w),
)
def test_simple(sd: Daemon, words: list[str]) -> None:
    assert_same(*both(ctl(sd, *words)))


@pytest.mark.parametrize("command", ["avail", "reread", "version", "reload", "shutdown"])
def test_no_arguments_please(sd: Daemon, command: str) -> None:
    real, ours = both(ctl(sd, command, "x"))
    assert real.out.splitlines()[0] == f"Error: {command} accepts no arguments"
    assert ours.out.splitlines()[0] == real.out.splitlines()[0]
    assert ours.rc == real.rc == 1


def test_no_semicolon_splitting(sd: Daemon) -> None:
    real, ours = both(ctl(sd, "version;pid"))
    assert real.out.splitlines()[0] == "Error: version accepts no arguments"
    assert ours.out.splitlines()[0] == real.out.splitlines()[0]
    assert ours.rc == real.rc


def test_help_index_layout(sd: Daemon) -> None:
    real, ours = both(ctl(sd, "help"))
    assert real.out.splitlines()[1] == "default commands (type help <topic>):"
    assert_same(real, ours)


def test_reread_reports_a_new_file(sd: Daemon, include: object) -> None:
    (sd.dir / "inc" / "new.conf").write_text(NEW.format(n=1000))
    real, ours = both(ctl(sd, "reread"))
    assert real.out == "newprog: available\n"
    assert_same(real, ours)
    real, ours = both(ctl(sd, "avail"))
    assert "newprog                          avail     manual    999:999" in real.out
    assert_same(real, ours)


def test_update_adds(sd: Daemon, include: object) -> None:
    (sd.dir / "inc" / "new.conf").write_text(NEW.format(n=1000))
    real, ours = both(ctl(sd, "update"), setup=lambda: drop_group(sd, "newprog"))
    assert real.out == "newprog: added process group\n"
    assert_same(real, ours)
    real, ours = both(ctl(sd, "update", "newprog"), setup=lambda: drop_group(sd, "newprog"))
    assert_same(real, ours)


def test_add_and_remove(sd: Daemon, include: object) -> None:
    (sd.dir / "inc" / "new.conf").write_text(NEW.format(n=1000))

    def setup() -> None:
        drop_group(sd, "newprog")
        sd.rpc().reloadConfig()

    real, ours = both(ctl(sd, "add", "newprog"), setup=setup)
    assert real.out == "newprog: added process group\n"
    assert_same(real, ours)

    def setup_stopped() -> None:
        activate(sd, "newprog")
        sd.rpc().stopProcessGroup("newprog")

    real, ours = both(ctl(sd, "remove", "newprog"), setup=setup_stopped)
    assert real.out == "newprog: removed process group\n"
    assert_same(real, ours)


def test_update_changes(sd: Daemon, include: object) -> None:
    path = sd.dir / "inc" / "new.conf"

    def setup() -> None:
        drop_group(sd, "newprog")
        path.write_text(NEW.format(n=1000))
        activate(sd, "newprog")
        path.write_text(NEW.format(n=1001))

    real, ours = both(ctl(sd, "update", "all"), setup=setup)
    assert real.out == "newprog: stopped\nnewprog: updated process group\n"
    assert_same(real, ours)


def test_update_removes(sd: Daemon, include: object) -> None:
    path = sd.dir / "inc" / "new.conf"

    def setup() -> None:
        path.write_text(NEW.format(n=1000))
        activate(sd, "newprog")
        path.unlink()

    real, ours = both(ctl(sd, "reread"), setup=setup)
    assert real.out == "newprog: disappeared\n"
    assert_same(real, ours)
    real, ours = both(ctl(sd, "update"), setup=setup)
    assert real.out == "newprog: stopped\nnewprog: removed process group\n"
    assert_same(real, ours)


def test_reread_cant_reread(sd: Daemon) -> None:
    bad = sd.dir / "inc" / "bad.conf"
    bad.write_text("[program:broken]\n")  # no command=
    try:
        real, ours = both(ctl(sd, "reread"))
        assert real.out.startswith("ERROR: CANT_REREAD: ")
        assert_same(real, ours)
    finally:
        bad.unlink()
