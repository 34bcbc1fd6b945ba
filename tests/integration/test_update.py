"""`update` per key against a real corrald (issue 11): live keys applied without a restart,
only the affected processes restarted, added or removed, operator stops kept; `--plan` is
what update then does; scale; rolling restarts; several names at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import Daemon, env_for_children, wait_until

FIXTURES = Path(__file__).parent.parent / "fixtures"
PAIRS = FIXTURES / "update"
READY_ACTOR = FIXTURES / "programs" / "ready_actor.py"


def ctl(d: Daemon, *args: str) -> tuple[str, int]:
    r = subprocess.run(
        [sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf), *args],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=60,
    )
    return r.stdout + r.stderr, r.returncode


def infos(d: Daemon) -> dict[str, dict[str, Any]]:
    return {
        (i["name"] if i["group"] == i["name"] else f"{i['group']}:{i['name']}"): i
        for i in d.rpc.supervisor.getAllProcessInfo()
    }


def pids(d: Daemon) -> dict[str, int]:
    return {name: i["pid"] for name, i in infos(d).items()}


def all_running(d: Daemon, names: list[str] | None = None) -> dict[str, int]:
    def check() -> dict[str, int] | None:
        now = infos(d)
        wanted = names if names is not None else list(now)
        if all(n in now and now[n]["statename"] == "RUNNING" for n in wanted):
            return {n: now[n]["pid"] for n in wanted}
        return None

    result: dict[str, int] = wait_until(check, timeout=20, what=f"{names or 'all'} RUNNING")
    return result


def edit(d: Daemon, old: str, new: str) -> None:
    text = d.conf.read_text()
    assert old in text, old
    d.conf.write_text(text.replace(old, new))


WEB = """\
[program:web]
command=/bin/sleep 1000
process_name=%(program_name)s_%(process_num)02d
numprocs=2
startsecs=0
autorestart=false
stdout_logfile={tmp}/%(program_name)s_%(process_num)02d.log

[program:worker]
command=/bin/sleep 1001
startsecs=0
"""


def test_live_keys_are_applied_without_a_restart(daemon: Callable[..., Daemon]) -> None:
    d = daemon(WEB.format(tmp="%(here)s"))
    before = all_running(d)
    log = Path(d.info("web:web_00")["stdout_logfile"])
    inode, start = log.stat().st_ino, d.info("web:web_00")["start"]
    edit(d, "autorestart=false\n", "autorestart=true\nstopwaitsecs=3\n")
    out, code = ctl(d, "update")
    assert (out, code) == (
        "web: applied autorestart, stopwaitsecs (no restart)\nweb: updated process group\n",
        0,
    )
    assert pids(d) == before
    assert log.stat().st_ino == inode and d.info("web:web_00")["start"] == start
    # the running process took autorestart=true: killed, it comes back (false would not)
    os.kill(before["web:web_00"], 9)
    wait_until(
        lambda: (
            d.info("web:web_00")["pid"] not in (0, before["web:web_00"])
            and d.info("web:web_00")["statename"] == "RUNNING"
        ),
        what="web_00 restarted by autorestart",
    )
    assert ctl(d, "update", "--plan") == (
        "web     unchanged\nworker  unchanged\n",
        0,
    )


def test_a_restart_key_restarts_only_its_process(daemon: Callable[..., Daemon]) -> None:
    d = daemon(
        """\
        [group:g]
        programs=a,b

        [program:a]
        command=/bin/sleep 1000
        startsecs=0

        [program:b]
        command=/bin/sleep 1001
        startsecs=0
        """
    )
    before = all_running(d)
    edit(d, "command=/bin/sleep 1000", "command=/bin/sleep 1002")
    plan, _ = ctl(d, "update", "--plan")
    assert plan == "g:a  restart   command changed\ng:b  unchanged\n"
    assert ctl(d, "update") == ("g:a: restarted (command changed)\ng: updated process group\n", 0)
    after = all_running(d)
    assert after["g:b"] == before["g:b"] and after["g:a"] != before["g:a"]
    assert "sleep 1002" in Path(f"/proc/{after['g:a']}/cmdline").read_text().replace("\0", " ")


def test_numprocs_up_and_down_touches_only_the_difference(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon(WEB.format(tmp="%(here)s"))
    two = all_running(d)
    edit(d, "numprocs=2", "numprocs=5")
    out, code = ctl(d, "update", "web")
    assert code == 0
    assert out.splitlines() == [
        "web:web_02: started (numprocs 2 -> 5)",
        "web:web_03: started (numprocs 2 -> 5)",
        "web:web_04: started (numprocs 2 -> 5)",
        "web: updated process group",
    ]
    five = all_running(d)
    assert {n: five[n] for n in two} == two  # the first two kept their pids
    edit(d, "numprocs=5", "numprocs=1")
    out, code = ctl(d, "update")
    assert code == 0 and "web:web_04: stopped and removed (numprocs 5 -> 1)" in out
    one = all_running(d)
    assert sorted(one) == ["web:web_00", "worker"]
    assert one["web:web_00"] == two["web:web_00"] and one["worker"] == two["worker"]


def test_group_membership_adds_and_removes_only_that_program(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon(
        """\
        [group:g]
        programs=a,b

        [program:a]
        command=/bin/sleep 1000
        startsecs=0

        [program:b]
        command=/bin/sleep 1001
        startsecs=0

        [program:c]
        command=/bin/sleep 1002
        startsecs=0
        """
    )
    before = all_running(d)
    edit(d, "programs=a,b", "programs=a,b,c")
    out, code = ctl(d, "update", "g")
    assert (out, code) == ("g:c: started (added to the group)\ng: updated process group\n", 0)
    after = all_running(d)
    assert after["g:a"] == before["g:a"] and after["g:b"] == before["g:b"]
    edit(d, "programs=a,b,c", "programs=a")
    out, code = ctl(d, "update", "g")
    assert code == 0
    assert "g:b: stopped and removed (left the group)" in out
    assert "g:c: stopped and removed (left the group)" in out
    wait_until(lambda: "g:b" not in infos(d), what="g:b gone")
    assert pids(d)["g:a"] == before["g:a"]


def test_an_operator_stop_holds_through_update_and_reload(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon(WEB.format(tmp="%(here)s"))
    before = all_running(d)
    assert ctl(d, "stop", "worker")[0] == "worker: stopped\n"
    edit(d, "command=/bin/sleep 1001", "command=/bin/sleep 1003")
    plan, _ = ctl(d, "update", "--plan", "worker")
    assert plan == (
        "worker  apply     command /bin/sleep 1001 -> /bin/sleep 1003 "
        "(stopped by hand: stays stopped)\n"
    )
    assert ctl(d, "update") == (
        "worker: updated command (not started)\nworker: updated process group\n",
        0,
    )
    assert d.info("worker")["statename"] == "STOPPED"
    assert pids(d)["web:web_00"] == before["web:web_00"]  # running was left running
    assert ctl(d, "reload")[1] == 0
    wait_until(lambda: d.log().count("success: web_01") >= 2, what="the reload's start-up")
    now = all_running(d, ["web:web_00", "web:web_01"])
    assert now["web:web_00"] != before["web:web_00"]  # the reload restarted them...
    assert d.info("worker")["statename"] == "STOPPED"  # ...but not what the operator stopped
    assert ctl(d, "start", "worker")[0] == "worker: started\n"
    assert "sleep 1003" in Path(f"/proc/{d.info('worker')['pid']}/cmdline").read_text().replace(
        "\0", " "
    )


def _pair_names() -> list[str]:
    return sorted(p.name for p in PAIRS.iterdir() if p.is_dir())


@pytest.mark.parametrize("pair", _pair_names())
def test_the_plan_is_what_update_does(
    daemon: Callable[..., Daemon], pair: str, tmp_path: Path
) -> None:
    """Fixture pairs (before.conf -> after.conf): the plan's steps are update's steps, and
    each step's effect is seen in the pids."""
    where = {"python": sys.executable, "programs": str(FIXTURES / "programs"), "tmp": tmp_path}

    def text(name: str) -> str:
        return (PAIRS / pair / name).read_text().format(**where)

    d = daemon(text("before.conf"))
    stop = PAIRS / pair / "stop"
    for name in stop.read_text().split() if stop.exists() else []:
        assert ctl(d, "stop", name)[1] == 0
    settled = ("RUNNING", "STOPPED")
    wait_until(lambda: all(i["statename"] in settled for i in infos(d).values()), what="settled")
    before = pids(d)
    conf = d.conf.read_text()
    d.conf.write_text(conf[: conf.index(text("before.conf"))] + text("after.conf"))
    plan_out, _ = ctl(d, "update", "--plan", "--json")
    plan = json.loads(plan_out)
    assert d.rpc.corral.plan([]) == plan
    assert pids(d) == before  # the plan changed nothing
    done = d.rpc.corral.update([])
    assert [{k: v for k, v in s.items() if k != "error"} for s in done] == plan
    assert [s["error"] for s in done] == [""] * len(done)
    after = wait_until(
        lambda: (now := infos(d)) and all(i["statename"] in settled for i in now.values()) and now,
        what="update settled",
    )
    for step in plan:
        name, action = step["name"], step["action"]
        if not step["process"]:
            members = [n for n in after if n == name or n.startswith(f"{name}:")]
            assert bool(members) == (action != "remove"), step
            if action == "unchanged":
                assert all(after[n]["pid"] == before[n] for n in members), step
        elif action == "stop":
            assert name not in after, step
        elif action in ("restart", "start"):
            assert after[name]["statename"] == "RUNNING", step
            assert after[name]["pid"] != before.get(name), step
        else:
            assert after[name]["pid"] == before[name], step
    assert {s["action"] for s in d.rpc.corral.plan([])} == {"unchanged"}


def test_scale_starts_and_stops_only_the_difference(daemon: Callable[..., Daemon]) -> None:
    d = daemon(WEB.format(tmp="%(here)s"))
    two = all_running(d)
    assert ctl(d, "scale", "web", "4") == (
        "web:web_02: started\nweb:web_03: started\nweb: 4 processes\n",
        0,
    )
    four = all_running(d)
    assert {n: four[n] for n in two} == two
    out, _ = ctl(d, "status")
    assert "web:web_03" in out
    plan, _ = ctl(d, "update", "--plan", "web")
    assert "web:web_03  stop      numprocs 4 -> 2 (running: will be stopped)" in plan
    assert ctl(d, "scale", "web", "1") == (
        "web:web_01: stopped and removed\nweb:web_02: stopped and removed\n"
        "web:web_03: stopped and removed\nweb: 1 process\n",
        0,
    )
    assert all_running(d) == {"web:web_00": two["web:web_00"], "worker": two["worker"]}
    assert ctl(d, "scale", "worker", "2")[1] != 0  # no %(process_num) in its process_name
    assert ctl(d, "scale", "nosuch", "2") == ("ERROR: no such program: nosuch\n", 1)
    assert ctl(d, "update")[1] == 0  # back to the config's numprocs
    assert sorted(all_running(d)) == ["web:web_00", "web:web_01", "worker"]


def test_rolling_restart_keeps_n_minus_one_running(daemon: Callable[..., Daemon]) -> None:
    d = daemon(
        f"""\
        [program:api]
        command={sys.executable} {READY_ACTOR} --delay 0.4 --notify
        process_name=%(program_name)s_%(process_num)d
        numprocs=3
        ready_check=notify
        """
    )
    before = all_running(d)
    lowest = [3]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            running = sum(i["statename"] == "RUNNING" for i in infos(d).values())
            lowest[0] = min(lowest[0], running)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        out, code = ctl(d, "restart", "--rolling", "api")
    finally:
        done.set()
        sampler.join()
    assert code == 0
    assert out.splitlines() == [
        "api:api_0: stopped",
        "api:api_0: started",
        "api:api_1: stopped",
        "api:api_1: started",
        "api:api_2: stopped",
        "api:api_2: started",
    ]
    assert lowest[0] == 2  # one down at a time, and only until its successor was ready
    after = all_running(d)
    assert all(after[n] != before[n] for n in before)


def test_a_failed_rolling_step_stops_the_rollout(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon(
        f"""\
        [program:api]
        command=/bin/sh -c 'test -e {tmp_path}/fail_%(process_num)d && exit 3; exec sleep 1000'
        process_name=%(program_name)s_%(process_num)d
        numprocs=3
        startsecs=1
        startretries=0
        """
    )
    before = all_running(d)
    (tmp_path / "fail_1").touch()
    out, code = ctl(d, "restart", "--rolling", "api")
    assert code != 0
    lines = out.splitlines()
    assert lines[:3] == ["api:api_0: stopped", "api:api_0: started", "api:api_1: stopped"]
    assert lines[3].startswith("api:api_1: ERROR")
    assert lines[4] == (
        "rolling restart stopped: 2 of 3 not restarted (the others run as they did)"
    )
    now = infos(d)
    assert now["api:api_0"]["pid"] != before["api:api_0"]
    assert now["api:api_1"]["statename"] == "FATAL"
    assert now["api:api_2"]["pid"] == before["api:api_2"]  # untouched


SLOW = """\
[program:{name}]
command=/bin/sh -c 'trap "sleep 3; exit 0" TERM; while :; do sleep 0.2; done'
startsecs=0
stopwaitsecs=20
"""


def test_stop_of_several_names_acts_on_all_at_once(daemon: Callable[..., Daemon]) -> None:
    d = daemon("".join(SLOW.format(name=n) + "\n" for n in ("a", "b", "c")))
    all_running(d)
    began = time.monotonic()
    out, code = ctl(d, "stop", "a", "b", "c")
    took = time.monotonic() - began
    assert (out, code) == ("a: stopped\nb: stopped\nc: stopped\n", 0)
    assert took < 6.0, f"{took:.1f}s: one after the other would be about 9 s"
    assert all(i["statename"] == "STOPPED" for i in infos(d).values())


def test_supervisorctl_4_3_update_against_corrald_is_4_3s(
    daemon: Callable[..., Daemon],
) -> None:
    import shutil

    sctl = shutil.which("supervisorctl")
    if sctl is None:
        pytest.fail("supervisor 4.3 (a test dependency) is not installed")
    d = daemon(WEB.format(tmp="%(here)s"))
    before = all_running(d)
    edit(d, "autorestart=false\n", "autorestart=true\n")
    r = subprocess.run(
        [sctl, "-c", str(d.conf), "update"], capture_output=True, text=True, timeout=60
    )
    # 4.3's update: the changed group stopped, removed and added again
    assert (r.stdout, r.returncode) == ("web: stopped\nweb: updated process group\n", 0)
    after = all_running(d)
    assert after["worker"] == before["worker"]
    assert after["web:web_00"] != before["web:web_00"]


def test_output_keys_change_on_the_running_pipes(tmp_path: Path) -> None:
    """console and log rotation limits, applied live: the same process's next lines go to
    the console, and its open log file rotates by the new limit."""
    d = Daemon(
        tmp_path,
        f"""\
        [program:ticker]
        command=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done'
        startsecs=0
        console=false
        stdout_logfile={tmp_path}/ticker.log
        stdout_logfile_maxbytes=0
        """,
        supervisord="console=true",
    )
    console = tmp_path / "console.out"
    with open(console, "wb") as f:
        d.start(stdout=f)
    try:
        pid = d.wait_state("ticker", "RUNNING")["pid"]
        log = tmp_path / "ticker.log"
        wait_until(lambda: b"tick 3\n" in log.read_bytes(), what="ticks in the log file")
        assert b"| tick" not in console.read_bytes()
        edit(d, "console=false\n", "console=true\n")
        assert ctl(d, "update") == (
            "ticker: applied console (no restart)\nticker: updated process group\n",
            0,
        )
        wait_until(lambda: b"ticker  | tick" in console.read_bytes(), what="ticks on the console")
        edit(
            d,
            "stdout_logfile_maxbytes=0\n",
            "stdout_logfile_maxbytes=300\nstdout_logfile_backups=2\n",
        )
        out, code = ctl(d, "update")
        assert code == 0 and "applied stdout_logfile_maxbytes, stdout_logfile_backups" in out
        wait_until(lambda: (tmp_path / "ticker.log.1").exists(), what="the log rotated")
        assert d.info("ticker")["pid"] == pid
    finally:
        d.cleanup()
